/* jobs.h - a fixed set of threads running queued jobs (util).
 *
 * The report server's request threads only move bytes; anything that
 * waits on PostgreSQL runs here, so a slow query never holds up a health
 * check.  The queue is bounded: submitting to a full queue fails at once
 * (the caller answers "busy") rather than queueing without end.
 *
 * Thread safety: cs_jobs_submit may be called from any thread; jobs run on
 * the set's threads, in the order submitted, several at once.
 */
#ifndef CS_JOBS_H
#define CS_JOBS_H

typedef struct cs_jobs cs_jobs;

/* threads >= 1 threads and at most max_queued jobs waiting.  NULL on
 * failure (errno set). */
cs_jobs *cs_jobs_new(unsigned threads, unsigned max_queued);

/* Queues fn(arg).  0, -EBUSY when max_queued jobs already wait, -ENOMEM,
 * or -ESHUTDOWN once the set is being freed. */
int cs_jobs_submit(cs_jobs *j, void (*fn)(void *arg), void *arg);

/* Jobs waiting or running now. */
unsigned cs_jobs_pending(cs_jobs *j);

/* Runs every job already queued, then stops the threads; NULL allowed. */
void cs_jobs_free(cs_jobs *j);

#endif
