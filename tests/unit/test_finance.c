/* Unit tests for src/finance.c: amounts to the cent with the exact value
 * kept, bars proportional to the exact values, HTML escaping of names,
 * the customer scope, paging links, and the empty period. */
#include <errno.h>
#include <string.h>

#include "finance.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static void fill(cs_finance_page *p, const char *customer)
{
    memset(p, 0, sizeof(*p));
    memcpy(p->period, "2026-11", 8);
    memcpy(p->currency, "USD", 4);
    p->customer = customer;
    p->billed = D("1234567.125");
    p->list_cost = D("1300000");
    p->discount = D("65432.875");
    p->unattributed = D("0.004999");
    p->previous_same_point = D("1000000");
    p->previous = D("2000000.5");
    p->page = 2;
    p->ncustomers = 120;
    ck_assert_int_eq(cs_finance_list_add(&p->products, "api", "", D("300"), D("300"), D("0")), 0);
    ck_assert_int_eq(cs_finance_list_add(&p->products, "sandbox", "", D("100"), D("100"), D("0")), 0);
    ck_assert_int_eq(cs_finance_list_add(&p->top, "c1", "<script>x</script>", D("50"), D("50"), D("0")), 0);
    ck_assert_int_eq(cs_finance_list_add(&p->top, "other", "", D("25"), D("25"), D("0")), 0);
    ck_assert_int_eq(cs_finance_list_add(&p->customers, "c1", "O'Brien & \"Co\"", D("50"), D("55"), D("5")), 0);
    ck_assert_int_eq(cs_finance_page_add_period(p, "2026-11", false), 0);
    ck_assert_int_eq(cs_finance_page_add_period(p, "2026-10", true), 0);
    ck_assert_int_eq(cs_finance_page_add_period(p, "2026-13", true), -EINVAL);
}

START_TEST(finance_scope)
{
    cs_finance_page p;
    cs_buf b = {0};
    fill(&p, NULL);
    cs_finance_render(&b, &p);
    ck_assert(!b.failed);
    /* rounded half-even to cents, grouped; the exact value kept */
    ck_assert_ptr_nonnull(strstr(b.data, "id=\"billed\" data-exact=\"1234567.125000000000\""));
    ck_assert_ptr_nonnull(strstr(b.data, ">1,234,567.12 USD<"));
    ck_assert_ptr_nonnull(strstr(b.data, ">65,432.88 USD<"));
    ck_assert_ptr_nonnull(strstr(b.data, "id=\"unattributed\" data-exact=\"0.004999000000\""));
    ck_assert_ptr_nonnull(strstr(b.data, ">0.00 USD<"));
    /* change = billed - previous to the same point */
    ck_assert_ptr_nonnull(strstr(b.data, "id=\"change\" data-exact=\"234567.125000000000\""));
    /* bars: 300 is the longest (360 px), 100 a third */
    ck_assert_ptr_nonnull(strstr(b.data, "data-label=\"api\" data-value=\"300.000000000000\""));
    ck_assert_ptr_nonnull(strstr(b.data, "width=\"360\""));
    ck_assert_ptr_nonnull(strstr(b.data, "width=\"120\""));
    ck_assert_ptr_nonnull(strstr(b.data, "id=\"chart-customers\""));
    /* names are text */
    ck_assert_ptr_null(strstr(b.data, "<script>"));
    ck_assert_ptr_nonnull(strstr(b.data, "&lt;script&gt;x&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(b.data, "O&#39;Brien &amp; &quot;Co&quot;"));
    /* page 2 of 3: both links */
    ck_assert_ptr_nonnull(strstr(b.data, "page 2 of 3"));
    ck_assert_ptr_nonnull(strstr(b.data, "href=\"/?period=2026-11&amp;page=1\""));
    ck_assert_ptr_nonnull(strstr(b.data, "href=\"/?period=2026-11&amp;page=3\""));
    ck_assert_ptr_nonnull(strstr(b.data, "/reports/focus?period=2026-10"));
    ck_assert_ptr_nonnull(strstr(b.data, "<td>closed</td>"));
    cs_buf_free(&b);
    cs_finance_page_clear(&p);
    cs_finance_page_clear(NULL);
}
END_TEST

START_TEST(customer_scope_and_empty)
{
    cs_finance_page p;
    cs_buf b = {0};
    fill(&p, "c<1>");
    cs_finance_render(&b, &p);
    ck_assert_ptr_null(strstr(b.data, "id=\"unattributed\""));
    ck_assert_ptr_null(strstr(b.data, "chart-customers"));
    ck_assert_ptr_null(strstr(b.data, "id=\"customers\""));
    ck_assert_ptr_nonnull(strstr(b.data, "Customer <b>c&lt;1&gt;</b> only."));
    cs_buf_free(&b);
    cs_finance_page_clear(&p);

    cs_finance_page e = {0};
    memcpy(e.period, "2026-09", 8);
    cs_finance_render(&b, &e);
    ck_assert_ptr_nonnull(strstr(b.data, "No usage in 2026-09."));
    ck_assert_ptr_null(strstr(b.data, "<svg"));
    cs_buf_free(&b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("finance");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, finance_scope);
    tcase_add_test(tc, customer_scope_and_empty);
    suite_add_tcase(s, tc);
    return s;
}
