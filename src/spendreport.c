/* spendreport.c - the allocated-spend report (see spendreport.h). */
#include "spendreport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "csv.h"
#include "timestamp.h"

typedef struct sums {
    const cs_spendreport_row *rows;
    const cs_dec *cents;
    size_t n;
    int places;
    const char *currency;
} sums;

/* The customer subtotal of rows [i, end): end is returned. */
static size_t customer_block(const sums *s, size_t i, cs_dec *ret_cents, cs_dec *ret_exact)
{
    size_t j = i;
    *ret_cents = *ret_exact = cs_dec_zero();
    for (; j < s->n && strcmp(s->rows[j].customer, s->rows[i].customer) == 0; j++) {
        cs_dec_add(*ret_cents, s->cents[j], ret_cents);
        cs_dec_add(*ret_exact, s->rows[j].amount, ret_exact);
    }
    return j;
}

static void fmt(cs_dec d, int places, char *buf)
{
    cs_dec_format(d, places, buf, CS_DEC_STRLEN);
}

static int sub_cent(const cs_spendreport_row *r, cs_dec cents)
{
    return cs_dec_cmp(r->amount, cs_dec_zero()) != 0 && cs_dec_cmp(cents, cs_dec_zero()) == 0;
}

/* One CSV row: type, customer, product, pool, kind, currency, amount (at
 * places), exact amount, sub_cent. */
static void csv_row(cs_buf *out, const char *const text[6], cs_dec cents, int places, cs_dec exact,
                    int sub)
{
    char a[CS_DEC_STRLEN], e[CS_DEC_STRLEN];
    fmt(cents, places, a);
    fmt(exact, 12, e);
    for (size_t k = 0; k < 6; k++)
        cs_csv_text(out, text[k], k == 0);
    cs_csv_number(out, a, 0);
    cs_csv_number(out, e, 0);
    cs_csv_text(out, sub ? "yes" : "", 0);
    cs_csv_end_row(out);
}

static void write_csv(cs_buf *out, const sums *s, cs_dec total, cs_dec exact)
{
    static const char *const head[] = {"type", "customer", "product", "pool", "kind", "currency",
                                       "amount", "exact_amount", "sub_cent"};
    for (size_t k = 0; k < sizeof(head) / sizeof(head[0]); k++)
        cs_csv_text(out, head[k], k == 0);
    cs_csv_end_row(out);
    for (size_t i = 0; i < s->n;) {
        cs_dec sc, se;
        size_t end = customer_block(s, i, &sc, &se);
        for (; i < end; i++) {
            const cs_spendreport_row *r = &s->rows[i];
            const char *t[6] = {"line", r->customer, r->product, r->pool, r->kind, r->currency};
            csv_row(out, t, s->cents[i], s->places, r->amount, sub_cent(r, s->cents[i]));
        }
        const char *t[6] = {"subtotal", s->rows[end - 1].customer, "", "", "", s->currency};
        csv_row(out, t, sc, s->places, se, 0);
    }
    const char *t[6] = {"grand_total", "", "", "", "", s->currency};
    csv_row(out, t, total, s->places, exact, 0);
}

static void write_json(cs_buf *out, const sums *s, const char *period, cs_dec total, cs_dec exact)
{
    char a[CS_DEC_STRLEN], e[CS_DEC_STRLEN];
    cs_buf_puts(out, "{\"period\":");
    cs_buf_put_json(out, period);
    cs_buf_puts(out, ",\"currency\":");
    cs_buf_put_json(out, s->currency);
    cs_buf_puts(out, ",\"lines\":[");
    for (size_t i = 0; i < s->n; i++) {
        const cs_spendreport_row *r = &s->rows[i];
        fmt(s->cents[i], s->places, a);
        fmt(r->amount, 12, e);
        cs_buf_puts(out, i ? ",{\"customer\":" : "{\"customer\":");
        cs_buf_put_json(out, r->customer);
        cs_buf_puts(out, ",\"product\":");
        cs_buf_put_json(out, r->product);
        cs_buf_puts(out, ",\"pool\":");
        cs_buf_put_json(out, r->pool);
        cs_buf_puts(out, ",\"kind\":");
        cs_buf_put_json(out, r->kind);
        cs_buf_printf(out, ",\"amount\":%s,\"exact_amount\":%s,\"sub_cent\":%s}", a, e,
                      sub_cent(r, s->cents[i]) ? "true" : "false");
    }
    cs_buf_puts(out, "],\"customers\":[");
    for (size_t i = 0; i < s->n;) {
        cs_dec sc, se;
        size_t end = customer_block(s, i, &sc, &se);
        fmt(sc, s->places, a);
        fmt(se, 12, e);
        cs_buf_puts(out, i ? ",{\"customer\":" : "{\"customer\":");
        cs_buf_put_json(out, s->rows[i].customer);
        cs_buf_printf(out, ",\"amount\":%s,\"exact_amount\":%s}", a, e);
        i = end;
    }
    fmt(total, s->places, a);
    fmt(exact, 12, e);
    cs_buf_printf(out, "],\"total\":{\"amount\":%s,\"exact_amount\":%s}}\n", a, e);
}

static void write_table(cs_buf *out, const sums *s, const char *period, cs_dec total)
{
    char a[CS_DEC_STRLEN];
    cs_buf_printf(out, "Allocated infrastructure spend, %s (%s)\n\n", period,
                  s->n ? s->currency : "no spend allocated");
    cs_buf_printf(out, "%-24s %-22s %-18s %-9s %16s\n", "customer", "product", "pool", "kind",
                  "amount");
    for (size_t i = 0; i < s->n;) {
        cs_dec sc, se;
        size_t end = customer_block(s, i, &sc, &se);
        for (; i < end; i++) {
            const cs_spendreport_row *r = &s->rows[i];
            fmt(s->cents[i], s->places, a);
            cs_buf_printf(out, "%-24.24s %-22.22s %-18.18s %-9.9s %16s%s\n", r->customer,
                          r->product, r->pool[0] ? r->pool : "(no pool)", r->kind, a,
                          sub_cent(r, s->cents[i]) ? "  (sub-cent)" : "");
        }
        fmt(sc, s->places, a);
        cs_buf_printf(out, "%-24.24s %-22s %-18s %-9s %16s\n", s->rows[end - 1].customer,
                      "subtotal", "", "", a);
    }
    fmt(total, s->places, a);
    cs_buf_printf(out, "%-24s %-22s %-18s %-9s %16s %s\n", "TOTAL", "", "", "", a, s->currency);
}

int cs_spendreport_write(cs_buf *out, cs_report_format f, const char *period,
                         const cs_spendreport_row *rows, size_t n)
{
    if (f == CS_REPORT_FOCUS)
        return -EINVAL;
    for (size_t i = 1; i < n; i++)
        if (strcmp(rows[i].currency, rows[0].currency) != 0)
            return -EINVAL;
    sums s = {rows, NULL, n, n ? cs_report_minor_units(rows[0].currency) : 2,
              n ? rows[0].currency : ""};
    cs_dec *amounts = malloc((n + 1) * sizeof(*amounts)), *cents = malloc((n + 1) * sizeof(*cents));
    int r = amounts && cents ? 0 : -ENOMEM;
    cs_dec total = cs_dec_zero(), exact = cs_dec_zero();
    for (size_t i = 0; r == 0 && i < n; i++) {
        amounts[i] = rows[i].amount;
        if (cs_dec_add(exact, rows[i].amount, &exact) < 0)
            r = -ERANGE;
    }
    if (r == 0)
        r = cs_alloc_round(amounts, n, s.places, cents);
    for (size_t i = 0; r == 0 && i < n; i++)
        cs_dec_add(total, cents[i], &total);
    s.cents = cents;
    if (r == 0) {
        if (f == CS_REPORT_CSV)
            write_csv(out, &s, total, exact);
        else if (f == CS_REPORT_JSON)
            write_json(out, &s, period, total, exact);
        else
            write_table(out, &s, period, total);
    }
    free(amounts);
    free(cents);
    return r;
}

int cs_spendreport_focus(cs_buf *out, const cs_report_meta *meta, const char *period,
                         const cs_spendreport_row *rows, size_t n)
{
    int64_t bp, bp_end;
    if (cs_timestamp_month(period, &bp, &bp_end) < 0)
        return -EINVAL;
    cs_report *r = cs_report_new(CS_REPORT_FOCUS, meta);
    if (!r)
        return -ENOMEM;
    cs_report_begin(r, out);
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++) {
        const cs_spendreport_row *x = &rows[i];
        int64_t cs = bp, ce = bp_end;
        if (x->correction_of && cs_timestamp_month(x->correction_of, &cs, &ce) < 0)
            cs = bp, ce = bp_end;
        char desc[512];
        snprintf(desc, sizeof(desc), "allocated infrastructure cost: pool %s, %s%s%s",
                 *x->pool ? x->pool : "(none)", x->kind,
                 x->correction_of ? ", correction for " : "",
                 x->correction_of ? x->correction_of : "");
        cs_report_row row = {
            .customer = x->customer, .customer_name = x->customer,
            .product = *x->product ? x->product : "unallocated", /* ServiceName is never null */
            .meter = "allocated_cost", .unit = "month", .currency = x->currency,
            .rule_id = *x->pool ? x->pool : "unpooled", .rules_version = x->rules_version,
            .plan = x->kind, .correction_of = x->correction_of, .hour_usec = cs,
            .billing_period_usec = bp, .quantity = cs_dec_from_int(1), .unit_price = x->amount,
            .discount_rate = cs_dec_zero(), .list_cost = x->amount, .discount = cs_dec_zero(),
            .cost = x->amount, .events = x->lines, .charge_end_usec = ce, .description = desc,
            .pool = x->pool, .allocation_kind = x->kind};
        ret = cs_report_add(r, &row, out);
    }
    if (ret == 0)
        ret = cs_report_end(r, NULL, 0, out);
    cs_report_free(r);
    return ret;
}
