/* bench_memory - the peak memory of what a worker holds for its two
 * largest long-lived structures, measured from memory on one process:
 *
 *   - the de-duplication window full: dedup.max_events_in_memory (default
 *     4,000,000) fingerprints spread over a week of event hours, stored;
 *   - one round of the settlement of one shard of SERIES active metric
 *     series (the worker settles one of 16 shards at a time; default
 *     1,000,000 series, so 62,500 per shard) with a minute of 15 s samples
 *     each: a round reads about metrics.settle_max_samples (100,000: the
 *     minute of 25,000 series) into hourly cost rows, the samples packed
 *     into a block as they come from PostgreSQL, decoded and ordered by
 *     pointer as settlement holds them, and the series' states.
 *
 * What it does not hold: librdkafka's prefetch queue (bounded by
 * kafka.queued.max.messages.kbytes, 65,536 KB by default) and libpq's result
 * of one shard's states (about 200 bytes a series); docs/performance.md adds
 * them.  Prints the peak RSS (VmHWM) after each step.
 *
 *   build/bench/bench_memory [FINGERPRINTS] [SERIES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agg.h"
#include "dedup.h"
#include "pending.h"
#include "series.h"

/* The peak resident set of this program: VmHWM, the high-water mark of its
 * own address space.  getrusage()'s ru_maxrss is not that: Linux carries
 * the high-water mark of the address space replaced by exec into it, so
 * run from a large parent (bench/run's Python, which forks) it read the
 * parent's 200 MB rather than this program's 170. */
static long peak_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb / 1024;
}

int main(int argc, char **argv)
{
    long nfp = argc > 1 ? atol(argv[1]) : 4000000, nseries = argc > 2 ? atol(argv[2]) : 1000000;
    printf("baseline: peak RSS %ld MB\n", peak_mb());
    cs_dedup *d = cs_dedup_new((size_t)nfp);
    const int64_t hour = 3600 * INT64_C(1000000), base = INT64_C(1793491200000000); /* 2026-11-01 */
    for (int h = 0; h < 168 && d; h++)
        cs_dedup_mark_loaded(d, base + h * hour, 0);
    for (long i = 0; i < nfp && d; i++) {
        char id[32];
        unsigned char fp[CS_DEDUP_FP_LEN];
        snprintf(id, sizeof(id), "evt-%ld", i);
        cs_dedup_fingerprint("//bench", id, fp);
        if (cs_dedup_check(d, base + (i % 168) * hour, fp, (size_t)i) < 0)
            return 1;
        if (i % 100000 == 99999)
            cs_dedup_seal(d), cs_dedup_commit(d), cs_dedup_trim(d); /* a flush every 100,000 events */
    }
    cs_dedup_seal(d);
    cs_dedup_commit(d);
    printf("dedup window: %ld fingerprints held (%zu): peak RSS %ld MB\n", nfp,
           cs_dedup_size(d), peak_mb());

    /* one round of a shard's settlement at metrics.settle_max_samples'
     * default (100,000 samples: 25,000 of its series' minute), as
     * settlement holds it: packed into a block (the bytes libpq hands
     * over), decoded, ordered by pointer */
    long shard = nseries / 16 < 25000 ? nseries / 16 : 25000;
    cs_pending_writer *w = cs_pending_writer_new();
    cs_buf block = {0};
    for (long s = 0; s < shard && w; s++) {
        char cust[32], series[96];
        unsigned char id[CS_BATCH_SERIES_ID_LEN] = {0};
        snprintf(cust, sizeof(cust), "cus_%05ld", s % 10000);
        snprintf(series, sizeof(series), "container_cpu_usage_seconds_total{pod=\"p-%ld\"}", s);
        memcpy(id, &s, sizeof(s));
        for (int k = 0; k < 4; k++) {
            cs_batch_sample b = {
                .series_id = id, .series = series, .time_usec = base + k * 15 * INT64_C(1000000),
                .value = cs_dec_from_int(1000 + s + k * 15), .kind = "counter",
                .unit_divisor = 3600, .max_gap_usec = 600 * INT64_C(1000000), .customer = cust,
                .plan = "pro", .product = "sandbox-execution", .meter = "container_cpu_hours",
                .rule_id = "sandbox-cpu-hours", .rules_version = "v1", .currency = "USD",
                .unit = "cpu-hour", .unit_price = cs_dec_from_int(1),
                .discount_rate = cs_dec_zero(), .topic = "metrics", .partition = k,
                .offset = s * 4 + k};
            if (cs_pending_writer_add(w, &b) < 0)
                return 1;
        }
    }
    if (!w)
        return 1;
    cs_pending_writer_finish(w, &block);
    cs_pending_writer_free(w);
    cs_pending_block *pb;
    size_t nsmp;
    if (block.failed || cs_pending_decode(block.data, block.len, &pb) < 0)
        return 1;
    const cs_batch_sample *smps = cs_pending_block_samples(pb, &nsmp);
    const cs_batch_sample **order = malloc(nsmp * sizeof(*order));
    for (size_t i = 0; i < nsmp && order; i++)
        order[i] = &smps[i];
    cs_series_state *st = calloc((size_t)shard, sizeof(*st));
    cs_agg *agg = cs_agg_new();
    uint64_t outcomes[CS_SERIES__COUNT] = {0};
    for (long s = 0; s < shard && st && agg && order; s++) {
        cs_series_sample smp[4];
        for (int k = 0; k < 4; k++) {
            const cs_batch_sample *b = order[s * 4 + k];
            smp[k] = (cs_series_sample){
                .time_usec = b->time_usec, .special = CS_SAMPLE_FINITE, .value = b->value,
                .kind = CS_METRIC_KIND_COUNTER, .unit_divisor = b->unit_divisor,
                .max_gap_usec = b->max_gap_usec, .customer = b->customer, .plan = b->plan,
                .product = b->product, .meter = b->meter, .rule_id = b->rule_id,
                .rules_version = b->rules_version, .currency = b->currency, .unit = b->unit,
                .unit_price = b->unit_price, .discount_rate = b->discount_rate};
        }
        if (cs_series_settle(&st[s], smp, 4, agg, outcomes) < 0)
            return 1;
    }
    printf("settlement of one shard: %ld of %ld series, %zu cost rows: peak RSS %ld MB\n", shard,
           nseries, agg ? cs_agg_count(agg) : 0, peak_mb());
    cs_agg_free(agg);
    free(st);
    free(order);
    cs_pending_block_free(pb);
    cs_buf_free(&block);
    cs_dedup_free(d);
    return 0;
}
