/* telemetry.c - the worker's metric families (see telemetry.h and
 * docs/metrics.md). */
#include "telemetry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process.h"
#include "strmap.h"

/* The four business series of one (customer, product, meter, plan,
 * currency, unit): a stored row updates them through these handles after
 * the customer's admission and one lookup, where four cs_metrics_add()
 * calls took a dozen (a seventh of the worker's thread on a backfill).
 * Customers the cardinality cap folds are cached as "other", so the cache
 * holds about max_customers times the tuples per customer; the cost
 * families are never reset, so the handles stay valid; and the cache is let
 * go whole once it holds ROW_SERIES_MAX tuples (no cap). */
typedef struct row_series {
    cs_metric_series *cost, *list_cost, *usage, *events;
} row_series;

#define ROW_SERIES_MAX 65536

struct cs_telemetry {
    cs_metrics *reg;
    cs_metric_family *cost, *list_cost, *usage, *events, *mtd, *folded, *spend;
    cs_metric_family *consumed, *accepted, *rejected, *duplicates, *unattributed;
    cs_metric_family *lag, *assigned, *flush_seconds, *flushes, *rows;
    cs_metric_family *errors, *reconnects, *cache, *cache_ratio, *rules, *build;
    cs_metric_family *cpu, *rss, *fds, *max_fds, *start;
    cs_metric_family *samples, *evicted, *watermark, *out_of_order, *freshness;
    cs_metric_family *isolations, *fixed_values, *ready, *dropped, *blocked, *lost;
    cs_strmap row_series; /* tuple joined by 0x1f -> row_series; worker thread only */
};

static cs_dec dec_u64(uint64_t v)
{
    return (cs_dec){(cs_i128)v * (cs_i128)1000000000000LL};
}

static cs_dec dec_usec(int64_t usec)
{
    return (cs_dec){(cs_i128)usec * (cs_i128)1000000};
}

#define L(...) (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)

cs_telemetry *cs_telemetry_new(size_t max_customers, const char *version)
{
    cs_telemetry *t = calloc(1, sizeof(*t));
    if (!t || !(t->reg = cs_metrics_new())) {
        free(t);
        return NULL;
    }
    cs_metrics *m = t->reg;
    t->cost = cs_metrics_family(m, "costream_cost_total",
                                "Billed cost (after plan discounts) attributed by this worker, in the currency of the currency label",
                                CS_METRIC_COUNTER, L("customer", "product", "meter", "plan", "currency"), NULL, 0);
    t->list_cost = cs_metrics_family(m, "costream_list_cost_total",
                                     "List cost (before discounts) attributed by this worker",
                                     CS_METRIC_COUNTER, L("customer", "product", "meter", "plan", "currency"), NULL, 0);
    t->usage = cs_metrics_family(m, "costream_usage_total",
                                 "Usage quantity attributed by this worker, in the unit of the unit label",
                                 CS_METRIC_COUNTER, L("customer", "product", "meter", "unit"), NULL, 0);
    t->events = cs_metrics_family(m, "costream_events_total",
                                  "Usage events attributed by this worker",
                                  CS_METRIC_COUNTER, L("customer", "product", "meter", "plan"), NULL, 0);
    t->spend = cs_metrics_family(m, "infrastructure_cost_dollars_total",
                                 "Infrastructure spend allocated to the customer over every period, from PostgreSQL (docs/spend.md); a re-allocation that moves cost away from a customer shows as a counter reset",
                                 CS_METRIC_COUNTER, L("customer_id", "currency"), NULL, 0);
    t->mtd = cs_metrics_family(m, "costream_customer_month_to_date_cost",
                               "Billed cost of the current UTC calendar month per customer, read from PostgreSQL (all workers)",
                               CS_METRIC_GAUGE, L("customer", "currency"), NULL, 0);
    t->folded = cs_metrics_family(m, "costream_metrics_customers_folded",
                                  "Distinct customers folded into customer=\"other\" by the cardinality cap",
                                  CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    cs_metric_family *capped[] = {t->cost, t->list_cost, t->usage, t->events, t->mtd, t->spend};
    for (size_t i = 0; i < sizeof(capped) / sizeof(capped[0]); i++)
        if (capped[i])
            cs_metrics_family_cap(capped[i], 0, max_customers);

    t->consumed = cs_metrics_family(m, "costream_messages_consumed_total", "Kafka messages consumed",
                                    CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->accepted = cs_metrics_family(m, "costream_events_accepted_total",
                                    "Events and metric samples priced and stored (less those another worker counted first)",
                                    CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->rejected = cs_metrics_family(m, "costream_events_rejected_total",
                                    "Messages stored in rejected_events, by reason",
                                    CS_METRIC_COUNTER, L("reason"), NULL, 0);
    t->duplicates = cs_metrics_family(m, "costream_events_duplicate_total",
                                      "Events not counted because their (source, id) was already counted",
                                      CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->unattributed = cs_metrics_family(m, "costream_events_unattributed_total",
                                        "Events attributed to the unattributed customer",
                                        CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->lag = cs_metrics_family(m, "costream_consumer_lag_messages",
                               "Messages in the partition after the last one this worker has processed",
                               CS_METRIC_GAUGE, L("topic", "partition"), NULL, 0);
    t->assigned = cs_metrics_family(m, "costream_partitions_assigned", "Partitions assigned to this worker",
                                    CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    static const char *const bounds_txt[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};
    cs_dec bounds[11];
    for (size_t i = 0; i < 11; i++)
        cs_dec_parse(bounds_txt[i], strlen(bounds_txt[i]), &bounds[i]);
    t->flush_seconds = cs_metrics_family(m, "costream_flush_duration_seconds",
                                         "Time to write one batch to PostgreSQL", CS_METRIC_HISTOGRAM,
                                         L("result"), bounds, 11);
    t->flushes = cs_metrics_family(m, "costream_flushes_total", "Flush transactions, by result",
                                   CS_METRIC_COUNTER, L("result"), NULL, 0);
    t->rows = cs_metrics_family(m, "costream_rows_written_total", "Rows written to PostgreSQL, by table",
                                CS_METRIC_COUNTER, L("table"), NULL, 0);
    t->errors = cs_metrics_family(m, "costream_backend_errors_total", "Errors talking to a backend",
                                  CS_METRIC_COUNTER, L("backend"), NULL, 0);
    t->reconnects = cs_metrics_family(m, "costream_backend_reconnects_total",
                                      "Connections re-established to a backend", CS_METRIC_COUNTER,
                                      L("backend"), NULL, 0);
    t->cache = cs_metrics_family(m, "costream_label_cache_lookups_total",
                                 "Redis label and customer lookups, by cache result", CS_METRIC_COUNTER,
                                 L("result"), NULL, 0);
    t->cache_ratio = cs_metrics_family(m, "costream_label_cache_hit_ratio",
                                       "Share of lookups answered from the cache since start",
                                       CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->rules = cs_metrics_family(m, "costream_rules_info", "The pricing rules in force",
                                 CS_METRIC_GAUGE, L("version", "currency"), NULL, 0);
    t->build = cs_metrics_family(m, "costream_build_info", "costream's version", CS_METRIC_GAUGE,
                                 L("version"), NULL, 0);
    t->samples = cs_metrics_family(m, "costream_metric_samples_total",
                                   "Infrastructure metric samples by outcome (settled: baseline, charged, reset, duplicate, late, nan, gap; or unpriced at ingestion)",
                                   CS_METRIC_COUNTER, L("outcome"), NULL, 0);
    t->evicted = cs_metrics_family(m, "costream_metric_series_evicted_total",
                                   "Idle metric series forgotten (their next sample is a new baseline): gauges after metrics.series_idle_ms, counters after metrics.counter_retention_hours",
                                   CS_METRIC_COUNTER, L("kind"), NULL, 0);
    t->out_of_order = cs_metrics_family(m, "costream_metric_samples_out_of_order_total",
                                        "Metric samples older than their partition's newest sample by more than metrics.lateness_ms: the producer does not write partitions in time order, and such samples may be settled as late (not charged)",
                                        CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->freshness = cs_metrics_family(m, "costream_freshness_seconds",
                                     "Age at commit of the oldest message of the last committed batch: produced (Kafka timestamp) to committed",
                                     CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->watermark = cs_metrics_family(m, "costream_metric_watermark_seconds",
                                     "Event time below which metric samples have been settled (Unix seconds)",
                                     CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->isolations = cs_metrics_family(m, "costream_store_isolations_total",
                                      "Batches PostgreSQL refused on their data, replayed in smaller batches to isolate the refused messages",
                                      CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->fixed_values = cs_metrics_family(m, "costream_label_values_escaped_total",
                                        "Customer ids, names and cost centres from Redis that were not valid UTF-8, had control characters or were too long (stored escaped or cut)",
                                        CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->dropped = cs_metrics_family(m, "costream_messages_dropped_total",
                                   "Messages whose data and whose reject PostgreSQL both refused: only their offset was stored (see the logs)",
                                   CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->blocked = cs_metrics_family(m, "costream_worker_blocked_seconds",
                                   "How long the worker's loop has been inside one call (a backend that does not answer); 0 when it is moving",
                                   CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->lost = cs_metrics_family(m, "costream_messages_lost_total",
                                "Messages Kafka's retention deleted before this worker read them (their offsets were below the log start)",
                                CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->ready = cs_metrics_family(m, "costream_ready", "1 when the worker is ready (/readyz), else 0",
                                 CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->cpu = cs_metrics_family(m, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds",
                               CS_METRIC_COUNTER, NULL, 0, NULL, 0);
    t->rss = cs_metrics_family(m, "process_resident_memory_bytes", "Resident memory size in bytes",
                               CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->fds = cs_metrics_family(m, "process_open_fds", "Number of open file descriptors",
                               CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->max_fds = cs_metrics_family(m, "process_max_fds", "Maximum number of open file descriptors",
                                   CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    t->start = cs_metrics_family(m, "process_start_time_seconds",
                                 "Start time of the process since the Unix epoch in seconds",
                                 CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    if (!t->cost || !t->usage || !t->mtd || !t->start || !t->build) {
        cs_telemetry_free(t);
        return NULL;
    }
    cs_metrics_set(t->build, (const char *const[]){version}, dec_u64(1));
    return t;
}

void cs_telemetry_free(cs_telemetry *t)
{
    if (!t)
        return;
    cs_strmap_clear(&t->row_series, free);
    cs_metrics_free(t->reg);
    free(t);
}

void cs_telemetry_admit(cs_telemetry *t, const char *customer)
{
    cs_metric_family *capped[] = {t->cost, t->list_cost, t->usage, t->events, t->mtd, t->spend};
    for (size_t i = 0; i < sizeof(capped) / sizeof(capped[0]); i++)
        cs_metrics_family_admit(capped[i], customer);
}

void cs_telemetry_counters_set(cs_telemetry *t, const cs_telemetry_counters *n)
{
    cs_metrics_set(t->consumed, NULL, dec_u64(n->consumed));
    cs_metrics_set(t->accepted, NULL, dec_u64(n->accepted));
    cs_metrics_set(t->duplicates, NULL, dec_u64(n->duplicates));
    cs_metrics_set(t->unattributed, NULL, dec_u64(n->unattributed));
    for (int i = 1; i < CS_REJECT__COUNT; i++)
        cs_metrics_set(t->rejected, (const char *const[]){cs_reject_code_name((cs_reject_code)i)},
                       dec_u64(n->rejected[i]));
    cs_metrics_set(t->flushes, (const char *const[]){"ok"}, dec_u64(n->flushes));
    cs_metrics_set(t->flushes, (const char *const[]){"fenced"}, dec_u64(n->fenced));
    cs_metrics_set(t->flushes, (const char *const[]){"error"}, dec_u64(n->store_errors));
    cs_metrics_set(t->rows, (const char *const[]){"usage_cost"}, dec_u64(n->rows_written));
    cs_metrics_set(t->rows, (const char *const[]){"rejected_events"}, dec_u64(n->rejects_written));
    cs_metrics_set(t->errors, (const char *const[]){"postgres"}, dec_u64(n->store_errors));
    cs_metrics_set(t->errors, (const char *const[]){"redis"}, dec_u64(n->redis_errors));
    cs_metrics_set(t->reconnects, (const char *const[]){"postgres"}, dec_u64(n->store_reconnects));
    cs_metrics_set(t->reconnects, (const char *const[]){"redis"}, dec_u64(n->redis_reconnects));
    cs_metrics_set(t->cache, (const char *const[]){"hit"}, dec_u64(n->cache.hits));
    cs_metrics_set(t->cache, (const char *const[]){"miss"}, dec_u64(n->cache.misses));
    uint64_t total = n->cache.hits + n->cache.misses;
    cs_dec ratio = cs_dec_zero();
    if (total) /* hits / total, exact to 12 places, truncated */
        ratio.raw = (cs_i128)n->cache.hits * (cs_i128)1000000000000LL / (cs_i128)total;
    cs_metrics_set(t->cache_ratio, NULL, ratio);
    cs_metrics_set(t->folded, NULL, dec_u64(cs_metrics_family_folded(t->cost)));
    static const char *const outcomes[] = {"baseline", "charged", "reset", "duplicate",
                                           "late", "nan", "gap"};
    for (size_t i = 0; i < 7; i++)
        cs_metrics_set(t->samples, (const char *const[]){outcomes[i]}, dec_u64(n->samples[i]));
    cs_metrics_set(t->samples, (const char *const[]){"unpriced"}, dec_u64(n->samples_unpriced));
    cs_metrics_set(t->evicted, (const char *const[]){"gauge"}, dec_u64(n->evicted_gauges));
    cs_metrics_set(t->evicted, (const char *const[]){"counter"}, dec_u64(n->evicted_counters));
    cs_metrics_set(t->out_of_order, NULL, dec_u64(n->samples_out_of_order));
    cs_metrics_set(t->isolations, NULL, dec_u64(n->isolations));
    cs_metrics_set(t->dropped, NULL, dec_u64(n->dropped));
    cs_metrics_set(t->lost, NULL, dec_u64(n->lost));
    cs_metrics_set(t->fixed_values, NULL, dec_u64(n->fixed_values));

    if (n->watermark_usec > 0)
        cs_metrics_set(t->watermark, NULL, dec_usec(n->watermark_usec));
    cs_metrics_set(t->freshness, NULL, dec_usec(n->freshness_usec > 0 ? n->freshness_usec : 0));
}

void cs_telemetry_liveness(cs_telemetry *t, int ready, size_t partitions, int64_t blocked_usec)
{
    cs_metrics_set(t->ready, NULL, dec_u64(ready ? 1 : 0));
    cs_metrics_set(t->assigned, NULL, dec_u64(partitions));
    cs_metrics_set(t->blocked, NULL, dec_usec(blocked_usec > 0 ? blocked_usec : 0));
}

void cs_telemetry_flush(cs_telemetry *t, cs_flush_result result, int64_t duration_usec,
                        const cs_agg *agg)
{
    static const char *const names[] = {"ok", "fenced", "error"};
    cs_metrics_observe(t->flush_seconds, (const char *const[]){names[result]}, dec_usec(duration_usec));
    if (result == CS_FLUSH_OK && agg)
        cs_telemetry_rows(t, agg);
}

/* The series handles of k's tuple, from the cache or looked up once; NULL
 * when out of memory (the row then goes through cs_metrics_add()). */
static const row_series *row_series_of(cs_telemetry *t, const cs_agg_key *k)
{
    /* the four families see the same customers in the same order, so they
     * admit and fold alike: the cost family's verdict holds for all four */
    const char *customer = k->customer ? k->customer : "";
    if (!cs_metrics_family_admit(t->cost, customer))
        customer = CS_METRICS_OTHER;
    const char *parts[] = {customer, k->product, k->meter, k->plan, k->currency, k->unit};
    char key[1024];
    if (cs_strmap_key(key, sizeof(key), parts, sizeof(parts) / sizeof(parts[0])) < 0)
        return NULL;
    void **found = cs_strmap_find(&t->row_series, key);
    if (found)
        return *found;
    if (t->row_series.n >= ROW_SERIES_MAX)
        cs_strmap_clear(&t->row_series, free);
    row_series *rs = malloc(sizeof(*rs));
    if (!rs)
        return NULL;
    rs->cost = cs_metrics_series(t->cost, (const char *const[]){k->customer, k->product, k->meter, k->plan, k->currency});
    rs->list_cost = cs_metrics_series(t->list_cost, (const char *const[]){k->customer, k->product, k->meter, k->plan, k->currency});
    rs->usage = cs_metrics_series(t->usage, (const char *const[]){k->customer, k->product, k->meter, k->unit});
    rs->events = cs_metrics_series(t->events, (const char *const[]){k->customer, k->product, k->meter, k->plan});
    if (!rs->cost || !rs->list_cost || !rs->usage || !rs->events ||
        cs_strmap_put(&t->row_series, key, rs) < 0) {
        free(rs);
        return NULL;
    }
    return rs;
}

void cs_telemetry_rows(cs_telemetry *t, const cs_agg *agg)
{
    for (size_t i = 0; i < cs_agg_count(agg); i++) {
        const cs_agg_row *r = cs_agg_row_at(agg, i);
        if (r->events == 0)
            continue;
        const cs_agg_key *k = &r->key;
        cs_dec events = dec_u64((uint64_t)r->events);
        const row_series *rs = row_series_of(t, k);
        if (rs) {
            cs_metrics_series_add(t->cost, rs->cost, r->cost);
            cs_metrics_series_add(t->list_cost, rs->list_cost, r->list_cost);
            cs_metrics_series_add(t->usage, rs->usage, r->quantity);
            cs_metrics_series_add(t->events, rs->events, events);
            continue;
        }
        cs_metrics_add(t->cost, (const char *const[]){k->customer, k->product, k->meter, k->plan, k->currency}, r->cost);
        cs_metrics_add(t->list_cost, (const char *const[]){k->customer, k->product, k->meter, k->plan, k->currency}, r->list_cost);
        cs_metrics_add(t->usage, (const char *const[]){k->customer, k->product, k->meter, k->unit}, r->quantity);
        cs_metrics_add(t->events, (const char *const[]){k->customer, k->product, k->meter, k->plan}, events);
    }
}

void cs_telemetry_lag(cs_telemetry *t, const char *topic, int32_t partition, int64_t lag)
{
    char p[16];
    snprintf(p, sizeof(p), "%" PRId32, partition);
    cs_metrics_set(t->lag, (const char *const[]){topic, p}, dec_u64(lag > 0 ? (uint64_t)lag : 0));
}

void cs_telemetry_rules(cs_telemetry *t, const char *version, const char *currency)
{
    cs_metrics_family_reset(t->rules);
    cs_metrics_set(t->rules, (const char *const[]){version, currency}, dec_u64(1));
}

void cs_telemetry_month_to_date_begin(cs_telemetry *t)
{
    cs_metrics_family_reset(t->mtd);
}

/* Adds a decimal read from PostgreSQL's text to (customer, currency). */
static void add_text(cs_metric_family *f, const char *customer, const char *currency,
                     const char *text)
{
    cs_dec v;
    if (cs_dec_parse(text, strlen(text), &v) == 0)
        cs_metrics_add(f, (const char *const[]){customer, currency}, v);
}

void cs_telemetry_month_to_date(cs_telemetry *t, const char *customer, const char *currency,
                                const char *cost)
{
    add_text(t->mtd, customer, currency, cost);
}

void cs_telemetry_spend_begin(cs_telemetry *t)
{
    cs_metrics_family_reset(t->spend);
}

void cs_telemetry_spend(cs_telemetry *t, const char *customer, const char *currency,
                        const char *amount)
{
    add_text(t->spend, customer, currency, amount);
}

int cs_telemetry_render(cs_telemetry *t, int openmetrics, char **ret_buf, size_t *ret_len)
{
    cs_process_stats ps;
    if (cs_process_sample(&ps) == 0) {
        cs_metrics_set(t->cpu, NULL, dec_usec(ps.cpu_usec));
        cs_metrics_set(t->rss, NULL, dec_u64((uint64_t)ps.rss_bytes));
        cs_metrics_set(t->fds, NULL, dec_u64((uint64_t)ps.open_fds));
        cs_metrics_set(t->max_fds, NULL, dec_u64((uint64_t)ps.max_fds));
        cs_metrics_set(t->start, NULL, dec_u64((uint64_t)ps.start_time_sec));
    }
    return cs_metrics_render(t->reg, openmetrics, ret_buf, ret_len);
}
