/* finance.c - the finance page (see finance.h). */
#include "finance.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "timestamp.h"

int cs_finance_list_add(cs_finance_list *l, const char *label, const char *name, cs_dec cost,
                        cs_dec list_cost, cs_dec discount)
{
    if (cs_array_reserve(&l->items, &l->cap, l->n + 1, sizeof(*l->items)) < 0)
        return -ENOMEM;
    cs_finance_item *it = &l->items[l->n];
    *it = (cs_finance_item){strdup(label), strdup(name ? name : ""), cost, list_cost, discount};
    if (!it->label || !it->name) {
        free(it->label);
        free(it->name);
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

static void list_clear(cs_finance_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].label);
        free(l->items[i].name);
    }
    free(l->items);
    *l = (cs_finance_list){0};
}

int cs_finance_page_add_period(cs_finance_page *p, const char *period, bool closed)
{
    int64_t a, b;
    if (strlen(period) != 7 || cs_timestamp_month(period, &a, &b) < 0)
        return -EINVAL;
    if (cs_array_reserve(&p->periods, &p->capperiods, p->nperiods + 1, sizeof(*p->periods)) < 0)
        return -ENOMEM;
    cs_finance_period *x = &p->periods[p->nperiods++];
    memcpy(x->period, period, 8);
    x->closed = closed;
    return 0;
}

void cs_finance_page_clear(cs_finance_page *p)
{
    if (!p)
        return;
    list_clear(&p->products);
    list_clear(&p->top);
    list_clear(&p->customers);
    free(p->periods);
    p->periods = NULL;
    p->nperiods = p->capperiods = 0;
}

/* d rounded half-even to cents, with thousands separators ("-1,234.50"). */
static void cents_text(cs_dec d, char grouped[CS_DEC_STRLEN + 16])
{
    char cents[CS_DEC_STRLEN];
    cs_dec_format(cs_dec_round(d, 2), 2, cents, sizeof(cents));
    const char *digits = cents[0] == '-' ? cents + 1 : cents;
    size_t intlen = strcspn(digits, "."), o = 0;
    if (cents[0] == '-')
        grouped[o++] = '-';
    for (size_t i = 0; digits[i]; i++) {
        if (i > 0 && i < intlen && (intlen - i) % 3 == 0)
            grouped[o++] = ',';
        grouped[o++] = digits[i];
    }
    grouped[o] = '\0';
}

/* An amount: rounded half-even to cents with thousands separators, the
 * exact value in title and data-exact. */
static void money(cs_buf *b, const char *id, cs_dec d, const char *currency)
{
    char exact[CS_DEC_STRLEN], grouped[CS_DEC_STRLEN + 16];
    cs_dec_format(d, 12, exact, sizeof(exact));
    cents_text(d, grouped);
    cs_buf_puts(b, "<span class=\"money\"");
    if (id)
        cs_buf_printf(b, " id=\"%s\"", id);
    cs_buf_printf(b, " data-exact=\"%s\" title=\"%s %s (exact)\">%s %s</span>", exact, exact,
                  currency, grouped, currency);
}

void cs_finance_chart(cs_buf *b, const char *id, const char *title, const cs_finance_list *items,
                      const char *currency)
{
    enum { LABEL_W = 220, BAR_W = 360, AMOUNT_W = 170, ROW_H = 26, TOP = 8 };
    cs_dec max = cs_dec_zero();
    for (size_t i = 0; i < items->n; i++)
        if (cs_dec_cmp(items->items[i].cost, max) > 0)
            max = items->items[i].cost;
    size_t h = TOP * 2 + ROW_H * (items->n ? items->n : 1);
    cs_buf_printf(b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" role=\"img\" width=\"%d\""
                  " height=\"%zu\" viewBox=\"0 0 %d %zu\" font-family=\"sans-serif\" font-size=\"13\">"
                  "<title>",
                  id, LABEL_W + BAR_W + AMOUNT_W, h, LABEL_W + BAR_W + AMOUNT_W, h);
    cs_buf_put_html(b, title);
    cs_buf_puts(b, "</title>\n");
    if (items->n == 0)
        cs_buf_printf(b, "<text x=\"0\" y=\"%d\">no usage</text>\n", TOP + 17);
    for (size_t i = 0; i < items->n; i++) {
        const cs_finance_item *it = &items->items[i];
        char exact[CS_DEC_STRLEN], cents[CS_DEC_STRLEN + 16];
        cs_dec_format(it->cost, 12, exact, sizeof(exact));
        cents_text(it->cost, cents);
        long w = 0; /* pixels: binary floating point is fine for a picture */
        if (cs_dec_cmp(max, cs_dec_zero()) > 0 && cs_dec_cmp(it->cost, cs_dec_zero()) > 0)
            w = (long)((double)it->cost.raw / (double)max.raw * BAR_W + 0.5);
        size_t y = TOP + ROW_H * i;
        cs_buf_puts(b, "<g class=\"bar\" data-label=\"");
        cs_buf_put_html(b, it->label);
        cs_buf_printf(b, "\" data-value=\"%s\"><text x=\"%d\" y=\"%zu\" text-anchor=\"end\">", exact,
                      LABEL_W - 8, y + 17);
        cs_buf_put_html(b, it->name[0] ? it->name : it->label);
        cs_buf_printf(b,
                      "</text><rect x=\"%d\" y=\"%zu\" width=\"%ld\" height=\"%d\" fill=\"%s\"/>"
                      "<text x=\"%ld\" y=\"%zu\">%s %s</text></g>\n",
                      LABEL_W, y + 4, w, ROW_H - 8,
                      strcmp(it->label, "other") == 0 || strcmp(it->label, "unattributed") == 0
                          ? "#9aa5b1"
                          : "#2f6fb3",
                      LABEL_W + w + 6, y + 17, cents, currency);
    }
    cs_buf_puts(b, "</svg>\n");
}

static void head(cs_buf *b, const cs_finance_page *p)
{
    cs_buf_printf(b,
                  "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width\">"
                  "<title>costream: %s</title><style>"
                  "body{font-family:sans-serif;margin:2em;color:#1f2933;max-width:1100px}"
                  "td,th{padding:.3em .9em;text-align:left}td.n,th.n{text-align:right}"
                  "dl.glance{display:grid;grid-template-columns:repeat(4,1fr);gap:.5em 2em}"
                  "dl.glance dt{color:#52606d;font-size:.9em}dl.glance dd{margin:0;font-size:1.4em}"
                  "table{border-collapse:collapse}tr:nth-child(even){background:#f5f7fa}"
                  "nav a{margin-right:1em}section{margin:1.5em 0}"
                  "</style></head><body>\n<h1>Costs for %s</h1>\n<p id=\"scope\">",
                  p->period, p->period);
    if (p->customer) {
        cs_buf_puts(b, "Customer <b>");
        cs_buf_put_html(b, p->customer);
        cs_buf_puts(b, "</b> only.");
    } else {
        cs_buf_puts(b, "All customers (finance).");
    }
    cs_buf_puts(b, " Amounts are rounded to cents; hover for the exact stored value.</p>\n");
}

static void glance(cs_buf *b, const cs_finance_page *p)
{
    const char *cur = p->currency;
    cs_dec change;
    cs_buf_puts(b, "<section><dl class=\"glance\">\n<div><dt>Billed</dt><dd>");
    money(b, "billed", p->billed, cur);
    cs_buf_puts(b, "</dd></div>\n<div><dt>List price</dt><dd>");
    money(b, "list", p->list_cost, cur);
    cs_buf_puts(b, "</dd></div>\n<div><dt>Discounts</dt><dd>");
    money(b, "discount", p->discount, cur);
    cs_buf_puts(b, "</dd></div>\n");
    if (!p->customer) {
        cs_buf_puts(b, "<div><dt>Unattributed</dt><dd>");
        money(b, "unattributed", p->unattributed, cur);
        cs_buf_puts(b, "</dd></div>\n");
    }
    cs_buf_puts(b, "<div><dt>Previous period, to the same point of its month</dt><dd>");
    money(b, "previous-same-point", p->previous_same_point, cur);
    cs_buf_puts(b, "</dd></div>\n<div><dt>Change</dt><dd>");
    if (cs_dec_sub(p->billed, p->previous_same_point, &change) < 0)
        change = cs_dec_zero();
    money(b, "change", change, cur);
    cs_buf_puts(b, "</dd></div>\n<div><dt>Previous period, whole</dt><dd>");
    money(b, "previous", p->previous, cur);
    cs_buf_puts(b, "</dd></div>\n</dl></section>\n");
}

static void customers_table(cs_buf *b, const cs_finance_page *p)
{
    long pages = (p->ncustomers + CS_FINANCE_PAGE_ROWS - 1) / CS_FINANCE_PAGE_ROWS;
    cs_buf_printf(b,
                  "<section><h2>Customers</h2><p>%ld customers; page %d of %ld.</p>\n"
                  "<table id=\"customers\"><tr><th>Customer</th><th>Name</th><th class=\"n\">Billed</th>"
                  "<th class=\"n\">List price</th><th class=\"n\">Discount</th></tr>\n",
                  p->ncustomers, p->page, pages > 0 ? pages : 1);
    for (size_t i = 0; i < p->customers.n; i++) {
        const cs_finance_item *it = &p->customers.items[i];
        cs_buf_puts(b, "<tr><td>");
        cs_buf_put_html(b, it->label);
        cs_buf_puts(b, "</td><td>");
        cs_buf_put_html(b, it->name);
        cs_buf_puts(b, "</td><td class=\"n\">");
        money(b, NULL, it->cost, p->currency);
        cs_buf_puts(b, "</td><td class=\"n\">");
        money(b, NULL, it->list_cost, p->currency);
        cs_buf_puts(b, "</td><td class=\"n\">");
        money(b, NULL, it->discount, p->currency);
        cs_buf_puts(b, "</td></tr>\n");
    }
    cs_buf_puts(b, "</table>\n<nav id=\"pages\">");
    if (p->page > 1)
        cs_buf_printf(b, "<a rel=\"prev\" href=\"/?period=%s&amp;page=%d\">previous page</a>",
                      p->period, p->page - 1);
    if (p->page < pages)
        cs_buf_printf(b, "<a rel=\"next\" href=\"/?period=%s&amp;page=%d\">next page</a>",
                      p->period, p->page + 1);
    cs_buf_puts(b, "</nav></section>\n");
}

static void periods(cs_buf *b, const cs_finance_page *p)
{
    cs_buf_puts(b, "<section><h2>Periods and downloads</h2>\n<table id=\"periods\"><tr><th>Billing"
                   " period</th><th>Status</th><th colspan=\"6\">Download</th></tr>\n");
    for (size_t i = 0; i < p->nperiods; i++) {
        const char *x = p->periods[i].period;
        cs_buf_printf(b,
                      "<tr><td><a href=\"/?period=%s\">%s</a></td><td>%s</td>"
                      "<td><a href=\"/reports/chargeback?period=%s&amp;format=csv\">CSV</a></td>"
                      "<td><a href=\"/reports/chargeback?period=%s&amp;format=csv&amp;excel=1\">CSV"
                      " for Excel</a></td>"
                      "<td><a href=\"/reports/chargeback?period=%s&amp;format=json\">JSON</a></td>"
                      "<td><a href=\"/reports/chargeback?period=%s&amp;format=table\">text</a></td>"
                      "<td><a href=\"/reports/focus?period=%s\">FOCUS CSV</a></td>",
                      x, x, p->periods[i].closed ? "closed" : "open", x, x, x, x, x);
        if (p->hide_spend)
            cs_buf_puts(b, "<td></td></tr>\n");
        else
            cs_buf_printf(b,
                          "<td><a href=\"/reports/spend?period=%s&amp;format=csv\">infrastructure"
                          " spend CSV</a></td></tr>\n",
                          x);
    }
    cs_buf_puts(b, "</table></section>\n");
}

void cs_finance_render(cs_buf *b, const cs_finance_page *p)
{
    head(b, p);
    if (!p->currency[0]) {
        cs_buf_printf(b, "<p id=\"empty\">No usage in %s.</p>\n", p->period);
    } else {
        glance(b, p);
        cs_buf_puts(b, "<section><h2>Cost per product</h2>\n");
        cs_finance_chart(b, "chart-products", "Cost per product", &p->products, p->currency);
        cs_buf_puts(b, "</section>\n");
        if (!p->customer) {
            cs_buf_puts(b, "<section><h2>Top customers</h2>\n");
            cs_finance_chart(b, "chart-customers", "Top customers and other", &p->top,
                             p->currency);
            cs_buf_puts(b, "</section>\n");
            customers_table(b, p);
        }
    }
    periods(b, p);
    cs_buf_puts(b, "</body></html>\n");
}
