/* report.h - chargeback reports and the FOCUS billing export (pure).
 *
 * A report is written incrementally: begin, one call per row (as the store
 * streams them, chargeback rows sorted by customer), end.  Output goes into
 * a cs_buf that the caller drains (to stdout, or an HTTP response), so a
 * report of any length never holds its lines in memory, except the terminal
 * table, which must measure its columns first.
 *
 * Chargeback formats (table, csv, json): one line per customer, product,
 * meter, unit price, plan and correction month.  Each line's list cost and
 * billed cost are rounded half-even to the currency's minor unit
 * (docs/reports.md); its discount is their difference, so every line
 * reconciles.  Subtotals per customer and per product and the grand total
 * (per currency) are sums of rounded lines; the grand total also carries
 * the unrounded total, which must equal the total stored for the period.
 *
 * FOCUS (FinOps Open Cost and Usage Specification 1.2) rows are hourly and
 * exact (12 decimals): billing systems round on invoicing.
 */
#ifndef CS_REPORT_H
#define CS_REPORT_H

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

typedef struct cs_report_meta {
    const char *period;       /* "2026-11", or "FROM/TO" */
    int64_t from_usec;        /* [from, to) */
    int64_t to_usec;
    const char *provider;     /* FOCUS ProviderName and PublisherName */
    const char *issuer;       /* FOCUS InvoiceIssuerName */
    /* FOCUS ServiceCategory of a product ("Other" when NULL or unknown) */
    const char *(*service_category)(void *opaque, const char *product);
    void *opaque;
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
} cs_report_row;

/* Stored total for the period, per currency, to reconcile against. */
typedef struct cs_report_stored {
    const char *currency;
    cs_dec cost;
} cs_report_stored;

typedef struct cs_report cs_report;

cs_report *cs_report_new(cs_report_format fmt, const cs_report_meta *meta);
void cs_report_free(cs_report *r); /* NULL allowed */

void cs_report_begin(cs_report *r, cs_buf *out);
/* Returns 0 or -ERANGE (a sum overflowed). */
int cs_report_add(cs_report *r, const cs_report_row *row, cs_buf *out);
/* Writes totals.  Returns 0, or -EDOM if the unrounded total of the lines
 * differs from stored (nstored entries) for some currency. */
int cs_report_end(cs_report *r, const cs_report_stored *stored, size_t nstored, cs_buf *out);

/* Digits after the decimal point in the currency's minor unit (ISO 4217). */
int cs_report_minor_units(const char *currency);

/* MIME type and file extension of a format. */
const char *cs_report_content_type(cs_report_format fmt);
const char *cs_report_extension(cs_report_format fmt);

#endif
