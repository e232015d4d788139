/* worker_internal.h - the worker's state, shared by worker.c (the loop:
 * reading, pricing, periodic tasks) and worker_flush.c (handing batches to
 * the flusher and applying their outcome, isolation of refused data).
 *
 * Threads: everything here belongs to the worker's thread, except the st_*
 * fields (read by the HTTP thread under st_lock or atomically), beat and
 * doing (read by the watchdog), and the batch in flight (w->job), which
 * belongs to the flusher's thread from its submission until its outcome is
 * taken (flusher.h).
 */
#ifndef CS_WORKER_INTERNAL_H
#define CS_WORKER_INTERNAL_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agg.h"
#include "batch.h"
#include "config.h"
#include "consumer.h"
#include "dedup.h"
#include "event.h"
#include "flusher.h"
#include "http.h"
#include "labels.h"
#include "ledger.h"
#include "rules.h"
#include "sample.h"
#include "series.h"
#include "store.h"
#include "strmap.h"
#include "telemetry.h"
#include "timestamp.h"
#include "utf8.h"
#include "worker.h"

/* A message whose data PostgreSQL refused on its own (found by isolation):
 * it is stored as a store_refused reject when it comes again; if even that
 * is refused, only its offset is stored (dropped, counted, logged). */
typedef struct poison {
    char *topic;
    int32_t partition;
    int64_t offset;
    bool drop;
    char detail[CS_EVENT_DETAIL];
} poison;


/* A customer's attributes as last stored (compact: a cs_customer is 2.4 KB
 * of fixed arrays), in one allocation. */
typedef struct customer_rec {
    const char *id, *name, *plan, *cost_center;
    char text[]; /* the four strings */
} customer_rec;

#define INBOX_MAX 256 /* messages taken from Kafka at a time */

/* When the periodic tasks are next due (monotonic µs). */
typedef struct schedule {
    int64_t next_publish, next_lag, next_mtd, next_settle, next_prune, last_progress;
    int64_t next_forget; /* stored customer attributes are written again */
    int64_t next_spend;  /* the open months' infrastructure spend is allocated again */
    int64_t next_rollup; /* the rollups' appended changes are folded in */
} schedule;

typedef struct cs_worker {
    const cs_config *cfg;
    cs_rules *rules;
    cs_labels *labels;
    cs_store *store;
    cs_consumer *consumer;
    cs_batch *batch;  /* the usage events of the next flush, aggregated */
    cs_batch *spare;  /* an emptied batch, kept for the one after (its tables stay grown) */
    cs_flusher *flusher; /* writes a batch while the next one fills (worker_flush.c) */
    struct flight_job *job; /* the batch in flight, or kept to retry; NULL: none */
    struct flight_job *told; /* stored, its rows not yet in the metrics (cs__worker_flush_tell) */
    cs_ledger ledger; /* offsets of every partition ever assigned */
    cs_dedup *dedup;     /* fingerprints of counted events, by event hour */
    cs_strmap stored_customers; /* id → customer_rec *, attributes as last stored */
    cs_agg *settled; /* cost rows of the last settlement, for metrics */
    int metric_partitions[CS_CONFIG_MAX_LIST]; /* per metric topic; 0 = unknown yet */
    bool wm_all_registered; /* every metric partition has a watermark row */
    cs_sample sample;
    /* the loop's state (worker_step) */
    /* messages taken from Kafka and not folded in yet, in order; the one at
     * inbox_head may be waiting for Redis or PostgreSQL (waiting) */
    cs_message *inbox;
    size_t inbox_head, inbox_n;
    bool waiting;
    bool caught_up;      /* the last poll found no message: nothing more to fold in */
    bool batch_behind;   /* an inbox of this batch came back full: it holds a backlog */
    uint64_t announced;  /* messages consumed when "caught up" was last logged */
    int64_t announced_at; /* when (monotonic µs); at most once a minute */
    bool prefetch;       /* look the next messages' customers up in one go */
    uint64_t misses_seen; /* label cache misses when the inbox was last filled */
    uint64_t hour_loads, hour_loads_seen; /* fingerprint hours read one by one */
    bool store_failing;  /* the last flush found PostgreSQL unavailable */
    int64_t retry_at, backoff;
    schedule sch;        /* when the periodic tasks are next due */
    poison *poison;
    size_t npoison, cappoison;
    size_t isolate; /* while isolating: messages per batch at most; 0 = off */
    size_t pending; /* messages folded in since the last flush */
    uint64_t batch_accepted; /* events and samples of the batch, counted when it is stored */
    bool revoking;  /* inside on_revoke: the partitions are going anyway */
    int64_t last_flush;
    int64_t flush_every;     /* current flush interval (µs): grows with the flush's cost */
    int64_t oldest_ms;       /* Kafka timestamp of the batch's oldest message, 0 if none */
    int64_t ooo_warned_usec; /* last out-of-order warning (monotonic µs), 0 never */
    unsigned settle_round;   /* rotates the first shard this worker tries */
    cs_worker_counters n;
    cs_telemetry *tm;
    cs_http *http;
    /* read by the HTTP thread for /readyz: 0 or the error class of the
     * last attempt (store.h), with the message under st_lock */
    atomic_int st_assigned, st_store, st_redis;
    pthread_mutex_t st_lock;
    char st_store_err[256], st_redis_err[256];
    char st_lost[256];   /* the last loss of input, for /readyz */
    int64_t st_lost_at;  /* when (monotonic µs), 0 for never */
    /* the loop's heartbeat (monotonic µs) and what it is doing, for the
     * watchdog thread and /readyz when a call does not return */
    _Atomic int64_t beat;
    _Atomic(const char *) doing;
    atomic_int wd_stop;
    pthread_t watchdog;
    bool watchdog_started;
    cs_event ev;
} cs_worker;

static inline int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CS_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static inline int64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CS_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static inline void fmt_i64(char *buf, size_t size, int64_t v)
{
    snprintf(buf, size, "#%" PRId64, v);
}

/* Records a backend's state for /readyz: 0 (fine) or an error class of
 * store.h with its message. */
static inline void set_state(cs_worker *w, atomic_int *st, char *buf, int code, const char *msg)
{
    if (code && msg) {
        pthread_mutex_lock(&w->st_lock);
        cs_utf8_escape(buf, 256, msg, strlen(msg), NULL);
        pthread_mutex_unlock(&w->st_lock);
    }
    atomic_store(st, code);
}

#define store_state(w, code, msg) set_state(w, &(w)->st_store, (w)->st_store_err, code, msg)
#define redis_state(w, code, msg) set_state(w, &(w)->st_redis, (w)->st_redis_err, code, msg)

#define BLOCKED_USEC (10 * CS_USEC_PER_SEC) /* one call this long: not ready */

/* Marks the loop alive and says what it does next (a static string). */
static inline void busy(cs_worker *w, const char *what)
{
    atomic_store(&w->beat, mono_usec());
    atomic_store(&w->doing, what);
}


/* worker_flush.c */

/* Writes everything in memory: first the batch in flight or kept (waited
 * for, or retried), then the rest.  0, -ESTALE (fenced: memory discarded and
 * the partitions restarted from the store), -EBADMSG (the data was refused:
 * memory discarded, isolation started), -ENOMEM, or another error class of
 * store.h (memory kept: retry). */
int cs__worker_flush(cs_worker *w, const char *why);

/* Hands what is in memory to the flusher and returns at once (0, or
 * -ENOMEM); nothing is handed when nothing moved.  No batch may be in
 * flight or kept. */
int cs__worker_flush_start(cs_worker *w, const char *why);

/* When the batch in flight is over, applies its outcome (as
 * cs__worker_flush); 1 while it runs or when none is in flight. */
int cs__worker_flush_poll(cs_worker *w);

/* Adds the rows of the batch stored last to the business metrics, if they
 * are not yet: left for after the next batch is handed over, so that the
 * flusher does not wait on them.  Every outcome applied calls it first. */
void cs__worker_flush_tell(cs_worker *w);

/* Waits for the batch in flight, if any, and applies its outcome (as
 * cs__worker_flush; 1 when none was in flight). */
int cs__worker_flush_wait(cs_worker *w);

/* Why the next batch is due to be handed over, NULL if it is not: "size"
 * (full, the caller's judgement), "interval" (as long as the last flush
 * took, from flush.interval_ms to flush.max_interval_ms; the least once
 * caught up), or "behind" (not isolating, an inbox of this batch came back
 * full: it holds a backlog; the flusher is idle and a few thousand messages
 * are in hand).  A static string. */
const char *cs__worker_flush_due(const cs_worker *w, bool full);

/* Forgets everything not yet stored (the batch in flight is waited for
 * and its outcome applied first), and rewinds every partition to its
 * stored offset. */
void cs__worker_discard(cs_worker *w);

/* Frees what the flush side holds (a kept batch, the spare, the flusher);
 * for worker_free. */
void cs__worker_flush_free(cs_worker *w);

/* The poison entry of a message, or NULL. */
poison *cs__worker_find_poison(cs_worker *w, const char *topic, int32_t partition,
                               int64_t offset);

/* What a store error class means, for logs and /readyz. */
const char *cs__worker_store_cause(int code);

/* worker.c */

/* Forgets the messages taken from Kafka but not folded in. */
void cs__worker_inbox_clear(cs_worker *w);

#endif
