/* ledger.h - the per-partition offset bookkeeping of exactly-once (pure).
 *
 * For every partition a worker has been assigned the ledger keeps two
 * offsets:
 *
 *   expected  the next offset stored in PostgreSQL (CS_LEDGER_NONE: no row)
 *   next      the offset after the last message folded into memory
 *
 * A message is folded in only at or after `next`; a flush stores every
 * partition whose `next` moved, by compare-and-set on `expected`
 * (cs_ledger_moved), and on success `expected` becomes `next`
 * (cs_ledger_stored).  When the store refuses the batch (fenced, or its data
 * refused) the memory is dropped and every `next` goes back to `expected`
 * (cs_ledger_rewind), so the same messages are folded in again from the
 * store's offsets: nothing is lost and nothing is counted twice.  While a
 * refused range is replayed in smaller batches (isolation), each partition
 * remembers where that range ends.
 *
 * With a flush in flight (worker_flush.c) `next` runs ahead of the moves
 * handed to it; those moves, not the ledger, say what that flush stores,
 * and only one flush is in flight, so `expected` is always the offset the
 * next flush's compare-and-set starts from.
 *
 * The struct is public and zero-initialised; partitions are never removed
 * (a revoked one is inactive), so pointers stay valid until the next
 * cs_ledger_add.  Not thread-safe: the worker's thread only.
 */
#ifndef CS_LEDGER_H
#define CS_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_LEDGER_NONE INT64_C(-1) /* no stored offset yet */

typedef struct cs_ledger_part {
    char *topic;
    int32_t partition;
    int64_t expected;      /* stored next offset, or CS_LEDGER_NONE */
    int64_t next;          /* after the last message folded in, or CS_LEDGER_NONE */
    bool active;           /* assigned to this worker now */
    bool metric;           /* a metric-sample topic */
    bool wm_registered;    /* its watermark row exists */
    int64_t max_sample;    /* newest sample time in this batch, or -1 */
    int64_t newest_sample; /* newest sample time since assignment, or -1 */
    int64_t isolate_until; /* replaying in small batches up to here, or -1 */
} cs_ledger_part;

typedef struct cs_ledger {
    cs_ledger_part *parts;
    size_t n, cap;
} cs_ledger; /* zero-initialise */

/* An offset a flush must store: partition moved from expected to next. */
typedef struct cs_ledger_move {
    const char *topic; /* the ledger's copy */
    int32_t partition;
    int64_t expected, next;
} cs_ledger_move;

void cs_ledger_free(cs_ledger *l); /* the parts; l itself is the caller's */

/* Notes a metric sample of time_usec read from p: raises the batch's and
 * the assignment's newest sample times.  Returns true when the sample is
 * older than the newest one already read from p by more than lateness_usec:
 * the producer does not write p in time order, so the group's watermark
 * (docs/metric-streams.md) may already be past it. */
bool cs_ledger_sample(cs_ledger_part *p, int64_t time_usec, int64_t lateness_usec);

cs_ledger_part *cs_ledger_find(cs_ledger *l, const char *topic, int32_t partition);

/* The partition's entry, added (inactive, offsets unknown) if new.  NULL on
 * allocation failure.  May move the array: earlier pointers are invalid. */
cs_ledger_part *cs_ledger_add(cs_ledger *l, const char *topic, int32_t partition, bool metric);

/* Assigned now, starting at the stored offset (or CS_LEDGER_NONE). */
void cs_ledger_assign(cs_ledger_part *p, int64_t stored);

/* Every partition inactive (before an assignment, after a revocation). */
void cs_ledger_deactivate(cs_ledger *l);

/* Whether the message at offset is to be folded in: the partition is ours
 * and the offset not folded in yet. */
bool cs_ledger_wants(const cs_ledger_part *p, int64_t offset);

/* The message at offset was folded in.  Returns the first offset skipped
 * before it (messages Kafka no longer has), or -1 when none was. */
int64_t cs_ledger_advance(cs_ledger_part *p, int64_t offset);

/* Fills ret (room for l->n entries; NULL: only counts) with the active
 * partitions whose next moved; returns how many. */
size_t cs_ledger_moved(const cs_ledger *l, cs_ledger_move *ret);

/* The flush stored moves[0..n): expected becomes next for each. */
void cs_ledger_stored(cs_ledger *l, const cs_ledger_move *moves, size_t n);

/* Everything in memory was dropped: next goes back to expected. */
void cs_ledger_rewind(cs_ledger *l);

/* What was folded in after the flush of moves[0..n) was handed over is
 * dropped: next goes back to expected, or for the flush's partitions (still
 * at the expected offset it started from) to where the flush ended.  Used
 * before cs_ledger_isolate when the flush in flight was refused while the
 * next batch filled. */
void cs_ledger_rewind_to(cs_ledger *l, const cs_ledger_move *moves, size_t n);

/* The store refused the batch's data: every moved partition is replayed in
 * small batches up to where it had got.  Returns the last moved partition
 * (the one holding the message when the batch had one), or NULL. */
cs_ledger_part *cs_ledger_isolate(cs_ledger *l);

/* After a stored flush: drops the isolation bounds that are passed (or of
 * partitions no longer ours).  True when none is left. */
bool cs_ledger_isolation_done(cs_ledger *l);

#endif
