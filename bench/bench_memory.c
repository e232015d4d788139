/* bench_memory - the peak memory of what a worker holds for its two
 * largest long-lived structures, measured from memory on one process:
 *
 *   - the de-duplication window full: dedup.max_events_in_memory (default
 *     4,000,000) fingerprints spread over a week of event hours, stored;
 *   - the settlement of one shard of SERIES active metric series (the
 *     worker settles one of 16 shards at a time; default 1,000,000 series,
 *     so 62,500 per shard), 4 samples each, into hourly cost rows.
 *
 * What it does not hold: librdkafka's prefetch queue (bounded by
 * kafka.queued.max.messages.kbytes, 65,536 KB by default) and libpq's result
 * of one shard's states (about 200 bytes a series); docs/performance.md adds
 * them.  Prints the peak RSS (getrusage) after each step.
 *
 *   build/bench/bench_memory [FINGERPRINTS] [SERIES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agg.h"
#include "dedup.h"
#include "series.h"

static long peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
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

    long shard = nseries / 16;
    cs_series_state *st = calloc((size_t)shard, sizeof(*st));
    cs_agg *agg = cs_agg_new();
    uint64_t outcomes[CS_SERIES__COUNT] = {0};
    for (long s = 0; s < shard && st && agg; s++) {
        cs_series_sample smp[4];
        char cust[32];
        snprintf(cust, sizeof(cust), "cus_%05ld", s % 10000);
        for (int k = 0; k < 4; k++)
            smp[k] = (cs_series_sample){
                .time_usec = base + k * 15 * INT64_C(1000000), .special = CS_SAMPLE_FINITE,
                .value = cs_dec_from_int(1000 + s + k * 15), .kind = CS_METRIC_KIND_COUNTER,
                .unit_divisor = 3600, .max_gap_usec = 600 * INT64_C(1000000), .customer = cust,
                .plan = "pro", .product = "sandbox-execution", .meter = "container_cpu_hours",
                .rule_id = "sandbox-cpu-hours", .rules_version = "v1", .currency = "USD",
                .unit = "cpu-hour", .unit_price = cs_dec_from_int(1), .discount_rate = cs_dec_zero()};
        if (cs_series_settle(&st[s], smp, 4, agg, outcomes) < 0)
            return 1;
    }
    printf("settlement of one shard: %ld of %ld series, %zu cost rows: peak RSS %ld MB\n", shard,
           nseries, agg ? cs_agg_count(agg) : 0, peak_mb());
    cs_agg_free(agg);
    free(st);
    cs_dedup_free(d);
    return 0;
}
