/* Unit tests for src/series.c: the worked example of docs/metric-streams.md,
 * counter resets, gauge gaps and staleness, duplicates and late samples. */
#include <string.h>

#include "series.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

#define SEC INT64_C(1000000)

static const char *usage_of(cs_series_state *st, cs_metric_kind kind, int64_t t, const char *v,
                            cs_series_outcome want)
{
    static char buf[CS_DEC_STRLEN];
    cs_dec u;
    cs_sample_special sp = strcmp(v, "NaN") == 0 ? CS_SAMPLE_NAN : CS_SAMPLE_FINITE;
    cs_series_outcome o = cs_series_apply(st, kind, 120 * SEC, t, sp,
                                          sp == CS_SAMPLE_FINITE ? D(v) : cs_dec_zero(), &u);
    ck_assert_msg(o == want, "t=%lld v=%s: %s, expected %s", (long long)t, v,
                  cs_series_outcome_name(o), cs_series_outcome_name(want));
    cs_dec_format(u, 3, buf, sizeof(buf));
    return buf;
}

START_TEST(counter)
{
    cs_series_state st = {0};
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 0, "100", CS_SERIES_BASELINE), "0.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 15 * SEC, "130", CS_SERIES_CHARGED), "30.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 30 * SEC, "NaN", CS_SERIES_NAN), "0.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 45 * SEC, "145.5", CS_SERIES_CHARGED), "15.500");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 60 * SEC, "4", CS_SERIES_RESET), "4.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 60 * SEC, "9", CS_SERIES_DUPLICATE), "0.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 50 * SEC, "9", CS_SERIES_LATE), "0.000");
    /* a counter's increase spans any gap */
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_COUNTER, 3600 * SEC, "10", CS_SERIES_CHARGED), "6.000");
}
END_TEST

START_TEST(gauge)
{
    cs_series_state st = {0};
    /* 2 GiB for 15 s, then 3 GiB for 15 s: 30 + 45 GiB-seconds */
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 0, "2", CS_SERIES_BASELINE), "0.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 15 * SEC, "3", CS_SERIES_CHARGED), "30.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 30 * SEC, "1", CS_SERIES_CHARGED), "45.000");
    /* fractions of a second are exact */
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 30 * SEC + 500000, "1", CS_SERIES_CHARGED), "0.500");
    /* more than max_gap (120 s) without samples: not charged, new baseline */
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 200 * SEC, "5", CS_SERIES_GAP), "0.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 210 * SEC, "5", CS_SERIES_CHARGED), "50.000");
    /* staleness marker ends the series: the next sample is a baseline */
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 220 * SEC, "NaN", CS_SERIES_NAN), "0.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 230 * SEC, "7", CS_SERIES_BASELINE), "0.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 240 * SEC, "7", CS_SERIES_CHARGED), "70.000");
    ck_assert_str_eq(usage_of(&st, CS_METRIC_KIND_GAUGE, 235 * SEC, "7", CS_SERIES_LATE), "0.000");
}
END_TEST

static cs_series_sample cpu(int64_t t, const char *v, const char *customer)
{
    cs_sample_special sp = strcmp(v, "NaN") == 0 ? CS_SAMPLE_NAN : CS_SAMPLE_FINITE;
    return (cs_series_sample){.time_usec = t, .special = sp,
                              .value = sp == CS_SAMPLE_FINITE ? D(v) : cs_dec_zero(),
                              .kind = CS_METRIC_KIND_COUNTER, .unit_divisor = 3600,
                              .max_gap_usec = 300 * SEC, .customer = customer, .plan = "pro",
                              .product = "sandbox", .meter = "cpu_hours", .rule_id = "cpu",
                              .rules_version = "v1", .currency = "USD", .unit = "cpu-hour",
                              .unit_price = D("0.04"), .discount_rate = D("0.25")};
}

static const cs_agg_row *row_of(const cs_agg *agg, const char *customer)
{
    for (size_t i = 0; i < cs_agg_count(agg); i++)
        if (strcmp(cs_agg_row_at(agg, i)->key.customer, customer) == 0)
            return cs_agg_row_at(agg, i);
    ck_abort_msg("no row for %s", customer);
    return NULL;
}

static const char *fmt12(cs_dec d)
{
    static char buf[4][CS_DEC_STRLEN];
    static int k;
    k = (k + 1) % 4;
    cs_dec_format(d, 12, buf[k], sizeof(buf[k]));
    return buf[k];
}

/* Settlement of one series as store_settle.c drives it: the worked example
 * (docs/metric-streams.md) priced into hourly rows, with the customer of
 * the later sample of each pair taking the charge. */
START_TEST(settle_prices_into_hours)
{
    const int64_t h10 = 10 * 3600 * SEC;
    cs_series_sample xs[] = {
        cpu(h10, "100", "acme"),                  /* baseline */
        cpu(h10 + 15 * SEC, "130", "acme"),       /* 30 cpu-seconds */
        cpu(h10 + 30 * SEC, "NaN", "acme"),       /* skipped */
        cpu(h10 + 45 * SEC, "145.5", "acme"),     /* 15.5 */
        cpu(h10 + 45 * SEC, "150", "acme"),       /* duplicate */
        cpu(h10 + 3600 * SEC, "4", "globex"),     /* reset: 4, next hour, new customer */
    };
    cs_series_state st = {0};
    uint64_t outcomes[CS_SERIES__COUNT] = {0};
    cs_agg *agg = cs_agg_new();
    ck_assert_int_eq(cs_series_settle(&st, xs, sizeof(xs) / sizeof(xs[0]), agg, outcomes), 0);
    ck_assert_uint_eq(outcomes[CS_SERIES_BASELINE], 1);
    ck_assert_uint_eq(outcomes[CS_SERIES_CHARGED], 2);
    ck_assert_uint_eq(outcomes[CS_SERIES_NAN], 1);
    ck_assert_uint_eq(outcomes[CS_SERIES_DUPLICATE], 1);
    ck_assert_uint_eq(outcomes[CS_SERIES_RESET], 1);
    ck_assert_uint_eq(cs_agg_count(agg), 2);
    /* acme, hour 10: 30/3600 = 0.008333333333 and 15.5/3600 = 0.004305555556
     * (each rounded half-even at 12 places, then summed); list at 0.04:
     * 0.000333333333 + 0.000172222222; a quarter off. */
    const cs_agg_row *a = row_of(agg, "acme");
    ck_assert_int_eq(a->key.hour_usec, h10);
    ck_assert_int_eq(a->events, 2);
    ck_assert_str_eq(fmt12(a->quantity), "0.012638888889");
    ck_assert_str_eq(fmt12(a->list_cost), "0.000505555555");
    cs_dec whole;
    ck_assert_int_eq(cs_dec_add(a->cost, a->discount, &whole), 0);
    ck_assert_str_eq(fmt12(whole), "0.000505555555");
    ck_assert_int_eq(cs_dec_cmp(a->discount, cs_dec_zero()), 1);
    /* globex, hour 11: the reset counts from zero, 4/3600 = 0.001111111111 */
    const cs_agg_row *g = row_of(agg, "globex");
    ck_assert_int_eq(g->key.hour_usec, h10 + 3600 * SEC);
    ck_assert_str_eq(fmt12(g->quantity), "0.001111111111");
    ck_assert_str_eq(fmt12(g->list_cost), "0.000044444444");
    /* the state carries on from the last sample */
    ck_assert(st.exists && st.has_value);
    ck_assert_int_eq(st.last_usec, h10 + 3600 * SEC);
    ck_assert_str_eq(fmt12(st.last_value), "4.000000000000");
    cs_agg_free(agg);
}
END_TEST

/* A counter kept across a long gap (metrics.counter_retention_hours) is
 * charged the whole increase in the hour of the sample after the gap. */
START_TEST(settle_counter_across_a_gap)
{
    cs_series_state st = {0};
    uint64_t outcomes[CS_SERIES__COUNT] = {0};
    cs_agg *agg = cs_agg_new();
    cs_series_sample first[] = {cpu(0, "100", "acme"), cpu(60 * SEC, "160", "acme")};
    cs_series_sample later[] = {cpu(3 * 3600 * SEC, "7360", "acme")};
    ck_assert_int_eq(cs_series_settle(&st, first, 2, agg, outcomes), 0);
    ck_assert_int_eq(cs_series_settle(&st, later, 1, agg, outcomes), 0);
    ck_assert_uint_eq(outcomes[CS_SERIES_CHARGED], 2);
    /* 60 and 7200 cpu-seconds: 0.016666666667 and 2 cpu-hours */
    ck_assert_uint_eq(cs_agg_count(agg), 2);
    ck_assert_str_eq(fmt12(cs_agg_row_at(agg, 1)->quantity), "2.000000000000");
    cs_agg_free(agg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("series");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counter);
    tcase_add_test(tc, gauge);
    tcase_add_test(tc, settle_prices_into_hours);
    tcase_add_test(tc, settle_counter_across_a_gap);
    suite_add_tcase(s, tc);
    return s;
}
