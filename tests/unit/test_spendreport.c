/* Unit tests for src/spendreport.c: cents distributed by largest remainder
 * so that lines add up to subtotals and subtotals to the total rounded once;
 * sub-cent lines marked; every format; mixed currencies refused. */
#include <errno.h>
#include <string.h>

#include "spendreport.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

START_TEST(cents_add_up)
{
    /* exact total 0.01 + 0.004 x 3 + 2.335 = 2.357 -> 2.36 */
    cs_spendreport_row rows[] = {
        {"acme", "api", "gw", "direct", "USD", D("0.004")},
        {"acme", "sandbox", "compute", "direct", "USD", D("0.004")},
        {"acme", "shared", "support", "shared", "USD", D("0.004")},
        {"beta", "sandbox", "compute", "direct", "USD", D("2.335")},
        {"beta", "sandbox", "control", "shared", "USD", D("0.01")},
    };
    cs_buf b = {0};
    ck_assert_int_eq(cs_spendreport_write(&b, CS_REPORT_CSV, "2026-10", rows, 5), 0);
    /* floors 0,0,0,2.33,0.01 = 2.34; two cents to the largest remainders
     * (.5 of beta's 2.335, then .4 of acme's first line) */
    ck_assert_ptr_nonnull(strstr(b.data, "line,acme,api,gw,direct,USD,0.01,0.004000000000,\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "line,acme,sandbox,compute,direct,USD,0.00,0.004000000000,yes\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "subtotal,acme,,,,USD,0.01,0.012000000000,\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "line,beta,sandbox,compute,direct,USD,2.34,2.335000000000,\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "subtotal,beta,,,,USD,2.35,2.345000000000,\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "grand_total,,,,,USD,2.36,2.357000000000,\r\n"));
    cs_buf_free(&b);
    ck_assert_int_eq(cs_spendreport_write(&b, CS_REPORT_JSON, "2026-10", rows, 5), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "\"total\":{\"amount\":2.36,\"exact_amount\":2.357000000000}"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"sub_cent\":true"));
    cs_buf_free(&b);
    ck_assert_int_eq(cs_spendreport_write(&b, CS_REPORT_TABLE, "2026-10", rows, 5), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "(sub-cent)"));
    ck_assert_ptr_nonnull(strstr(b.data, "2.36 USD"));
    cs_buf_free(&b);
    rows[4].currency = "EUR";
    ck_assert_int_eq(cs_spendreport_write(&b, CS_REPORT_CSV, "2026-10", rows, 5), -EINVAL);
    ck_assert_int_eq(cs_spendreport_write(&b, CS_REPORT_FOCUS, "2026-10", rows, 4), -EINVAL);
    cs_buf_free(&b);
    /* an empty period still has its grand total */
    ck_assert_int_eq(cs_spendreport_write(&b, CS_REPORT_CSV, "2026-09", rows, 0), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "grand_total,,,,,,0.00,0.000000000000,"));
    cs_buf_free(&b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("spendreport");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cents_add_up);
    suite_add_tcase(s, tc);
    return s;
}
