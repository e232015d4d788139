/* report.h - chargeback reports and the FOCUS billing export (pure).
 *
 * A report is written incrementally: begin, one call per row (as the store
 * streams them, chargeback rows sorted by customer), end.  Output goes into
 * a cs_buf that the caller drains (to stdout, or an HTTP response), so a
 * report of any length holds at most one customer's lines in memory (with
 * a base; see below), except the terminal table, which must measure its
 * columns first.
 *
 * Chargeback formats (table, csv, json): one line per customer, product,
 * meter, unit price, plan and correction month.  Cents add up
 * (docs/rounding.md): per currency, the exact total is rounded once,
 * half-even, to the minor unit and handed out over the customers by
 * largest remainder, and each customer's subtotal over its lines the same
 * way (cs_alloc_round_to), for the billed cost and for the discount; list
 * = billed + discount.  So lines add up to customer subtotals, those to
 * the rounded exact total, and product subtotals are sums of lines.  The
 * customers' shares come from a base (cs_report_set_base: every customer's
 * exact amounts of the period, whatever the customer filter), so a
 * customer's lines are the same in its own report and in the full one;
 * lines are then held one customer at a time (rows must come grouped by
 * customer).  Without a base, every line is held until the end and the
 * base is the report's own lines.  The grand total also carries the
 * unrounded total, which must equal the total stored for the period.
 *
 * FOCUS (FinOps Open Cost and Usage Specification; 1.4, or 1.2 on request:
 * cs_report_meta.focus_version) rows are hourly and
 * exact (12 decimals): billing systems round on invoicing.
 */
#ifndef CS_REPORT_H
#define CS_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "decimal.h"

typedef enum cs_report_format {
    CS_REPORT_TABLE,
    CS_REPORT_CSV,
    CS_REPORT_JSON,
    CS_REPORT_FOCUS,
} cs_report_format;

/* Parses "table", "csv", "json", "focus".  0 or -EINVAL. */
int cs_report_format_parse(const char *s, cs_report_format *ret);

/* A product's FOCUS ServiceCategory and ServiceSubcategory. */
typedef struct cs_report_service {
    const char *category, *subcategory;
} cs_report_service;

typedef enum cs_focus_version {
    CS_FOCUS_1_4 = 0, /* the default */
    CS_FOCUS_1_2,
} cs_focus_version;

typedef struct cs_report_meta {
    const char *period;       /* "2026-11", or "FROM/TO" */
    int64_t from_usec;        /* [from, to) */
    int64_t to_usec;
    const char *provider;     /* FOCUS ServiceProviderName and HostProviderName (1.2: ProviderName, PublisherName) */
    const char *issuer;       /* FOCUS InvoiceIssuerName */
    /* FOCUS: fills *ret for product (left at Other / Other (Other) if not) */
    void (*service)(void *opaque, const char *product, cs_report_service *ret);
    void *opaque;
    bool excel;               /* CSV and FOCUS start with a UTF-8 byte-order mark */
    cs_focus_version focus_version;
} cs_report_meta;

typedef struct cs_report_row {
    const char *customer, *customer_name, *cost_center;
    const char *product, *meter, *unit, *currency, *plan;
    const char *rule_id, *rules_version; /* FOCUS */
    const char *correction_of;           /* NULL, or "YYYY-MM": usage of a closed month */
    int64_t hour_usec;                   /* FOCUS: charge period start */
    int64_t billing_period_usec;         /* FOCUS: first instant of the billing month */
    cs_dec quantity, unit_price, discount_rate, list_cost, discount, cost;
    int64_t events;
    /* FOCUS, optional: a charge period other than the hour (0: one hour),
     * a description of one's own, and allocated spend's pool and kind
     * (tags costream/pool, costream/allocation instead of the plan's) */
    int64_t charge_end_usec;
    const char *description, *pool, *allocation_kind;
} cs_report_row;

/* Stored total for the period, per currency, to reconcile against. */
typedef struct cs_report_stored {
    const char *currency;
    cs_dec cost;
} cs_report_stored;

/* One customer's exact amounts in one currency, for the base. */
typedef struct cs_report_subtotal {
    const char *customer, *currency;
    cs_dec cost, discount;
} cs_report_subtotal;

typedef struct cs_report cs_report;

/* A report of fmt described by meta.  The report copies meta's strings
 * (period, provider, issuer), so they may die with the caller; meta's
 * service callback and opaque are borrowed and must outlive the report.
 * NULL on allocation failure. */
cs_report *cs_report_new(cs_report_format fmt, const cs_report_meta *meta);
void cs_report_free(cs_report *r); /* NULL allowed */

void cs_report_begin(cs_report *r, cs_buf *out);
/* Sets the base of the cents (see above; items are copied): before the
 * first row.  0, -EINVAL (a customer and currency twice), -ERANGE or
 * -ENOMEM. */
int cs_report_set_base(cs_report *r, const cs_report_subtotal *items, size_t n);
/* Returns 0 or -ERANGE (a sum overflowed). */
int cs_report_add(cs_report *r, const cs_report_row *row, cs_buf *out);
/* Writes the lines still held, then the totals.  Returns 0, or -EDOM if
 * the unrounded total of the lines differs from stored (nstored entries)
 * for some currency, or a customer's lines do not add up to its base. */
int cs_report_end(cs_report *r, const cs_report_stored *stored, size_t nstored, cs_buf *out);

/* The UTF-8 byte-order mark that makes Excel read a CSV file as UTF-8. */
#define CS_REPORT_BOM "\xef\xbb\xbf"

/* Digits after the decimal point in the currency's minor unit (ISO 4217). */
int cs_report_minor_units(const char *currency);

/* MIME type and file extension of a format. */
const char *cs_report_content_type(cs_report_format fmt);
const char *cs_report_extension(cs_report_format fmt);

#endif
