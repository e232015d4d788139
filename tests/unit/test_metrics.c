/* Unit tests for src/metrics.c: exposition in both formats, exact decimal
 * values, label escaping, histograms, the customer cardinality cap and series
 * handles. */
#include <errno.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static char *render(cs_metrics *m, int om)
{
    char *buf;
    size_t len;
    ck_assert_int_eq(cs_metrics_render(m, om, &buf, &len), 0);
    ck_assert_int_eq((int)strlen(buf), (int)len);
    return buf;
}

#define HAS(text, needle) ck_assert_msg(strstr(text, needle) != NULL, "missing: %s\n---\n%s", needle, text)

START_TEST(counter_exact_and_escaped)
{
    cs_metrics *m = cs_metrics_new();
    cs_metric_family *f = cs_metrics_family(m, "x_cost_total", "Cost\nwith \\ newline", CS_METRIC_COUNTER,
                                            (const char *const[]){"customer", "plan"}, 2, NULL, 0);
    ck_assert_int_eq(cs_metrics_add(f, (const char *const[]){"a\"b\\c\nd", "pro"}, D("0.1")), 0);
    ck_assert_int_eq(cs_metrics_add(f, (const char *const[]){"a\"b\\c\nd", "pro"}, D("0.2")), 0);
    ck_assert_int_eq(cs_metrics_add(f, (const char *const[]){"e", "free"}, D("1234567890123.000000000001")), 0);
    char *t = render(m, 0);
    HAS(t, "# HELP x_cost_total Cost\\nwith \\\\ newline\n");
    HAS(t, "# TYPE x_cost_total counter\n");
    HAS(t, "x_cost_total{customer=\"a\\\"b\\\\c\\nd\",plan=\"pro\"} 0.3\n");
    HAS(t, "x_cost_total{customer=\"e\",plan=\"free\"} 1234567890123.000000000001\n");
    ck_assert_ptr_null(strstr(t, "# EOF"));
    free(t);
    t = render(m, 1);
    HAS(t, "# TYPE x_cost counter\n");
    HAS(t, "x_cost_total{customer=\"e\",plan=\"free\"} 1234567890123.000000000001\n");
    ck_assert(strcmp(t + strlen(t) - 6, "# EOF\n") == 0);
    free(t);
    cs_metrics_free(m);
}
END_TEST

START_TEST(histogram_and_gauge)
{
    cs_metrics *m = cs_metrics_new();
    cs_dec b[] = {D("0.1"), D("1")};
    cs_metric_family *h = cs_metrics_family(m, "x_seconds", "H", CS_METRIC_HISTOGRAM,
                                            (const char *const[]){"result"}, 1, b, 2);
    cs_metric_family *g = cs_metrics_family(m, "x_gauge", "G", CS_METRIC_GAUGE, NULL, 0, NULL, 0);
    const char *const ok[] = {"ok"};
    cs_metrics_observe(h, ok, D("0.05"));
    cs_metrics_observe(h, ok, D("0.1"));  /* le is inclusive */
    cs_metrics_observe(h, ok, D("0.5"));
    cs_metrics_observe(h, ok, D("7"));
    cs_metrics_set(g, NULL, D("5"));
    cs_metrics_set(g, NULL, D("3"));
    ck_assert_int_lt(cs_metrics_observe(g, NULL, D("1")), 0);
    char *t = render(m, 0);
    HAS(t, "x_seconds_bucket{result=\"ok\",le=\"0.1\"} 2\n");
    HAS(t, "x_seconds_bucket{result=\"ok\",le=\"1\"} 3\n");
    HAS(t, "x_seconds_bucket{result=\"ok\",le=\"+Inf\"} 4\n");
    HAS(t, "x_seconds_sum{result=\"ok\"} 7.65\n");
    HAS(t, "x_seconds_count{result=\"ok\"} 4\n");
    HAS(t, "x_gauge 3\n");
    free(t);
    cs_metrics_family_reset(g);
    t = render(m, 0);
    ck_assert_ptr_null(strstr(t, "x_gauge 3"));
    free(t);
    cs_metrics_free(m);
}
END_TEST

START_TEST(cardinality_cap)
{
    cs_metrics *m = cs_metrics_new();
    cs_metric_family *f = cs_metrics_family(m, "c_total", "C", CS_METRIC_COUNTER,
                                            (const char *const[]){"customer", "product"}, 2, NULL, 0);
    cs_metrics_family_cap(f, 0, 3); /* two customers + other */
    ck_assert_int_eq(cs_metrics_family_admit(f, "big"), 1);
    cs_metrics_add(f, (const char *const[]){"small1", "p"}, D("1"));
    cs_metrics_add(f, (const char *const[]){"small2", "p"}, D("2"));
    cs_metrics_add(f, (const char *const[]){"small3", "p"}, D("4"));
    cs_metrics_add(f, (const char *const[]){"small2", "q"}, D("8"));
    cs_metrics_add(f, (const char *const[]){"big", "p"}, D("100"));
    ck_assert_int_eq(cs_metrics_family_admit(f, "late"), 0);
    ck_assert_int_eq((int)cs_metrics_family_folded(f), 3); /* small2, small3, late */
    char *t = render(m, 0);
    HAS(t, "c_total{customer=\"big\",product=\"p\"} 100\n");
    HAS(t, "c_total{customer=\"small1\",product=\"p\"} 1\n");
    HAS(t, "c_total{customer=\"other\",product=\"p\"} 6\n");
    HAS(t, "c_total{customer=\"other\",product=\"q\"} 8\n");
    ck_assert_ptr_null(strstr(t, "small2"));
    free(t);
    cs_metrics_free(m);
}
END_TEST

START_TEST(series_handles)
{
    cs_metrics *m = cs_metrics_new();
    cs_metric_family *f = cs_metrics_family(m, "h_total", "H", CS_METRIC_COUNTER,
                                            (const char *const[]){"customer", "product"}, 2, NULL, 0);
    cs_metrics_family_cap(f, 0, 2); /* one customer + other */
    cs_metric_series *a = cs_metrics_series(f, (const char *const[]){"a", "p"});
    cs_metric_series *b = cs_metrics_series(f, (const char *const[]){"b", "p"});
    cs_metric_series *c = cs_metrics_series(f, (const char *const[]){"c", "p"});
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(cs_metrics_series(f, (const char *const[]){"a", "p"}), a);
    ck_assert_ptr_eq(b, c); /* both folded into other */
    ck_assert_ptr_ne(a, b);
    ck_assert_int_eq(cs_metrics_series_add(f, a, D("1.5")), 0);
    ck_assert_int_eq(cs_metrics_add(f, (const char *const[]){"a", "p"}, D("2.25")), 0);
    ck_assert_int_eq(cs_metrics_series_add(f, b, D("10")), 0);
    ck_assert_int_eq(cs_metrics_series_add(f, c, D("0.001")), 0);
    cs_dec big = D("99999999999999999999999999.999999999999"); /* the 38-digit bound */
    ck_assert_int_eq(cs_metrics_series_add(f, a, big), -ERANGE);
    char *t = render(m, 0);
    HAS(t, "h_total{customer=\"a\",product=\"p\"} 3.75\n");
    HAS(t, "h_total{customer=\"other\",product=\"p\"} 10.001\n");
    free(t);
    cs_metrics_free(m);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, counter_exact_and_escaped);
    tcase_add_test(tc, histogram_and_gauge);
    tcase_add_test(tc, cardinality_cap);
    tcase_add_test(tc, series_handles);
    suite_add_tcase(s, tc);
    return s;
}
