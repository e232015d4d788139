/* chargeback.c - see chargeback.h.  The output buffer is refilled from the
 * cursor until it holds at least one chunk (or the report has ended); the
 * totals are written, and reconciled, after the last row. */
#include "chargeback.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "focus.h"

#define CHUNK 65536

struct cs_chargeback {
    cs_report_cursor *cursor;
    cs_report *report;
    cs_buf out;
    size_t rows;
    int state; /* 0 rows, 1 ended, 2 failed */
    int error;
};

static int set_base(void *opaque, const cs_report_subtotal *items, size_t n)
{
    return cs_report_set_base(opaque, items, n);
}

int cs_chargeback_open(cs_store *store, const cs_report_query *q, cs_report_format fmt,
                       const cs_report_meta *meta, cs_chargeback **ret, char *err,
                       size_t errsize)
{
    cs_chargeback *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    cs_report_query qq = *q;
    qq.focus = fmt == CS_REPORT_FOCUS;
    int r = cs_reportdb_open(store, &qq, &c->cursor, err, errsize);
    if (r < 0) {
        free(c);
        return r;
    }
    c->report = cs_report_new(fmt, meta);
    if (!c->report) {
        cs_chargeback_close(c);
        return -ENOMEM;
    }
    if (fmt != CS_REPORT_FOCUS &&
        (r = cs_reportdb_base(c->cursor, set_base, c->report, err, errsize)) < 0) {
        if (r == -ENOMEM)
            snprintf(err, errsize, "out of memory");
        cs_chargeback_close(c);
        return r;
    }
    cs_report_begin(c->report, &c->out);
    *ret = c;
    return 0;
}

static int fill(cs_chargeback *c, char *err, size_t errsize)
{
    while (c->state == 0 && c->out.len < CHUNK) {
        cs_report_row row;
        int r = cs_reportdb_next(c->cursor, &row, err, errsize);
        if (r < 0)
            return r;
        if (r == 0) {
            const cs_report_stored *st;
            size_t n;
            if ((r = cs_reportdb_totals(c->cursor, &st, &n, err, errsize)) < 0)
                return r;
            r = cs_report_end(c->report, st, n, &c->out);
            c->state = 1;
            if (r == -EDOM) {
                snprintf(err, errsize, "the report's lines do not add up to the stored total");
                return r;
            }
            break;
        }
        if ((r = cs_report_add(c->report, &row, &c->out)) < 0) {
            snprintf(err, errsize, "a report total exceeds the decimal range");
            return r;
        }
        c->rows++;
    }
    if (c->out.failed) {
        snprintf(err, errsize, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

ssize_t cs_chargeback_read(cs_chargeback *c, char *dst, size_t max, char *err, size_t errsize)
{
    if (c->state == 2)
        return c->error;
    int r = fill(c, err, errsize);
    if (r < 0) {
        c->state = 2;
        c->error = r;
        return r;
    }
    size_t n = c->out.len < max ? c->out.len : max;
    memcpy(dst, c->out.data, n);
    cs_buf_consume(&c->out, n);
    return (ssize_t)n;
}

void cs_chargeback_service(void *opaque, const char *product, cs_report_service *ret)
{
    const cs_chargeback_services *s = opaque;
    const cs_product_meta *m = cs_rules_product(s->rules, product);
    if (m) {
        *ret = (cs_report_service){m->service_category, m->service_subcategory};
        return;
    }
    const char *cat = s->cfg ? cs_config_service_category(s->cfg, product) : NULL;
    if (!cat)
        return;
    const char *subcategory = cs_focus_other_subcategory(cat);
    if (subcategory)
        *ret = (cs_report_service){cat, subcategory};
}

size_t cs_chargeback_rows(const cs_chargeback *c)
{
    return c->rows;
}

void cs_chargeback_close(cs_chargeback *c)
{
    if (!c)
        return;
    cs_reportdb_close(c->cursor);
    cs_report_free(c->report);
    cs_buf_free(&c->out);
    free(c);
}
