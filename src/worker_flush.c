/* worker_flush.c - the worker's flushes: a batch handed to the flusher
 * (flusher.h) while the next one fills, and the outcome applied.
 *
 * Pipelining.  When a flush is due, everything in memory (the batch's
 * aggregates, rejects, metric samples and customers, the offsets that
 * moved, the watermarks, the sealed fingerprints: flight.h) is moved into
 * a flight_job and handed to the flusher's thread, which writes it in one
 * transaction on its own connection; the worker's thread goes on reading
 * Kafka into fresh memory.  At most one job is in flight: the next flush
 * is handed over only after the outcome of the previous one is applied,
 * so offsets are stored in order and every compare-and-set sees the
 * expected offsets the previous flush left.
 *
 * Outcomes, applied on the worker's thread:
 *   stored       the ledger's expected offsets become the job's, its
 *                fingerprints stored ones (other workers' rows seen in the
 *                transaction are merged, taking events of the batch filled
 *                meanwhile back out of it), its customers remembered; the
 *                next batch is handed over if due, and only then are its
 *                rows added to the business metrics (cs__worker_flush_tell)
 *   fenced       the job and everything read since are dropped and the
 *                partitions restart from the stored offsets
 *   refused      the same, after the ledger is put back where the job
 *                ended, so that isolation bisects exactly the job's range
 *   unavailable  the job is kept and retried as it is before anything else
 *                is written; the worker stops reading meanwhile
 * While isolating refused data, flushes are synchronous (one batch at a
 * time), as are the flushes of a revocation and of shutdown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "flight.h"
#include "log.h"
#include "worker_internal.h"

/* Everything one flush writes, owned. */
typedef struct flight_job {
    cs_batch *batch;            /* events, rejects, samples, customers */
    cs_flight *flight;          /* the events' fingerprints; NULL with de-duplication off */
    cs_ledger_move *moves;      /* the offsets it stores */
    size_t nmoves;
    bool wm_all;                /* its watermarks name every metric partition */
    size_t pending;             /* messages folded in */
    uint64_t accepted;          /* events and samples accepted into it */
    int64_t oldest_ms;          /* Kafka timestamp of the oldest, 0 if none */
    const char *why;            /* a static string, for the log */
    /* what the store reads (pointing into the above) */
    cs_store_offset *offs;
    cs_store_watermark *wms;
    cs_store_dedup dedup;
    cs_store_batch b;
} flight_job;

#define FLUSH_COST_RATIO 1
#define FLUSH_BEHIND_MIN 4096 /* messages: a batch handed over early while behind */
#define STORED_CUSTOMERS_MAX 200000 /* remembered attributes; then start again */

static void job_free(cs_worker *w, flight_job *j)
{
    if (!j)
        return;
    if (j->batch) {
        cs_batch_clear(j->batch);
        if (!w->spare)
            w->spare = j->batch; /* its tables stay grown for the next batch */
        else
            cs_batch_free(j->batch);
    }
    cs_flight_free(j->flight);
    free(j->moves);
    free(j->offs);
    free(j->wms);
    free(j);
}

/* Flusher hooks (on the flusher's thread): the job's own copies only. */
static int job_seen(void *opaque, int64_t hour, const unsigned char *fps, size_t n, int64_t seq)
{
    flight_job *j = opaque;
    return cs_flight_seen(j->flight, j->batch, hour, fps, n, seq);
}

static int job_fresh(void *opaque, int64_t hour, const unsigned char **ret_fps, size_t *ret_n)
{
    cs_flight_fresh(((flight_job *)opaque)->flight, hour, ret_fps, ret_n);
    return 0;
}

/* A job's customers are stored: remember their attributes so that
 * unchanged ones are not written again. */
static void remember_stored_customers(cs_worker *w, const cs_batch *b)
{
    size_t n;
    const cs_batch_customer *c = cs_batch_customers(b, &n);
    if (w->stored_customers.n + n > STORED_CUSTOMERS_MAX)
        cs_strmap_clear(&w->stored_customers, free);
    for (size_t i = 0; i < n; i++) {
        const char *src[4] = {c[i].id, c[i].name, c[i].plan, c[i].cost_center};
        size_t len[4], total = 0;
        for (int k = 0; k < 4; k++)
            total += (len[k] = strlen(src[k]) + 1);
        customer_rec *r = malloc(sizeof(*r) + total);
        if (!r)
            return; /* only an optimisation: they are written again next time */
        char *p = r->text;
        const char **dst[4] = {&r->id, &r->name, &r->plan, &r->cost_center};
        for (int k = 0; k < 4; k++) {
            memcpy(p, src[k], len[k]);
            *dst[k] = p;
            p += len[k];
        }
        void **slot = cs_strmap_find(&w->stored_customers, r->id);
        if (slot) {
            free(*slot);
            *slot = r;
        } else if (cs_strmap_put(&w->stored_customers, r->id, r) < 0) {
            free(r);
        }
    }
}

/* Whether a flush has anything to write: offsets that moved, rows,
 * rejects, or a metric partition's first watermark. */
static bool flush_wanted(const cs_worker *w, size_t nmoves)
{
    bool wm_due = w->cfg->nmetric_topics > 0 && !w->wm_all_registered;
    for (size_t i = 0; i < w->ledger.n && !wm_due; i++) {
        const cs_ledger_part *p = &w->ledger.parts[i];
        wm_due = p->active && p->metric && !p->wm_registered;
    }
    size_t nrejects;
    cs_batch_rejects(w->batch, &nrejects);
    return nmoves || cs_agg_count(cs_batch_agg(w->batch)) || nrejects || wm_due;
}

/* The job's watermarks: every active metric partition's newest sample of
 * the batch, and until the group's are all registered, a NULL row for each
 * partition of the metric topics (the settlement waits for all of them).
 * 0 or -ENOMEM. */
static int job_watermarks(cs_worker *w, flight_job *j, size_t *ret_n)
{
    size_t nall = 0, k = 0;
    if (!w->wm_all_registered)
        for (size_t t = 0; t < w->cfg->nmetric_topics; t++)
            nall += (size_t)(w->metric_partitions[t] > 0 ? w->metric_partitions[t] : 0);
    if (!(j->wms = calloc(nall + w->ledger.n + 1, sizeof(*j->wms))))
        return -ENOMEM;
    if (!w->wm_all_registered) {
        bool known = true;
        for (size_t t = 0; t < w->cfg->nmetric_topics; t++) {
            known = known && w->metric_partitions[t] > 0;
            for (int p = 0; p < w->metric_partitions[t]; p++)
                j->wms[k++] = (cs_store_watermark){w->cfg->metric_topics[t], p, -1};
        }
        j->wm_all = known;
    }
    for (size_t i = 0; i < w->ledger.n; i++) {
        cs_ledger_part *p = &w->ledger.parts[i];
        if (p->active && p->metric && (!p->wm_registered || p->max_sample >= 0))
            j->wms[k++] = (cs_store_watermark){p->topic, p->partition, p->max_sample};
        p->max_sample = -1; /* the next batch's starts again */
    }
    *ret_n = k;
    return 0;
}

/* Allocates what the job's arrays need before anything moves into it. */
static flight_job *job_alloc(cs_worker *w)
{
    flight_job *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->moves = calloc(w->ledger.n + 1, sizeof(*j->moves));
    j->offs = calloc(w->ledger.n + 1, sizeof(*j->offs));
    if (!w->spare)
        w->spare = cs_batch_new();
    if (!j->moves || !j->offs || !w->spare ||
        (w->dedup && cs_flight_new(w->dedup, &j->flight) < 0)) {
        job_free(w, j);
        return NULL;
    }
    return j;
}

/* Moves the batch into j; the worker starts a fresh one. */
static void job_take(cs_worker *w, flight_job *j)
{
    j->batch = w->batch;
    w->batch = w->spare;
    w->spare = NULL;
    j->pending = w->pending;
    j->accepted = w->batch_accepted;
    j->oldest_ms = w->oldest_ms;
    w->pending = 0;
    w->batch_accepted = 0;
    w->oldest_ms = 0;
    w->batch_behind = false;
}

/* Builds the job of what is in memory: 0, 1 when there is nothing to
 * write, or -ENOMEM (memory unchanged). */
static int job_make(cs_worker *w, const char *why, flight_job **ret)
{
    *ret = NULL;
    if (!flush_wanted(w, cs_ledger_moved(&w->ledger, NULL)))
        return 1;
    flight_job *j = job_alloc(w);
    size_t nwms;
    if (!j || job_watermarks(w, j, &nwms) < 0) {
        job_free(w, j);
        return -ENOMEM;
    }
    j->why = why;
    j->nmoves = cs_ledger_moved(&w->ledger, j->moves);
    for (size_t i = 0; i < j->nmoves; i++)
        j->offs[i] = (cs_store_offset){j->moves[i].topic, j->moves[i].partition,
                                       j->moves[i].expected, j->moves[i].next};
    job_take(w, j);
    size_t nsamples, ncustomers, nrejects;
    const cs_batch_sample *samples = cs_batch_samples(j->batch, &nsamples);
    const cs_batch_customer *customers = cs_batch_customers(j->batch, &ncustomers);
    const cs_batch_reject *rejects = cs_batch_rejects(j->batch, &nrejects);
    if (j->flight)
        j->dedup = (cs_store_dedup){cs_flight_nhours(j->flight), cs_flight_hours(j->flight),
                                    cs_flight_known(j->flight), cs_flight_stored(j->flight),
                                    job_seen, job_fresh, j};
    j->b = (cs_store_batch){.group = w->cfg->group, .samples = samples, .nsamples = nsamples,
                            .watermarks = j->wms, .nwatermarks = nwms,
                            .customers = customers, .ncustomers = ncustomers,
                            .agg = cs_batch_agg(j->batch),
                            .dedup = j->dedup.nhours ? &j->dedup : NULL,
                            .rejects = rejects, .nrejects = nrejects, .offsets = j->offs,
                            .noffsets = j->nmoves};
    *ret = j;
    return 0;
}

/* Hands w->job to the flusher (again, after a failed attempt). */
static void job_submit(cs_worker *w)
{
    if (w->job->flight)
        cs_flight_attempt(w->job->flight);
    cs_flusher_submit(w->flusher, &w->job->b);
}

static void log_stored(const flight_job *j, int64_t usec)
{
    char rows[24], rej[24], ms[24], msgs[24];
    fmt_i64(rows, sizeof(rows), (int64_t)cs_agg_count(cs_batch_agg(j->batch)));
    fmt_i64(rej, sizeof(rej), (int64_t)j->b.nrejects);
    fmt_i64(ms, sizeof(ms), usec / 1000);
    fmt_i64(msgs, sizeof(msgs), (int64_t)j->pending);
    cs_log(CS_LOG_DEBUG, "flushed", "why", j->why, "rows", rows, "rejects", rej, "messages", msgs,
           "duration_ms", ms, NULL);
}

/* Tells Kafka's group coordinator the offsets just stored (for lag
 * tools; PostgreSQL's are the ones that count). */
static void commit_to_kafka(cs_worker *w, const flight_job *j)
{
    cs_tp *tps = calloc(j->nmoves + 1, sizeof(*tps));
    int64_t *next = calloc(j->nmoves + 1, sizeof(*next));
    for (size_t i = 0; i < j->nmoves && tps && next; i++) {
        tps[i] = (cs_tp){j->moves[i].topic, j->moves[i].partition};
        next[i] = j->moves[i].next;
    }
    if (tps && next)
        cs_consumer_commit_async(w->consumer, tps, next, j->nmoves);
    free(tps);
    free(next);
}

static void isolation_progress(cs_worker *w);

/* The job was stored.  0 or -ENOMEM. */
static int job_stored(cs_worker *w, flight_job *j, int64_t usec)
{
    if (j->flight && cs_flight_done(j->flight, w->dedup, w->batch) < 0)
        return -ENOMEM; /* the fingerprints' state is unknown: the worker stops */
    const cs_agg *agg = cs_batch_agg(j->batch);
    for (size_t i = 0; i < cs_agg_count(agg); i++)
        w->n.rows_written += cs_agg_row_at(agg, i)->events > 0;
    w->n.rejects_written += j->b.nrejects;
    cs_ledger_stored(&w->ledger, j->moves, j->nmoves);
    commit_to_kafka(w, j);
    log_stored(j, usec);
    w->n.flushes++;
    /* monotonic for Prometheus: what was stored, less the events another
     * worker had counted first (taken back in the flush) */
    w->n.duplicates += cs_batch_duplicates(j->batch);
    w->n.accepted += j->accepted - cs_batch_duplicates(j->batch);
    for (size_t i = 0; i < w->ledger.n; i++)
        if (w->ledger.parts[i].active && w->ledger.parts[i].metric)
            w->ledger.parts[i].wm_registered = true;
    w->wm_all_registered = w->wm_all_registered || j->wm_all;
    remember_stored_customers(w, j->batch);
    if (j->oldest_ms > 0)
        w->n.freshness_usec = now_usec() - j->oldest_ms * 1000;
    w->flush_every = FLUSH_COST_RATIO * usec;
    isolation_progress(w);
    return 0;
}

const char *cs__worker_store_cause(int code)
{
    switch (code) {
    case 0: return "ok";
    case -EACCES: return "PostgreSQL refused the credentials: fix `postgres` in the configuration";
    case -ENXIO: return "the database does not exist: create it, or fix `postgres` in the configuration";
    case -ENOENT: return "the database lacks costream's schema: run `costream migrate`";
    case -EINVAL: return "the `postgres` connection string is invalid";
    case -EBADMSG: return "PostgreSQL refused the data";
    default: return "PostgreSQL is unreachable";
    }
}

poison *cs__worker_find_poison(cs_worker *w, const char *topic, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < w->npoison; i++)
        if (w->poison[i].offset == offset && w->poison[i].partition == partition &&
            strcmp(w->poison[i].topic, topic) == 0)
            return &w->poison[i];
    return NULL;
}

/* The batch that failed held one message: p's last.  It becomes a
 * store_refused reject; if it already was one, it is dropped. */
static void mark_poison(cs_worker *w, cs_ledger_part *p, const char *err)
{
    int64_t off = p->next - 1;
    char o[24];
    fmt_i64(o, sizeof(o), off);
    poison *x = cs__worker_find_poison(w, p->topic, p->partition, off);
    if (x) {
        x->drop = true;
        cs_log(CS_LOG_ERROR, "PostgreSQL refused even the reject of a message; only its offset"
               " will be stored", "topic", p->topic, "offset", o, "error", err, NULL);
        return;
    }
    if (cs_array_reserve(&w->poison, &w->cappoison, w->npoison + 1, sizeof(*w->poison)) < 0 ||
        !(w->poison[w->npoison].topic = strdup(p->topic)))
        return; /* out of memory: the isolation simply runs again */
    x = &w->poison[w->npoison++];
    x->partition = p->partition;
    x->offset = off;
    x->drop = false;
    cs_utf8_escape(x->detail, sizeof(x->detail), err, strlen(err), NULL);
    for (char *c = x->detail; *c; c++)
        *c = *c == '\n' ? ' ' : *c; /* one line: PostgreSQL's DETAIL follows its message */
    cs_log(CS_LOG_WARN, "PostgreSQL refused one message's data; it will be stored as a reject",
           "topic", p->topic, "offset", o, "error", err, NULL);
}

/* PostgreSQL refused a batch of `messages` on its data, which retrying
 * cannot fix; the ledger's next offsets are where that batch ended.  The
 * batch is replayed from the stored offsets in halves (bisection) until
 * the refused message is alone in a batch; that one becomes a
 * store_refused reject and everything else is stored as usual.  Offsets
 * and fencing work as for any replay, so exactly-once holds. */
static void isolate(cs_worker *w, size_t messages, const char *err)
{
    char n[24];
    w->n.isolations++;
    fmt_i64(n, sizeof(n), (int64_t)messages);
    cs_ledger_part *last = cs_ledger_isolate(&w->ledger);
    if (messages <= 1 && last) {
        mark_poison(w, last, err);
    } else {
        w->isolate = messages > 1 ? messages / 2 : 1;
        char lim[24];
        fmt_i64(lim, sizeof(lim), (int64_t)w->isolate);
        cs_log(CS_LOG_WARN, "PostgreSQL refused a batch's data; replaying it in smaller batches",
               "messages", n, "batch_limit", lim, "error", err, NULL);
    }
    cs__worker_discard(w);
    if (!w->revoking)
        cs_consumer_reassign(w->consumer);
}

/* After a stored flush: leaves isolation once every partition is past
 * the range that was refused, and forgets poison already stored. */
static void isolation_progress(cs_worker *w)
{
    if (cs_ledger_isolation_done(&w->ledger) && w->isolate) {
        w->isolate = 0;
        cs_log(CS_LOG_INFO, "isolation finished; back to full batches", NULL);
    }
    for (size_t i = 0; i < w->npoison;) {
        cs_ledger_part *p = cs_ledger_find(&w->ledger, w->poison[i].topic, w->poison[i].partition);
        if (p && p->expected > w->poison[i].offset) {
            free(w->poison[i].topic);
            w->poison[i] = w->poison[--w->npoison];
        } else {
            i++;
        }
    }
}

void cs__worker_flush_tell(cs_worker *w)
{
    if (!w->told)
        return;
    cs_telemetry_rows(w->tm, cs_batch_agg(w->told->batch));
    job_free(w, w->told);
    w->told = NULL;
}

/* Applies the outcome of w->job's flush (see the top of the file). */
static int job_end(cs_worker *w, const cs_flush_outcome *o)
{
    flight_job *j = w->job;
    int r = o->r;
    cs__worker_flush_tell(w);
    cs_telemetry_flush(w->tm, r == 0 ? CS_FLUSH_OK : r == -ESTALE ? CS_FLUSH_FENCED : CS_FLUSH_ERROR,
                       o->usec, NULL);
    store_state(w, r == 0 || r == -ESTALE || r == -EBADMSG ? 0 : r, o->err);
    if (r == 0) {
        r = job_stored(w, j, o->usec);
        w->job = NULL;
        w->told = j; /* its rows counted once the next batch is handed over */
    } else if (r == -ESTALE) {
        w->n.fenced++;
        cs_log(CS_LOG_WARN, "flush fenced: discarding unflushed work and resuming from the store",
               "error", o->err, NULL);
        cs__worker_discard(w);
        if (!w->revoking) /* restart from the store, unless they are leaving us */
            cs_consumer_reassign(w->consumer);
    } else if (r == -EBADMSG) {
        /* the refused range is the job's: what was read since is dropped */
        cs_ledger_rewind_to(&w->ledger, j->moves, j->nmoves);
        size_t messages = j->pending;
        isolate(w, messages, o->err);
    } else {
        w->n.store_errors++;
        cs_log(CS_LOG_ERROR, "flush failed; will retry", "error", o->err, "cause",
               cs__worker_store_cause(r), NULL);
    }
    return r;
}

/* Waits for the job in flight, if any, and applies its outcome. */
static int job_wait(cs_worker *w)
{
    cs_flush_outcome o;
    if (!w->job || !cs_flusher_busy(w->flusher))
        return 0;
    busy(w, "writing a batch to PostgreSQL");
    cs_flusher_wait(w->flusher, &o);
    return job_end(w, &o);
}

/* The job in flight or kept, written: waited for, or submitted again. */
static int job_finish(cs_worker *w)
{
    if (!w->job)
        return 0;
    if (!cs_flusher_busy(w->flusher))
        job_submit(w);
    return job_wait(w);
}

/* How long to fold messages in before the next flush is handed over. */
static int64_t flush_interval(const cs_worker *w)
{
    int64_t lo = (int64_t)w->cfg->flush_interval_ms * 1000;
    if (w->caught_up)
        return lo; /* waiting longer would fold nothing more in */
    int64_t hi = (int64_t)w->cfg->flush_max_interval_ms * 1000;
    int64_t want = w->flush_every;
    if (want > hi)
        want = hi;
    return want > lo ? want : lo;
}

const char *cs__worker_flush_due(const cs_worker *w, bool full)
{
    if (full)
        return "size";
    if (mono_usec() - w->last_flush >= flush_interval(w))
        return "interval";
    /* a backlog in hand with the flusher idle: waiting out the interval
     * would leave PostgreSQL idle while the backlog is read, and fold
     * nothing more into its tail once the worker has caught up */
    if (!w->job && !w->isolate && w->batch_behind && w->pending >= FLUSH_BEHIND_MIN)
        return "behind";
    return NULL;
}

int cs__worker_flush_start(cs_worker *w, const char *why)
{
    flight_job *j;
    int r = job_make(w, why, &j);
    w->last_flush = mono_usec();
    if (r != 0)
        return r > 0 ? 0 : r;
    w->job = j;
    job_submit(w);
    return 0;
}

int cs__worker_flush(cs_worker *w, const char *why)
{
    int r = job_finish(w);
    if (r == 0 && (r = cs__worker_flush_start(w, why)) == 0)
        r = job_finish(w);
    return r;
}

int cs__worker_flush_wait(cs_worker *w)
{
    return w->job && cs_flusher_busy(w->flusher) ? job_wait(w) : 1;
}

int cs__worker_flush_poll(cs_worker *w)
{
    cs_flush_outcome o;
    if (!w->job || cs_flusher_poll(w->flusher, &o) == 0)
        return 1;
    return job_end(w, &o);
}

void cs__worker_discard(cs_worker *w)
{
    job_wait(w); /* a job in flight may be stored yet: its outcome first */
    if (w->job) {
        job_free(w, w->job);
        w->job = NULL;
    }
    cs__worker_inbox_clear(w);
    cs_batch_clear(w->batch); /* events, rejects, samples, customers */
    for (size_t i = 0; i < w->ledger.n; i++)
        w->ledger.parts[i].max_sample = -1;
    if (w->dedup)
        cs_dedup_discard(w->dedup); /* pending and sealed alike */
    w->pending = 0;
    w->batch_accepted = 0;
    cs_ledger_rewind(&w->ledger);
    w->oldest_ms = 0;
    w->batch_behind = false;
}

void cs__worker_flush_free(cs_worker *w)
{
    cs_flush_outcome o;
    if (w->flusher)
        cs_flusher_wait(w->flusher, &o); /* its outcome no longer matters */
    cs_flusher_free(w->flusher);
    w->flusher = NULL;
    job_free(w, w->told); /* the metrics are gone: nothing to tell */
    w->told = NULL;
    job_free(w, w->job);
    w->job = NULL;
    cs_batch_free(w->spare);
    w->spare = NULL;
}
