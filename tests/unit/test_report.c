/* Unit tests for src/report.c: per-line rounding to the minor unit (half to
 * even), subtotals as sums of rounded lines, reconciliation against the
 * stored total, JSON validity, FOCUS columns, minor units. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "csv.h"
#include "report.h"
#include "timestamp.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static cs_report_row row(const char *customer, const char *product, const char *list,
                         const char *cost)
{
    cs_dec l = D(list), c = D(cost), d;
    cs_dec_sub(l, c, &d);
    return (cs_report_row){.customer = customer, .customer_name = customer, .product = product,
                           .meter = "m", .unit = "u", .currency = "USD", .plan = "pro",
                           .quantity = D("10"), .unit_price = D("0.1"), .discount_rate = D("0.1"),
                           .list_cost = l, .discount = d, .cost = c, .events = 3,
                           .rule_id = "r", .rules_version = "v"};
}

static cs_report_meta meta = {.period = "2026-11", .provider = "P", .issuer = "I"};

/* The total rounded once, handed out to customers and then to lines by
 * largest remainder.  Worked by hand: lines a1 0.125, a2 0.135, b1 1.005
 * (discount 0.110).  Total 1.265 -> 1.26 (half even).  Customers: a 0.260,
 * b 1.005 -> floors 0.26 + 1.00 = 1.26, nothing left over.  a's lines:
 * floors 0.12 + 0.13 = 0.25, one cent left, remainders tie at 0.005 -> the
 * first line: 0.13 and 0.13.  Discounts: b1 0.11.  list = billed + discount. */
START_TEST(csv_rounding_and_totals)
{
    cs_report *r = cs_report_new(CS_REPORT_CSV, &meta);
    cs_buf b = {0};
    cs_report_begin(r, &b);
    cs_report_row a1 = row("a", "p1", "0.125", "0.125");
    cs_report_row a2 = row("a", "p2", "0.135", "0.135");
    cs_report_row b1 = row("b", "p1", "1.115", "1.005");
    ck_assert_int_eq(cs_report_add(r, &a1, &b), 0);
    ck_assert_int_eq(cs_report_add(r, &a2, &b), 0);
    ck_assert_int_eq(cs_report_add(r, &b1, &b), 0);
    cs_report_stored st = {"USD", D("1.265")};
    ck_assert_int_eq(cs_report_end(r, &st, 1, &b), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "line,a,a,p1,m,u,10,0.1,pro,0.1,0.13,0.00,0.13,USD,,,3,0.125000000000\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "line,a,a,p2,m,u,10,0.1,pro,0.1,0.13,0.00,0.13,USD,,,3,0.135000000000\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "line,b,b,p1,m,u,10,0.1,pro,0.1,1.11,0.11,1.00,USD,,,3,1.005000000000\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "customer_total,a,a,,,,,,,,0.26,0.00,0.26,USD,,,6,0.260000000000\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "product_total,,,p1,,,,,,,1.24,0.11,1.13,USD,,,6,1.130000000000\r\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "grand_total,,,,,,,,,,1.37,0.11,1.26,USD,,,9,1.265000000000\r\n"));
    cs_report_free(r);
    cs_buf_free(&b);
}
END_TEST

/* Sums of the rounded billed_cost column by row type, in cents. */
static void csv_sums(const char *csv, long *lines, long *customers, long *grand, int *zero_lines)
{
    *lines = *customers = *grand = 0;
    *zero_lines = 0;
    for (const char *p = csv; (p = strchr(p, '\n')) != NULL;) {
        p++;
        char type[32];
        if (sscanf(p, "%31[^,]", type) != 1)
            continue;
        const char *c = p;
        for (int k = 0; k < 12 && c; k++) /* billed_cost is the 13th column */
            c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
        long units = 0, cents = 0;
        if (!c || sscanf(c, "%ld.%ld", &units, &cents) != 2)
            continue;
        long v = units * 100 + cents;
        if (strcmp(type, "line") == 0) {
            *lines += v;
            *zero_lines += v == 0;
        } else if (strcmp(type, "customer_total") == 0) {
            *customers += v;
        } else if (strcmp(type, "grand_total") == 0) {
            *grand += v;
        }
    }
}

/* The case: many lines under a cent.  Each alone rounds to 0.00
 * and the old report's TOTAL sat below the stored one; now lines add up to
 * subtotals and subtotals to the exact total rounded once: 40 customers
 * with 7 lines of 0.0043 and one of 0.011 each: exact 40 x 0.0411 = 1.644
 * -> 1.64. */
START_TEST(cents_add_up)
{
    cs_report *r = cs_report_new(CS_REPORT_CSV, &meta);
    cs_buf b = {0};
    cs_report_begin(r, &b);
    char cust[16], prod[16];
    for (int c = 0; c < 40; c++)
        for (int l = 0; l < 8; l++) {
            snprintf(cust, sizeof(cust), "c%02d", c);
            snprintf(prod, sizeof(prod), "p%d", l);
            const char *v = l == 7 ? "0.011" : "0.0043";
            cs_report_row x = row(cust, prod, v, v);
            ck_assert_int_eq(cs_report_add(r, &x, &b), 0);
        }
    cs_report_stored st = {"USD", D("1.644")};
    ck_assert_int_eq(cs_report_end(r, &st, 1, &b), 0);
    cs_buf_append(&b, "", 1);
    long lines, customers, grand;
    int zero;
    csv_sums(b.data, &lines, &customers, &grand, &zero);
    ck_assert_int_eq(grand, 164);
    ck_assert_int_eq(customers, 164);
    ck_assert_int_eq(lines, 164);
    ck_assert_int_lt(zero, 40 * 8); /* not every line a silent zero */
    cs_report_free(r);
    cs_buf_free(&b);
}
END_TEST

/* A customer's lines are the same in its own report as in the full one:
 * both hand out the cents from the same base.  Three customers of 0.005:
 * total 0.015 -> 0.02 (half even), the two cents to the first two. */
START_TEST(customer_report_matches_full)
{
    cs_report_subtotal base[] = {{"a", "USD", D("0.005"), D("0")},
                                 {"b", "USD", D("0.005"), D("0")},
                                 {"c", "USD", D("0.005"), D("0")}};
    const char *want[] = {"0.01", "0.01", "0.00"};
    for (int who = 0; who < 3; who++) {
        cs_report *r = cs_report_new(CS_REPORT_TABLE, &meta);
        cs_buf b = {0};
        ck_assert_int_eq(cs_report_set_base(r, base, 3), 0);
        cs_report_begin(r, &b);
        cs_report_row x = row(base[who].customer, "p", "0.005", "0.005");
        ck_assert_int_eq(cs_report_add(r, &x, &b), 0);
        ck_assert_int_eq(cs_report_end(r, NULL, 0, &b), 0);
        cs_buf_append(&b, "", 1);
        char total[64];
        snprintf(total, sizeof(total), "%s%s  USD\n", want[who], who == 2 ? "*" : "");
        ck_assert_msg(strstr(b.data, total) != NULL, "customer %d: %s", who, b.data);
        if (who == 2) /* under a cent: marked, and said */
            ck_assert_ptr_nonnull(strstr(b.data, "* under one minor unit"));
        cs_report_free(r);
        cs_buf_free(&b);
    }
    /* a base listing a customer twice is refused */
    cs_report *r = cs_report_new(CS_REPORT_CSV, &meta);
    cs_report_subtotal twice[] = {base[0], base[0]};
    ck_assert_int_eq(cs_report_set_base(r, twice, 2), -EINVAL);
    cs_report_free(r);
}
END_TEST

/* Rows of one customer in two runs: the input was not grouped. */
START_TEST(ungrouped_rows_refused)
{
    cs_report_subtotal base[] = {{"a", "USD", D("2"), D("0")}, {"b", "USD", D("1"), D("0")}};
    cs_report *r = cs_report_new(CS_REPORT_CSV, &meta);
    cs_buf b = {0};
    ck_assert_int_eq(cs_report_set_base(r, base, 2), 0);
    cs_report_begin(r, &b);
    cs_report_row a = row("a", "p", "1", "1"), x = row("b", "p", "1", "1");
    ck_assert_int_eq(cs_report_add(r, &a, &b), 0);
    ck_assert_int_eq(cs_report_add(r, &x, &b), 0);
    ck_assert_int_eq(cs_report_add(r, &a, &b), 0);
    ck_assert_int_eq(cs_report_end(r, NULL, 0, &b), -EDOM);
    cs_report_free(r);
    cs_buf_free(&b);
}
END_TEST

/* A month without usage says so and still has its totals, at zero. */
START_TEST(empty_period)
{
    static const cs_report_format fmts[] = {CS_REPORT_CSV, CS_REPORT_JSON, CS_REPORT_TABLE};
    static const char *const want[] = {"grand_total,,,,,,,,,,0.00,0.00,0.00,,,,0,0.000000000000\r\n",
                                       "\"totals\":[{", "No usage in 2026-11."};
    for (size_t i = 0; i < 3; i++) {
        cs_report *r = cs_report_new(fmts[i], &meta);
        cs_buf b = {0};
        cs_report_begin(r, &b);
        ck_assert_int_eq(cs_report_end(r, NULL, 0, &b), 0);
        ck_assert_msg(strstr(b.data, want[i]) != NULL, "%s", b.data);
        if (fmts[i] == CS_REPORT_JSON) {
            json_error_t e;
            json_t *j = json_loads(b.data, 0, &e);
            ck_assert_ptr_nonnull(j);
            ck_assert(json_array_size(json_object_get(j, "totals")) == 1 &&
                      json_is_false(json_object_get(j, "usage")));
            json_decref(j);
        }
        if (fmts[i] == CS_REPORT_TABLE)
            ck_assert_ptr_nonnull(strstr(b.data, "TOTAL"));
        cs_report_free(r);
        cs_buf_free(&b);
    }
}
END_TEST

START_TEST(reconciliation_failure)
{
    cs_report *r = cs_report_new(CS_REPORT_JSON, &meta);
    cs_buf b = {0};
    cs_report_begin(r, &b);
    cs_report_row a = row("a", "p", "1", "1");
    cs_report_add(r, &a, &b);
    cs_report_stored st = {"USD", D("1.000000000001")};
    ck_assert_int_eq(cs_report_end(r, &st, 1, &b), -EDOM);
    json_error_t e;
    json_t *j = json_loads(b.data, 0, &e);
    ck_assert_msg(j != NULL, "invalid JSON: %s", e.text);
    ck_assert(json_is_false(json_object_get(j, "reconciled")));
    ck_assert_int_eq((int)json_array_size(json_object_get(j, "lines")), 1);
    json_decref(j);
    cs_report_free(r);
    cs_buf_free(&b);
}
END_TEST

/* The cell of column name in a FOCUS export of one row (header, row). */
static const char *cell(const char *csv, const char *name)
{
    static char value[1024];
    cs_csv_reader rd = {0};
    const char *const *h, *const *v;
    size_t nh, nv, line;
    cs_csv_reader_init(&rd, csv, strlen(csv));
    ck_assert_int_eq(cs_csv_read(&rd, &h, &nh, &line), 1);
    char names[64][40];
    for (size_t i = 0; i < nh && i < 64; i++)
        snprintf(names[i], sizeof(names[i]), "%s", h[i]);
    ck_assert_int_eq(cs_csv_read(&rd, &v, &nv, &line), 1);
    ck_assert_uint_eq(nh, nv);
    const char *found = NULL;
    for (size_t i = 0; i < nh && !found; i++)
        if (strcmp(names[i], name) == 0)
            found = v[i];
    if (found)
        snprintf(value, sizeof(value), "%s", found);
    cs_csv_reader_free(&rd);
    return found ? value : NULL;
}

static void services(void *opaque, const char *product, cs_report_service *ret)
{
    (void)opaque;
    if (strcmp(product, "p") == 0)
        *ret = (cs_report_service){"Compute", "Containers"};
}

/* One correction row in FOCUS 1.4 (the default) and 1.2: every value, the
 * exact contracted price past 12 decimals, FOCUS units. */
START_TEST(focus_row)
{
    for (int v = 0; v < 2; v++) {
        cs_report_meta m = meta;
        m.service = services;
        m.focus_version = v ? CS_FOCUS_1_2 : CS_FOCUS_1_4;
        cs_report *r = cs_report_new(CS_REPORT_FOCUS, &m);
        cs_buf b = {0};
        cs_report_begin(r, &b);
        cs_report_row x = row("=cmd", "p", "0.5", "0.45");
        x.unit = "GiB-hour";
        x.unit_price = D("0.000000000078"); /* with 10 % off: 0.0000000000702 */
        x.quantity = D("1234.5");
        cs_timestamp_parse("2026-12-31T23:00:00Z", 20, &x.hour_usec);
        cs_timestamp_parse("2026-12-01T00:00:00Z", 20, &x.billing_period_usec);
        x.correction_of = "2026-11";
        ck_assert_int_eq(cs_report_add(r, &x, &b), 0);
        ck_assert_int_eq(cs_report_end(r, NULL, 0, &b), 0);
        cs_buf_append(&b, "", 1);
        static const char *const both[][2] = {
            {"BilledCost", "0.45"}, {"BillingAccountId", "'=cmd"}, {"BillingCurrency", "USD"},
            {"BillingPeriodStart", "2026-12-01T00:00:00Z"}, {"BillingPeriodEnd", "2027-01-01T00:00:00Z"},
            {"ChargePeriodStart", "2026-12-31T23:00:00Z"}, {"ChargePeriodEnd", "2027-01-01T00:00:00Z"},
            {"ChargeCategory", "Usage"}, {"ChargeClass", "Correction"}, {"ChargeFrequency", "Usage-Based"},
            {"ConsumedQuantity", "1234.5"}, {"ConsumedUnit", "GiB-Hours"}, {"PricingUnit", "GiB-Hours"},
            {"ContractedUnitPrice", "0.0000000000702"}, {"ContractedCost", "0.0000000866619"},
            {"ListUnitPrice", "0.000000000078"}, {"ListCost", "0.5"}, {"EffectiveCost", "0.45"},
            {"PricingCategory", "Standard"}, {"ServiceCategory", "Compute"},
            {"ServiceSubcategory", "Containers"}, {"ServiceName", "p"}, {"SkuId", "r"},
            {"SkuPriceId", "r@v/pro"}, {"SubAccountId", ""}, {"InvoiceIssuerName", "I"},
            {"x_CorrectionOfPeriod", "2026-11"}, {"x_Events", "3"}};
        for (size_t k = 0; k < sizeof(both) / sizeof(both[0]); k++) {
            const char *got = cell(b.data, both[k][0]);
            ck_assert_msg(got && strcmp(got, both[k][1]) == 0, "%s %s: %s, want %s",
                          v ? "1.2" : "1.4", both[k][0], got ? got : "(missing)", both[k][1]);
        }
        static const char *const only14[] = {"ServiceProviderName", "HostProviderName", "InvoiceId",
                                             "BillingAccountType", "SkuMeter"};
        static const char *const only12[] = {"ProviderName", "PublisherName"};
        for (size_t k = 0; k < 5; k++)
            ck_assert_msg((cell(b.data, only14[k]) != NULL) == (v == 0), "%s", only14[k]);
        for (size_t k = 0; k < 2; k++)
            ck_assert_msg((cell(b.data, only12[k]) != NULL) == (v == 1), "%s", only12[k]);
        if (v == 0) {
            ck_assert_str_eq(cell(b.data, "InvoiceId"), "2026-12-=cmd");
            ck_assert_str_eq(cell(b.data, "ServiceProviderName"), "P");
            ck_assert_str_eq(cell(b.data, "BillingAccountType"), "Customer");
        }
        cs_report_free(r);
        cs_buf_free(&b);
    }
}
END_TEST

/* The text report fits 1280 px (160 columns) whatever the names: long
 * text cells are cut between characters with "~", numbers never; the
 * footer is wrapped. */
START_TEST(table_fits_1280px)
{
    cs_report *r = cs_report_new(CS_REPORT_TABLE, &meta);
    cs_buf b = {0};
    cs_report_begin(r, &b);
    char longname[300], product[200];
    memset(longname, 'c', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    snprintf(product, sizeof(product), "%s", "agent-orchestration-with-a-very-long-product-name");
    cs_report_row x = row(longname, product, "123456.125", "123456.125");
    x.meter = "meter-name-that-goes-on-and-on-and-on";
    x.quantity = D("12345678901234.123456789012");
    ck_assert_int_eq(cs_report_add(r, &x, &b), 0);
    ck_assert_int_eq(cs_report_end(r, NULL, 0, &b), 0);
    cs_buf_append(&b, "", 1);
    size_t widest = 0;
    for (const char *p = b.data; *p;) {
        size_t n = strcspn(p, "\n");
        widest = n > widest ? n : widest;
        p += n + (p[n] == '\n');
    }
    ck_assert_uint_le(widest, 160);
    ck_assert_ptr_nonnull(strstr(b.data, "ccccccccccccccccccc~"));
    ck_assert_ptr_nonnull(strstr(b.data, "12345678901234.123456789012")); /* whole */
    ck_assert_ptr_nonnull(strstr(b.data, "123456.12")); /* 123456.125, half-even: the total rounded once */
    cs_report_free(r);
    cs_buf_free(&b);
}
END_TEST

START_TEST(minor_units)
{
    ck_assert_int_eq(cs_report_minor_units("USD"), 2);
    ck_assert_int_eq(cs_report_minor_units("JPY"), 0);
    ck_assert_int_eq(cs_report_minor_units("KWD"), 3);
    cs_report_format f;
    ck_assert_int_eq(cs_report_format_parse("focus", &f), 0);
    ck_assert_int_eq(f, CS_REPORT_FOCUS);
    ck_assert_int_lt(cs_report_format_parse("xls", &f), 0);
}
END_TEST

START_TEST(focus_tags_whole)
{
    /* a cost centre of 1,200 bytes (400 CJK characters) with quotes and a
     * backslash: Tags must stay one valid JSON object holding it whole */
    char cc[1300] = "\"q\\";
    for (int i = 0; i < 400; i++)
        strcat(cc, "\xe7\xb5\x8c");
    cs_report *r = cs_report_new(CS_REPORT_FOCUS, &meta);
    cs_buf b = {0};
    cs_report_begin(r, &b);
    cs_report_row x = row("a", "p1", "1", "1");
    x.cost_center = cc;
    ck_assert_int_eq(cs_report_add(r, &x, &b), 0);
    ck_assert(!b.failed);
    /* the Tags cell: find the quoted field that starts with {"costream/plan" */
    const char *start = strstr(b.data, "\"{\"\"costream/plan");
    ck_assert_ptr_nonnull(start);
    cs_buf cell = {0};
    const char *p = start + 1;
    for (; *p && !(p[0] == '"' && p[1] != '"'); p++) {
        if (p[0] == '"' && p[1] == '"')
            p++; /* a doubled quote is one quote */
        cs_buf_append(&cell, p, 1);
    }
    cs_buf_append(&cell, "", 1);
    json_error_t je;
    json_t *tags = json_loads(cell.data, 0, &je);
    ck_assert_msg(tags != NULL, "Tags is not JSON: %s", je.text);
    ck_assert_str_eq(json_string_value(json_object_get(tags, "costream/cost_center")), cc);
    ck_assert_str_eq(json_string_value(json_object_get(tags, "costream/plan")), "pro");
    json_decref(tags);
    cs_buf_free(&cell);
    cs_buf_free(&b);
    cs_report_free(r);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, csv_rounding_and_totals);
    tcase_add_test(tc, cents_add_up);
    tcase_add_test(tc, customer_report_matches_full);
    tcase_add_test(tc, ungrouped_rows_refused);
    tcase_add_test(tc, empty_period);
    tcase_add_test(tc, focus_tags_whole);
    tcase_add_test(tc, reconciliation_failure);
    tcase_add_test(tc, focus_row);
    tcase_add_test(tc, minor_units);
    tcase_add_test(tc, table_fits_1280px);
    suite_add_tcase(s, tc);
    return s;
}
