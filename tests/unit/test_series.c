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

static Suite *make_suite(void)
{
    Suite *s = suite_create("series");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counter);
    tcase_add_test(tc, gauge);
    suite_add_tcase(s, tc);
    return s;
}
