/* store.h - the PostgreSQL store (adapter over libpq).
 *
 * One flush is one transaction: the aggregated cost rows (additive upserts),
 * the rejected events, the ids of the events counted (so that a duplicate is
 * never counted twice), and the next offset of every partition the batch
 * consumed.  Offsets advance only by compare-and-set on the value the worker
 * last read or wrote, so a worker whose partitions were given to another
 * (a stale, fenced worker) cannot commit: its flush fails with -ESTALE and
 * changes nothing.  Either everything in a batch is stored or nothing is,
 * which together with resuming from the stored offsets gives exactly-once
 * aggregation.  Not thread-safe: one connection per worker.
 */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "batch.h"

typedef struct cs_store cs_store;

typedef struct cs_store_offset {
    const char *topic;
    int32_t partition;
    int64_t expected; /* value stored now, or -1 if no row exists yet */
    int64_t next;     /* value to store */
} cs_store_offset;

typedef cs_batch_reject cs_store_reject; /* batch.h */

/* De-duplication in the flush (dedup.h, sql/0005), for the event hours
 * with new fingerprints (ascending).  Before the aggregates are written,
 * the flush hands seen() every row other workers stored after seen_seq[i]
 * (the callee takes the batch's duplicates out of the aggregates).  At the
 * end it takes the group's advisory lock of each hour, hands seen() the
 * rows stored since; if seen() found one of the batch's events among those,
 * the transaction is redone (the aggregates it wrote counted that event);
 * otherwise it stores the fingerprints fresh() returns as one row per
 * hour, whose sequence number goes to ret_seq[i] (valid once the flush
 * succeeds).  Both callbacks run inside the transaction and run again for
 * the same batch when an attempt fails; they must be idempotent.  seen()
 * returns how many of the batch's events it found and took out now (0 for
 * rows only merged), or -ENOMEM; fresh() 0 or -ENOMEM. */
typedef struct cs_store_dedup {
    size_t nhours;
    const int64_t *hours;    /* ascending, µs since the epoch */
    const int64_t *seen_seq; /* rows up to these are known */
    int64_t *ret_seq;
    int (*seen)(void *opaque, int64_t hour, const unsigned char *fps, size_t n, int64_t seq);
    int (*fresh)(void *opaque, int64_t hour, const unsigned char **ret_fps, size_t *ret_n);
    void *opaque;
} cs_store_dedup;

typedef cs_batch_customer cs_store_customer; /* batch.h */

typedef cs_batch_sample cs_store_sample; /* batch.h */

/* Newest sample time of a metric partition (-1: assigned, none seen yet). */
typedef struct cs_store_watermark {
    const char *topic;
    int32_t partition;
    int64_t max_usec;
} cs_store_watermark;

typedef struct cs_store_batch {
    const char *group;
    const cs_store_sample *samples;
    size_t nsamples;
    const cs_store_watermark *watermarks;
    size_t nwatermarks;
    const cs_store_customer *customers; /* attributes seen in this batch */
    size_t ncustomers;
    const cs_agg *agg;  /* rows with events == 0 are skipped */
    const cs_store_dedup *dedup; /* NULL: de-duplication off */
    const cs_store_reject *rejects;
    size_t nrejects;
    const cs_store_offset *offsets;
    size_t noffsets;
} cs_store_batch;

/* Creates a store for conninfo (a libpq connection string or URI).  Does not
 * connect yet.  NULL on allocation failure. */
cs_store *cs_store_new(const char *conninfo);
void cs_store_free(cs_store *s); /* NULL allowed; closes the connection */

/* Runs sql (session settings, e.g. "SET statement_timeout = 1000") after
 * every (re)connect.  NULL: nothing.  0 or -ENOMEM. */
int cs_store_on_connect(cs_store *s, const char *sql);

/* (Re)connects if needed.  0, or an error class above with the reason in
 * err (-EACCES, -ENXIO, -ENOENT and -EINVAL are permanent). */
int cs_store_connect(cs_store *s, char *err, size_t errsize);

/* Checks that every embedded migration is recorded in schema_migrations.
 * 0; -ENOENT (err says which are missing: run `costream migrate`); or an
 * error class above. */
int cs_store_check_schema(cs_store *s, char *err, size_t errsize);

/* Applies the embedded migrations not yet recorded in schema_migrations,
 * each in its own transaction under an advisory lock, so concurrent or
 * repeated runs are harmless.  *ret_applied counts the new ones. */
int cs_store_migrate(cs_store *s, unsigned *ret_applied, char *err, size_t errsize);

/* Reads the stored next offsets of partitions[0..n) of topic for group into
 * ret_offsets (-1 where none is stored).  0 or -EIO. */
int cs_store_load_offsets(cs_store *s, const char *group, const char *topic,
                          const int32_t *partitions, size_t n, int64_t *ret_offsets, char *err,
                          size_t errsize);

/* Error classes.  Every function here that talks to PostgreSQL returns,
 * on failure, one of:
 *   -EIO      unavailable (connection, shutdown, resources, deadlock): retry
 *   -EACCES   authentication or privileges refused: fix the configuration
 *   -ENXIO    the database does not exist
 *   -ENOENT   a table or function is missing: run `costream migrate`
 *   -EINVAL   the connection string itself is invalid
 *   -EBADMSG  the data was refused (SQLSTATE classes 22, 23, 54, ...):
 *             retrying the same data fails the same way
 * with err naming the SQLSTATE when the server gave one.
 * cs_store_classify() maps a SQLSTATE to that class. */
int cs_store_classify(const char *sqlstate);

/* The SQLSTATE of the last failure ("" when the server gave none). */
const char *cs_store_sqlstate(const cs_store *s);

/* Writes batch in one transaction.  Returns 0; -ESTALE if an offset was not
 * at its expected value (nothing written; err names the partition); or an
 * error class above (nothing written).  Text that is not valid UTF-8 is
 * stored escaped (utf8.h), never refused. */
int cs_store_flush(cs_store *s, const cs_store_batch *batch, char *err, size_t errsize);

/* Calls row(opaque, customer, currency, cost) for the month-to-date billed
 * cost of every customer (UTC calendar month of now), cost as exact decimal
 * text.  0 or -EIO. */
int cs_store_month_to_date(cs_store *s,
                           void (*row)(void *opaque, const char *customer, const char *currency,
                                       const char *cost),
                           void *opaque, char *err, size_t errsize);

/* Calls row(opaque, customer, currency, amount) with the infrastructure
 * spend allocated to each customer over every period, corrections
 * included (spend_allocations, docs/spend.md).  0 or -EIO. */
int cs_store_spend_totals(cs_store *s,
                          void (*row)(void *opaque, const char *customer, const char *currency,
                                      const char *cost),
                          void *opaque, char *err, size_t errsize);

/* Calls row(opaque, customer) for the limit customers with the largest
 * month-to-date cost, largest first.  0 or -EIO. */
int cs_store_top_customers(cs_store *s, int limit, void (*row)(void *opaque, const char *customer),
                           void *opaque, char *err, size_t errsize);

/* Successful connections after the first (reconnects). */
unsigned long cs_store_reconnects(const cs_store *s);

typedef struct cs_settle_options {
    int64_t lateness_usec;  /* settle samples older than the watermark minus this */
    int64_t idle_usec;      /* partitions not advanced for this long do not hold it back */
    int64_t evict_usec;     /* gauges without samples for this long are forgotten */
    int64_t counter_retention_usec; /* counters: kept this long, to charge across gaps */
    uint64_t max_samples;   /* blocks read per settlement: about this many samples (0: all) */
} cs_settle_options;

/* Settlement shards: shard = first byte of the series id % 16 (fixed by
 * sql/0006_metric_settlement.sql's indexes). */
#define CS_STORE_SETTLE_SHARDS 16

typedef struct cs_settle_result {
    int settled;              /* 0: nothing to do (lock held elsewhere, no watermark) */
    int64_t watermark_usec;
    uint64_t samples;
    uint64_t outcomes[8];     /* by cs_series_outcome */
    uint64_t evicted_gauges, evicted_counters;
} cs_settle_result;

/* Settles one shard's pending metric samples below the group's watermark
 * in one transaction (see sql/0006_metric_settlement.sql): per series in
 * timestamp order, through the series state (cs_series_settle), into
 * usage_cost.  The cost rows written are also added to agg (for metrics;
 * the caller clears it).  One worker settles a shard at a time (advisory
 * lock per shard); the others return with settled = 0 and go on to other
 * shards, so workers settle in parallel.  0, -EINVAL (no such shard) or an
 * error class. */
int cs_store_settle(cs_store *s, const char *group, const cs_settle_options *o, int shard,
                    cs_agg *agg, cs_settle_result *ret, char *err, size_t errsize);

/* Calls seen(opaque, fps, n, seq) for every fingerprint row of the group
 * and event hour (CS_DEDUP_ANY_HOUR: those converted from before hours
 * were kept) with seq > after, in seq order; *ret_seq is the last seq
 * (after when none).  No lock: the flush reads what came later.  0 or an
 * error class. */
int cs_store_dedup_load(cs_store *s, const char *group, int64_t hour, int64_t after,
                        int (*seen)(void *opaque, const unsigned char *fps, size_t n, int64_t seq),
                        void *opaque, int64_t *ret_seq, char *err, size_t errsize);

/* cs_store_dedup_load() for several hours in one statement: calls
 * d->seen(opaque, hour, ...) for every row of each d->hours[i] with seq >
 * d->seen_seq[i], in seq order; d->ret_seq[i] becomes the last seq read
 * (seen_seq[i] when none).  d->fresh is not used.  No lock.  0 or an error
 * class. */
int cs_store_dedup_load_many(cs_store *s, const char *group, const cs_store_dedup *d, char *err,
                             size_t errsize);

/* Folds the changes appended to usage_rollup_delta into usage_period and
 * usage_hour (sql/0019_usage_rollups.sql) in its own transaction; skips
 * (0, *ret_rows 0) while another process does.  *ret_rows counts the
 * appended rows folded.  0 or an error class. */
int cs_store_rollup_compact(cs_store *s, long *ret_rows, char *err, size_t errsize);

/* Deletes the group's fingerprint rows stored more than window_hours ago,
 * in its own transaction.  *ret_deleted counts the rows. */
int cs_store_dedup_prune(cs_store *s, const char *group, int window_hours, long *ret_deleted,
                         char *err, size_t errsize);

#endif
