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
        {"acme", "api", "gw", "direct", "USD", D("0.004"), 3, "v1", NULL},
        {"acme", "sandbox", "compute", "direct", "USD", D("0.004"), 3, "v1", NULL},
        {"acme", "shared", "support", "shared", "USD", D("0.004"), 1, "v1", NULL},
        {"beta", "sandbox", "compute", "direct", "USD", D("2.335"), 3, "v1", "2026-09"},
        {"beta", "sandbox", "control", "shared", "USD", D("0.01"), 2, "v1", NULL},
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
    cs_buf_free(&b);
    /* an empty period still has its grand total */
    ck_assert_int_eq(cs_spendreport_write(&b, CS_REPORT_CSV, "2026-09", rows, 0), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "grand_total,,,,,,0.00,0.000000000000,"));
    cs_buf_free(&b);
}
END_TEST

/* The allocation as FOCUS rows: exact amounts, the month as charge period
 * (the corrected month for a correction), pool and kind as tags. */
START_TEST(focus_rows)
{
    cs_spendreport_row rows[] = {
        {"acme", "api", "gw", "direct", "USD", D("0.004"), 3, "v1", NULL},
        {"beta", "sandbox", "compute", "direct", "USD", D("2.335"), 3, "v1", "2026-09"},
        {"unallocated", "", "", "no_pool", "USD", D("7.77"), 1, "v1", NULL},
    };
    cs_report_meta meta = {.period = "2026-10", .provider = "P", .issuer = "I"};
    cs_buf b = {0};
    ck_assert_int_eq(cs_spendreport_focus(&b, &meta, "2026-10", rows, 3), 0);
    cs_buf_append(&b, "", 1);
    ck_assert(strncmp(b.data, "BilledCost,BillingAccountId,", 28) == 0);
    ck_assert_ptr_nonnull(strstr(b.data, "0.004,acme,acme,Customer,USD,2026-11-01T00:00:00Z,"
                                         "2026-10-01T00:00:00Z,Usage,,"));
    ck_assert_ptr_nonnull(strstr(b.data, "2.335,beta,beta,Customer,USD,2026-11-01T00:00:00Z,"
                                         "2026-10-01T00:00:00Z,Usage,Correction,"));
    ck_assert_ptr_nonnull(strstr(b.data, "2026-10-01T00:00:00Z,2026-09-01T00:00:00Z")); /* the corrected month */
    ck_assert_ptr_nonnull(strstr(b.data, "\"{\"\"costream/pool\"\":\"\"compute\"\",\"\"costream/allocation\"\":\"\"direct\"\"}\""));
    ck_assert_ptr_nonnull(strstr(b.data, ",1,Months,")); /* one month at the allocated amount */
    ck_assert_ptr_nonnull(strstr(b.data, "unpooled@v1/no_pool"));
    cs_buf_free(&b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("spendreport");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cents_add_up);
    tcase_add_test(tc, focus_rows);
    suite_add_tcase(s, tc);
    return s;
}
