/* loadgen.h - realistic usage traffic for any Kafka (`costream-loadgen`).
 *
 * Customers cus_00001.. spread over the plan tiers (about 60 % free, 30 %
 * pro, 10 % enterprise) use the four products of rules/example.json.  Events
 * carry the customer as subject or only labels (api_key, namespace,
 * sandbox_id) that Redis maps to it; a share can be unattributed (labels
 * nobody maps), malformed (one of several specific defects), or sent again
 * (a duplicate with the same CloudEvents id, as a producer retry would).  Quantities
 * are written as decimal text or JSON numbers, never computed in floating
 * point.  The generator can write the Redis commands that define its
 * customers and labels, and the exact totals of what it produced.
 */
#ifndef CS_LOADGEN_H
#define CS_LOADGEN_H

#include <signal.h>
#include <stdint.h>

#include "config.h"

/* Where a run stands: events of opts.count produced so far (duplicates and
 * malformed ones on top / among them), and for how long. */
typedef struct cs_loadgen_progress {
    uint64_t done, total, duplicates, malformed;
    int64_t elapsed_usec;
    int finished;
} cs_loadgen_progress;

typedef struct cs_loadgen_opts {
    const char *brokers;
    const char *topic;
    uint64_t count;          /* events to produce */
    uint64_t rate;           /* per second; 0 = as fast as possible */
    unsigned customers;
    int msgpack;             /* 1 = MessagePack, 0 = JSON */
    unsigned malformed_pm;   /* per mille of malformed messages */
    unsigned unattributed_pm;/* per mille of events nobody can attribute */
    unsigned duplicate_pm;   /* per mille of valid events sent a second time */
    uint64_t seed;
    int64_t start_usec;      /* event times in [start, start + span) */
    int64_t span_usec;
    const char *totals_path; /* NULL: do not write */
    const char *redis_path;  /* NULL: do not write */
    const cs_config *kafka;  /* kafka.* passthrough, may be NULL */
    /* infrastructure metric samples (when metrics_topic is set) */
    const char *metrics_topic;
    unsigned metric_pods;        /* sandbox and pipeline pods, one customer each */
    unsigned metric_interval_s;  /* scrape interval */
    int64_t metric_start_usec;   /* samples in [start, end) */
    int64_t metric_end_usec;
    /* called about every quarter second while producing events, and once at
     * the end (done == total, or fewer when stopped); may be NULL */
    void (*progress)(void *opaque, const cs_loadgen_progress *p);
    void *progress_opaque;
} cs_loadgen_opts;

/* Writes the Redis commands (one per line, for `redis-cli`) that define the
 * customers of opts.  0 or -errno. */
int cs_loadgen_write_redis(const cs_loadgen_opts *opts, const char *path);

/* Produces container metrics (CPU and egress counters, memory and storage
 * gauges) for opts->metric_pods pods, every metric_interval_s, in time
 * order, as prometheus-kafka-adapter JSON on unkeyed random partitions;
 * then one sample of an unpriced metric at metric_end_usec on every
 * partition, so that the settlement watermark passes all of them. */
int cs_loadgen_metrics(const cs_loadgen_opts *opts, volatile sig_atomic_t *stop, char *err,
                       size_t errsize);

/* Produces opts->count messages.  Returns 0, or a negative error with err
 * filled.  Stops early when *stop is set. */
int cs_loadgen_run(const cs_loadgen_opts *opts, volatile sig_atomic_t *stop, char *err,
                   size_t errsize);

#endif
