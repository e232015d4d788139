/* Unit tests for src/bill.c: the FOCUS header (columns by name, any order,
 * mandatory ones named when missing), costs (signs, exponents, rounding),
 * currencies, charge categories, periods, tags, every column kept, and bad
 * lines reported with their line and column while reading goes on. */
#include <errno.h>
#include <string.h>

#include "bill.h"
#include "unit.h"

static const char *fmt(cs_dec d)
{
    static char buf[4][CS_DEC_STRLEN];
    static int k;
    k = (k + 1) % 4;
    cs_dec_format(d, 12, buf[k], sizeof(buf[k]));
    return buf[k];
}

START_TEST(header)
{
    cs_bill *b;
    cs_bill_error e;
    const char no_cost[] = "ServiceName,BillingCurrency,ChargeCategory,ChargePeriodStart\n";
    ck_assert_int_eq(cs_bill_open(no_cost, sizeof(no_cost) - 1, &b, &e), -EINVAL);
    ck_assert_ptr_null(b);
    ck_assert_int_eq((int)e.line, 1);
    ck_assert_str_eq(e.reason, "missing mandatory FOCUS columns: BilledCost, ChargePeriodEnd");
    ck_assert_int_eq(cs_bill_open("", 0, &b, &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.reason, "empty"));
}
END_TEST

START_TEST(lines)
{
    const char text[] =
        "x_Team,ChargePeriodEnd,BilledCost,EffectiveCost,BillingCurrency,ChargeCategory,"
        "ChargePeriodStart,ServiceName,Tags,BillingPeriodStart,ResourceId\r\n"
        "core,2026-11-01T01:00:00Z,1.5E-05,,USD,Usage,2026-11-01T00:00:00Z,EC2,"
        "\"{\"\"cluster\"\":\"\"sandbox\"\",\"\"app\"\":\"\"x\"\"}\",2026-11-01T00:00:00Z,i-1\r\n"
        "\r\n"
        "core,2026-12-01T00:00:00Z,-12.3456789012345,-10,USD,Credit,2026-11-01T00:00:00Z,EC2,,"
        "2026-11-01T00:00:00Z,\r\n"
        "core,2026-11-02T00:00:00Z,1,1,XXX,Usage,2026-11-01T00:00:00Z,EC2,,,\r\n"
        "core,2026-11-02T00:00:00Z,ten,1,USD,Usage,2026-11-01T00:00:00Z,EC2,,,\r\n"
        "core,2026-11-02T00:00:00Z,1,1,USD,Refund,2026-11-01T00:00:00Z,EC2,,,\r\n"
        "core,2026-11-01T00:00:00Z,1,1,USD,Usage,2026-11-02T00:00:00Z,EC2,,,\r\n"
        "core,2026-11-02T00:00:00Z,1,1,USD,Usage,2026-11-01T00:00:00Z,EC2,[1],,\r\n"
        "core,1,2\r\n"
        "core,2026-10-31T23:00:00Z,2,2,EUR,Tax,2026-10-31T22:00:00Z,Support,,,\r\n";
    cs_bill *b;
    cs_bill_error e;
    cs_bill_line l;
    ck_assert_int_eq(cs_bill_open(text, sizeof(text) - 1, &b, &e), 0);
    ck_assert_int_eq(cs_bill_next(b, &l, &e), 1);
    ck_assert_int_eq((int)l.line, 2);
    ck_assert_str_eq(fmt(l.billed), "0.000015000000");
    ck_assert_str_eq(fmt(l.effective), "0.000015000000"); /* defaults to BilledCost */
    ck_assert_str_eq(l.tags_json, "{\"app\":\"x\",\"cluster\":\"sandbox\"}");
    ck_assert_str_eq(l.resource_id, "i-1");
    ck_assert_ptr_nonnull(strstr(l.columns_json, "\"x_Team\":\"core\""));
    ck_assert_int_eq(l.end_usec - l.start_usec, INT64_C(3600000000));
    ck_assert_int_eq(cs_bill_next(b, &l, &e), 1); /* the blank line is skipped */
    ck_assert_int_eq((int)l.line, 4);
    ck_assert_str_eq(fmt(l.billed), "-12.345678901234"); /* half to even at 12 places */
    ck_assert_str_eq(fmt(l.effective), "-10.000000000000");
    ck_assert_str_eq(l.category, "Credit");
    ck_assert_str_eq(l.tags_json, "{}");
    static const struct { int line; const char *column, *needle; } bad[] = {
        {5, "BillingCurrency", "ISO 4217"}, {6, "BilledCost", "decimal"},
        {7, "ChargeCategory", "charge category"}, {8, "ChargePeriodEnd", "before"},
        {9, "Tags", "JSON object"}, {10, "", "3 fields where the header has 11"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(cs_bill_next(b, &l, &e), -EINVAL);
        ck_assert_int_eq((int)e.line, bad[i].line);
        ck_assert_str_eq(e.column, bad[i].column);
        ck_assert_msg(strstr(e.reason, bad[i].needle), "line %d: %s", bad[i].line, e.reason);
    }
    ck_assert_int_eq(cs_bill_next(b, &l, &e), 1);
    ck_assert_str_eq(l.currency, "EUR");
    /* no BillingPeriodStart: the month of ChargePeriodStart (October) */
    ck_assert_int_eq(l.period_usec, INT64_C(1790812800000000));
    ck_assert_int_eq(cs_bill_next(b, &l, &e), 0);
    cs_bill_free(b);
    cs_bill_free(NULL);
    ck_assert(cs_bill_currency_known("JPY") && !cs_bill_currency_known("usd"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("bill");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, header);
    tcase_add_test(tc, lines);
    suite_add_tcase(s, tc);
    return s;
}
