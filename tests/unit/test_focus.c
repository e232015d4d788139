/* Unit tests for src/focus.c: FOCUS unit spellings, exact products past
 * costream's 12 decimals (checked against 128-bit integer arithmetic where
 * the product fits), service categories. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "focus.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

START_TEST(units)
{
    static const char *const cases[][2] = {
        {"GiB-hour", "GiB-Hours"}, {"GiB-second", "GiB-Seconds"}, {"cpu-second", "CPU-Seconds"},
        {"cpu-hour", "CPU-Hours"}, {"token", "Tokens"}, {"tokens", "Tokens"}, {"byte", "B"},
        {"GB", "GB"}, {"GiB", "GiB"}, {"call", "Calls"}, {"request", "Requests"},
        {"record", "Records"}, {"run", "Runs"}, {"GB-hours", "GB-Hours"}, {"query", "Queries"},
        {"Request-token", "Request-Tokens"}};
    char buf[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_gt(cs_focus_unit(cases[i][0], buf, sizeof(buf)), 0);
        ck_assert_msg(strcmp(buf, cases[i][1]) == 0, "%s -> %s, want %s", cases[i][0], buf,
                      cases[i][1]);
    }
    char tiny[4];
    ck_assert_int_lt(cs_focus_unit("GiB-hour", tiny, sizeof(tiny)), 0);
}
END_TEST

START_TEST(exact_products)
{
    char buf[128];
    cs_dec rate = D("0.9"); /* 1 - a 10 % discount */
    ck_assert_int_gt(cs_focus_product(D("0.000000000078"), rate, NULL, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "0.0000000000702"); /* 13 decimals: never rounded */
    cs_dec q = D("1234.5");
    ck_assert_int_gt(cs_focus_product(D("0.000000000078"), rate, &q, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "0.0000000866619");
    ck_assert_int_gt(cs_focus_product(D("-2.5"), D("4"), NULL, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "-10");
    ck_assert_int_gt(cs_focus_product(D("0"), D("-4"), NULL, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "0");
    cs_dec big = D("99999999999999999999999999.999999999999");
    ck_assert_int_gt(cs_focus_product(big, big, &big, buf, sizeof(buf)), 0);
    /* Python: Decimal('99999999999999999999999999.999999999999') ** 3, 200 digits of precision */
    ck_assert_str_eq(buf, "999999999999999999999999999999999999970000000000000000000000000000000000000299"
                          ".999999999999999999999999999999999999");
    /* random pairs that fit 128 bits, against the integer product */
    srand(11);
    for (int i = 0; i < 20000; i++) {
        cs_dec a = {(cs_i128)(rand() % 2000000001 - 1000000000) * (rand() % 1000 + 1)};
        cs_dec b = {(cs_i128)(rand() % 2000000001 - 1000000000) * (rand() % 1000 + 1)};
        cs_i128 p = a.raw * b.raw; /* scale 24, |p| < 2^100 */
        char want[80], digits[64];
        __extension__ unsigned __int128 m = p < 0 ? (unsigned __int128)-p : (unsigned __int128)p;
        int n = 0;
        do {
            digits[n++] = (char)('0' + (int)(m % 10));
            m /= 10;
        } while (m);
        while (n <= 24)
            digits[n++] = '0';
        int w = 0, end = 0;
        if (p < 0)
            want[w++] = '-';
        for (int k = n - 1; k >= 24; k--)
            want[w++] = digits[k];
        want[w++] = '.';
        for (int k = 23; k >= 0; k--)
            want[w++] = digits[k];
        want[w] = '\0';
        end = w;
        while (want[end - 1] == '0')
            want[--end] = '\0';
        if (want[end - 1] == '.')
            want[--end] = '\0';
        if (strcmp(want, "-0") == 0)
            strcpy(want, "0");
        ck_assert_int_gt(cs_focus_product(a, b, NULL, buf, sizeof(buf)), 0);
        ck_assert_msg(strcmp(buf, want) == 0, "%s vs %s", buf, want);
    }
}
END_TEST

START_TEST(categories)
{
    ck_assert(cs_focus_service_category_valid("Compute"));
    ck_assert(cs_focus_service_category_valid("AI and Machine Learning"));
    ck_assert(!cs_focus_service_category_valid("compute"));
    ck_assert(!cs_focus_service_category_valid(""));
    ck_assert(cs_focus_subcategory_valid("Compute", "Containers"));
    ck_assert(cs_focus_subcategory_valid("Compute", "Other (Compute)"));
    ck_assert(cs_focus_subcategory_valid("Mobile", "Other (Mobile)"));
    ck_assert(!cs_focus_subcategory_valid("Storage", "Containers")); /* one parent only */
    ck_assert(!cs_focus_subcategory_valid("Compute", "Other (Storage)"));
    ck_assert(!cs_focus_subcategory_valid("Compute", "Kubernetes"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("focus");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, units);
    tcase_add_test(tc, exact_products);
    tcase_add_test(tc, categories);
    suite_add_tcase(s, tc);
    return s;
}
