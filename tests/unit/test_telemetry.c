/* Unit tests for src/telemetry.c: the business counters a committed flush's
 * rows add up to, summed here independently, through the cardinality cap
 * and, without one, past the size at which the cache of series handles is
 * let go. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "telemetry.h"
#include "unit.h"

#define CUSTOMERS 34000 /* x 2 meters: more tuples than the handle cache keeps */
#define CAP 100         /* customers with a series of their own, "other" included */

static cs_dec U(uint64_t units)
{
    return (cs_dec){(cs_i128)units * (cs_i128)1000000000000LL};
}

static uint64_t cost_of(int c, int m, int h)
{
    return (uint64_t)((c + m + h) % 7 + 1);
}

static uint64_t quantity_of(int c)
{
    return (uint64_t)(c % 5 + 1);
}

static int64_t events_of(int c, int h)
{
    return 1 + (c + h) % 3;
}

static void expect_line(const char *text, const char *line)
{
    ck_assert_msg(strstr(text, line) != NULL, "missing: %s", line);
}

static cs_agg *make_rows(void)
{
    cs_agg *a = cs_agg_new();
    char cust[16];
    for (int c = 0; c < CUSTOMERS; c++) {
        snprintf(cust, sizeof(cust), "c%05d", c);
        for (int m = 0; m < 2; m++)
            for (int h = 0; h < 2; h++) {
                cs_agg_key k = {.hour_usec = (int64_t)h * 3600000000, .customer = cust,
                                .product = "p", .meter = m ? "m1" : "m0", .rule_id = "r",
                                .rules_version = "v", .plan = "pro", .currency = "USD",
                                .unit = "u"};
                uint64_t cost = cost_of(c, m, h);
                for (int64_t e = 0; e < events_of(c, h); e++)
                    ck_assert_int_eq(cs_agg_add(a, &k, e ? U(0) : U(quantity_of(c)),
                                                e ? U(0) : U(cost + 1), e ? U(0) : U(1),
                                                e ? U(0) : U(cost), NULL), 0);
            }
    }
    /* a row whose one event was a duplicate: it counts nothing */
    cs_agg_key dup = {.customer = "c00001", .product = "p", .meter = "dup", .rule_id = "r",
                      .rules_version = "v", .plan = "pro", .currency = "USD", .unit = "u"};
    size_t row;
    ck_assert_int_eq(cs_agg_add(a, &dup, U(1), U(1), U(0), U(1), &row), 0);
    ck_assert_int_eq(cs_agg_adjust(a, row, -1, U(1), U(1), U(0), U(1)), 0);
    return a;
}

START_TEST(rows_add_up_through_the_cap)
{
    cs_telemetry *t = cs_telemetry_new(CAP, "test");
    ck_assert_ptr_nonnull(t);
    cs_agg *a = make_rows();
    cs_telemetry_rows(t, a);
    cs_telemetry_rows(t, a); /* a second flush of the same rows: counters double */

    /* expected: customers seen first get a series until the cap, the rest
     * are folded into "other" */
    uint64_t cost[CAP][2] = {{0}}, list[CAP][2] = {{0}}, qty[CAP][2] = {{0}}, ev[CAP][2] = {{0}};
    for (int c = 0; c < CUSTOMERS; c++) {
        int slot = c < CAP - 1 ? c : CAP - 1;
        for (int m = 0; m < 2; m++)
            for (int h = 0; h < 2; h++) {
                cost[slot][m] += 2 * cost_of(c, m, h);
                list[slot][m] += 2 * (cost_of(c, m, h) + 1);
                qty[slot][m] += 2 * quantity_of(c);
                ev[slot][m] += 2 * (uint64_t)events_of(c, h);
            }
    }
    char *text;
    size_t len;
    ck_assert_int_eq(cs_telemetry_render(t, 0, &text, &len), 0);
    char line[256];
    const int slots[] = {0, 5, CAP - 2, CAP - 1};
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
        for (int m = 0; m < 2; m++) {
            int s = slots[i];
            char cust[16];
            if (s == CAP - 1)
                snprintf(cust, sizeof(cust), "other");
            else
                snprintf(cust, sizeof(cust), "c%05d", s);
            snprintf(line, sizeof(line), "costream_cost_total{customer=\"%s\",product=\"p\",meter=\"m%d\",plan=\"pro\",currency=\"USD\"} %" PRIu64 "\n", cust, m, cost[s][m]);
            expect_line(text, line);
            snprintf(line, sizeof(line), "costream_list_cost_total{customer=\"%s\",product=\"p\",meter=\"m%d\",plan=\"pro\",currency=\"USD\"} %" PRIu64 "\n", cust, m, list[s][m]);
            expect_line(text, line);
            snprintf(line, sizeof(line), "costream_usage_total{customer=\"%s\",product=\"p\",meter=\"m%d\",unit=\"u\"} %" PRIu64 "\n", cust, m, qty[s][m]);
            expect_line(text, line);
            snprintf(line, sizeof(line), "costream_events_total{customer=\"%s\",product=\"p\",meter=\"m%d\",plan=\"pro\"} %" PRIu64 "\n", cust, m, ev[s][m]);
            expect_line(text, line);
        }
    ck_assert_ptr_null(strstr(text, "c00099")); /* the cap's first folded customer */
    ck_assert_ptr_null(strstr(text, "meter=\"dup\""));
    free(text);
    cs_agg_free(a);
    cs_telemetry_free(t);
}
END_TEST

/* No cap: every customer has its own series, more tuples than the cache
 * of handles keeps, so it is let go and refilled in both passes. */
START_TEST(rows_add_up_without_a_cap)
{
    cs_telemetry *t = cs_telemetry_new(0, "test");
    ck_assert_ptr_nonnull(t);
    cs_agg *a = make_rows();
    cs_telemetry_rows(t, a);
    cs_telemetry_rows(t, a);
    char *text;
    size_t len;
    ck_assert_int_eq(cs_telemetry_render(t, 0, &text, &len), 0);
    const int customers[] = {0, 17000, CUSTOMERS - 1};
    for (size_t i = 0; i < sizeof(customers) / sizeof(customers[0]); i++)
        for (int m = 0; m < 2; m++) {
            int c = customers[i];
            uint64_t cost = 2 * (cost_of(c, m, 0) + cost_of(c, m, 1));
            uint64_t ev = 2 * (uint64_t)(events_of(c, 0) + events_of(c, 1));
            char line[256];
            snprintf(line, sizeof(line), "costream_cost_total{customer=\"c%05d\",product=\"p\",meter=\"m%d\",plan=\"pro\",currency=\"USD\"} %" PRIu64 "\n", c, m, cost);
            expect_line(text, line);
            snprintf(line, sizeof(line), "costream_usage_total{customer=\"c%05d\",product=\"p\",meter=\"m%d\",unit=\"u\"} %" PRIu64 "\n", c, m, 4 * quantity_of(c));
            expect_line(text, line);
            snprintf(line, sizeof(line), "costream_events_total{customer=\"c%05d\",product=\"p\",meter=\"m%d\",plan=\"pro\"} %" PRIu64 "\n", c, m, ev);
            expect_line(text, line);
        }
    ck_assert_ptr_null(strstr(text, "_total{customer=\"other\""));
    free(text);
    cs_agg_free(a);
    cs_telemetry_free(t);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("telemetry");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rows_add_up_through_the_cap);
    tcase_add_test(tc, rows_add_up_without_a_cap);
    suite_add_tcase(s, tc);
    return s;
}
