/* telemetry.h - the worker's metrics: business (cost and usage per
 * customer, product, meter, plan) and self-observability (messages,
 * rejects, lag, flushes, errors, cache, rules, build, process).
 * docs/metrics.md lists every metric.
 *
 * The worker thread updates; the HTTP thread renders.  Thread-safe through
 * the registry's lock.
 */
#ifndef CS_TELEMETRY_H
#define CS_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "cache.h"
#include "event.h"
#include "metrics.h"

/* Running totals a worker keeps (exported as counters). */
typedef struct cs_telemetry_counters {
    uint64_t consumed;
    uint64_t accepted;    /* stored, less those another worker counted first; monotonic */
    uint64_t duplicates;  /* events whose (source, id) was already counted */
    uint64_t rejected[CS_REJECT__COUNT];
    uint64_t unattributed;
    uint64_t flushes;
    uint64_t fenced;
    uint64_t store_errors;
    uint64_t redis_errors;
    uint64_t rows_written;
    uint64_t rejects_written;
    unsigned long store_reconnects;
    unsigned long redis_reconnects;
    cs_cache_stats cache;
    uint64_t samples[8];          /* settled metric samples by cs_series_outcome */
    uint64_t samples_unpriced;    /* samples of metrics no rule prices (ignored) */
    uint64_t evicted_gauges, evicted_counters; /* idle series forgotten, by kind */
    uint64_t samples_out_of_order; /* older than their partition's newest by more than the lateness */
    int64_t watermark_usec;       /* last settlement's watermark, 0 before */
    uint64_t isolations;          /* batches refused on their data and bisected */
    uint64_t dropped;             /* messages whose reject was refused too */
    uint64_t lost;                /* messages deleted by retention before they were read */
    unsigned long fixed_values;   /* Redis values escaped or cut */
    int64_t freshness_usec;       /* last committed batch: its oldest message's age at commit */
} cs_telemetry_counters;

typedef enum cs_flush_result { CS_FLUSH_OK, CS_FLUSH_FENCED, CS_FLUSH_ERROR } cs_flush_result;

typedef struct cs_telemetry cs_telemetry;

/* max_customers caps the customer label of business metrics. */
cs_telemetry *cs_telemetry_new(size_t max_customers, const char *version);
void cs_telemetry_free(cs_telemetry *t); /* NULL allowed */

/* Gives customer its own series (used at start for the largest customers). */
void cs_telemetry_admit(cs_telemetry *t, const char *customer);

/* Publishes the worker's totals. */
void cs_telemetry_counters_set(cs_telemetry *t, const cs_telemetry_counters *n);

/* Readiness, partitions assigned and how long the worker's loop has been
 * stuck in one call: set from a watchdog thread every second, so they move
 * even while the worker waits on a backend that does not answer. */
void cs_telemetry_liveness(cs_telemetry *t, int ready, size_t partitions, int64_t blocked_usec);

/* A flush finished: duration and, when it committed, the aggregates it
 * stored (added to the business counters, as cs_telemetry_rows; NULL to
 * add them later). */
void cs_telemetry_flush(cs_telemetry *t, cs_flush_result result, int64_t duration_usec,
                        const cs_agg *agg);

/* Adds the rows of agg a committed flush stored to the business counters
 * (cost, list cost, usage, events); rows that counted no event are not.
 * Worker thread only (it keeps a cache of series handles, unlocked). */
void cs_telemetry_rows(cs_telemetry *t, const cs_agg *agg);

void cs_telemetry_lag(cs_telemetry *t, const char *topic, int32_t partition, int64_t lag);
void cs_telemetry_rules(cs_telemetry *t, const char *version, const char *currency);

/* Month-to-date cost per customer, rebuilt from PostgreSQL. */
/* The allocated infrastructure spend per customer (replaces the last). */
void cs_telemetry_spend_begin(cs_telemetry *t);
void cs_telemetry_spend(cs_telemetry *t, const char *customer, const char *currency,
                        const char *amount);

void cs_telemetry_month_to_date_begin(cs_telemetry *t);
void cs_telemetry_month_to_date(cs_telemetry *t, const char *customer, const char *currency,
                                const char *cost);

/* Renders everything (process metrics sampled now).  See cs_metrics_render. */
int cs_telemetry_render(cs_telemetry *t, int openmetrics, char **ret_buf, size_t *ret_len);

#endif
