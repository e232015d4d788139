/* Unit tests for src/agg.c: keys group exactly, sums are exact, the table
 * grows past its index size, overflow leaves sums untouched, clear empties. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agg.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static cs_agg_key key(int64_t hour, const char *customer, const char *meter)
{
    return (cs_agg_key){.hour_usec = hour, .customer = customer, .product = "p", .meter = meter,
                        .rule_id = "r", .rules_version = "v", .plan = "pro", .currency = "USD",
                        .unit = "u"};
}

START_TEST(groups_and_sums)
{
    cs_agg *a = cs_agg_new();
    char cust[32];
    snprintf(cust, sizeof(cust), "cus_1");
    cs_agg_key k1 = key(0, cust, "m");
    ck_assert_int_eq(cs_agg_add(a, &k1, D("0.1"), D("1"), D("0.1"), D("0.9"), NULL), 0);
    snprintf(cust, sizeof(cust), "cus_X"); /* the table must hold its own copy */
    cs_agg_key k1b = key(0, "cus_1", "m");
    ck_assert_int_eq(cs_agg_add(a, &k1b, D("0.2"), D("2"), D("0.2"), D("1.8"), NULL), 0);
    cs_agg_key k2 = key(3600, "cus_1", "m");
    ck_assert_int_eq(cs_agg_add(a, &k2, D("5"), D("5"), D("0"), D("5"), NULL), 0);
    ck_assert_int_eq((int)cs_agg_count(a), 2);
    const cs_agg_row *r = cs_agg_row_at(a, 0);
    ck_assert_str_eq(r->key.customer, "cus_1");
    ck_assert(cs_dec_cmp(r->quantity, D("0.3")) == 0);
    ck_assert(cs_dec_cmp(r->cost, D("2.7")) == 0);
    ck_assert(r->events == 2);
    cs_agg_clear(a);
    ck_assert_int_eq((int)cs_agg_count(a), 0);
    cs_agg_free(a);
    cs_agg_free(NULL);
}
END_TEST

START_TEST(many_rows)
{
    cs_agg *a = cs_agg_new();
    char cust[32];
    /* 5000 customers x 3 meters, each added i+1 times with quantity 1 */
    const char *meters[] = {"a", "b", "c"};
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < 5000; i++)
            for (int m = 0; m < 3; m++) {
                if (rep > i % 3)
                    continue;
                snprintf(cust, sizeof(cust), "cus_%d", i);
                cs_agg_key k = key(0, cust, meters[m]);
                ck_assert_int_eq(cs_agg_add(a, &k, D("1"), D("1"), D("0"), D("1"), NULL), 0);
            }
    ck_assert_int_eq((int)cs_agg_count(a), 15000);
    for (size_t i = 0; i < cs_agg_count(a); i++) {
        const cs_agg_row *r = cs_agg_row_at(a, i);
        int n = atoi(r->key.customer + 4);
        ck_assert(r->events == n % 3 + 1);
        ck_assert(cs_dec_cmp(r->quantity, cs_dec_from_int(n % 3 + 1)) == 0);
    }
    cs_agg_free(a);
}
END_TEST

START_TEST(overflow_is_atomic)
{
    cs_agg *a = cs_agg_new();
    cs_agg_key k = key(0, "c", "m");
    cs_dec big = D("99999999999999999999999999");
    ck_assert_int_eq(cs_agg_add(a, &k, D("1"), big, D("0"), D("1"), NULL), 0);
    ck_assert_int_eq(cs_agg_add(a, &k, D("1"), D("1"), D("0"), D("1"), NULL), -ERANGE);
    const cs_agg_row *r = cs_agg_row_at(a, 0);
    ck_assert(cs_dec_cmp(r->quantity, D("1")) == 0);
    ck_assert(cs_dec_cmp(r->cost, D("1")) == 0);
    ck_assert(r->events == 1);
    cs_agg_free(a);
}
END_TEST

START_TEST(adjust_takes_out_and_back)
{
    cs_agg *a = cs_agg_new();
    cs_agg_key k = key(0, "c", "m");
    size_t row, row2;
    ck_assert_int_eq(cs_agg_add(a, &k, D("1.5"), D("3"), D("0.3"), D("2.7"), &row), 0);
    ck_assert_int_eq(cs_agg_add(a, &k, D("2"), D("4"), D("0.4"), D("3.6"), &row2), 0);
    ck_assert(row == row2);
    ck_assert_int_eq(cs_agg_adjust(a, row, -1, D("2"), D("4"), D("0.4"), D("3.6")), 0);
    const cs_agg_row *r = cs_agg_row_at(a, row);
    ck_assert(cs_dec_cmp(r->quantity, D("1.5")) == 0 && cs_dec_cmp(r->cost, D("2.7")) == 0);
    ck_assert(r->events == 1);
    ck_assert_int_eq(cs_agg_adjust(a, row, -1, D("1.5"), D("3"), D("0.3"), D("2.7")), 0);
    ck_assert(r->events == 0 && cs_dec_is_zero(r->cost) && cs_dec_is_zero(r->quantity));
    ck_assert_int_eq(cs_agg_adjust(a, row, 1, D("2"), D("4"), D("0.4"), D("3.6")), 0);
    ck_assert(r->events == 1 && cs_dec_cmp(r->discount, D("0.4")) == 0);
    cs_agg_free(a);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("agg");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, groups_and_sums);
    tcase_add_test(tc, many_rows);
    tcase_add_test(tc, overflow_is_atomic);
    tcase_add_test(tc, adjust_takes_out_and_back);
    suite_add_tcase(s, tc);
    return s;
}
