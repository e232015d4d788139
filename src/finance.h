/* finance.h - the finance page of `costream serve` (pure).
 *
 * Renders one billing period at a glance, for a token's scope, as one HTML
 * document with its charts drawn as inline SVG on the server: no script, no
 * external font, stylesheet or image, so it shows the same in any browser
 * and can be saved or printed as is.  What it shows: billed, list price and
 * discount; the period against the previous one up to the same point of its
 * month; the unattributed amount (finance scope only); cost per product and
 * the top customers with "other" (finance scope) as bar charts; one page of
 * the customers table; the periods with their download links.
 *
 * Amounts are shown rounded half-even to cents with the exact stored value
 * in the element's title and data-exact attributes (tests and scrapers read
 * those).  All text from the database is HTML-escaped.  The page model is
 * filled by the caller (reportdb.c reads it from the dash_* views) and owned
 * by it; cs_finance_page_clear() frees what cs_finance_page_add_*() added.
 * Not thread-safe per page; pages are independent.
 */
#ifndef CS_FINANCE_H
#define CS_FINANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "decimal.h"

#define CS_FINANCE_TOP 10      /* customers in the chart before "other" */
#define CS_FINANCE_PAGE_ROWS 50 /* customers per table page */

typedef struct cs_finance_item {
    char *label;  /* product or customer id */
    char *name;   /* customer name, "" if none */
    cs_dec cost, list_cost, discount;
} cs_finance_item;

typedef struct cs_finance_list {
    cs_finance_item *items;
    size_t n, cap;
} cs_finance_list;

typedef struct cs_finance_period {
    char period[8]; /* YYYY-MM */
    bool closed;
} cs_finance_period;

typedef struct cs_finance_page {
    char period[8];       /* the period shown */
    const char *customer; /* the token's customer, or NULL for finance scope */
    bool hide_spend;      /* a customer token that may not read spend: no link to it */
    char currency[4];     /* "" when the period has no usage */
    cs_dec billed, list_cost, discount, unattributed;
    cs_dec previous_same_point, previous; /* the previous period: to the same point, whole */
    cs_finance_list products;  /* by cost, largest first */
    cs_finance_list top;       /* finance scope: top customers, then "other" */
    cs_finance_list customers; /* this page of the table */
    long ncustomers;           /* customers in the period (all pages) */
    int page;                  /* 1-based */
    cs_finance_period *periods;
    size_t nperiods, capperiods;
} cs_finance_page;

/* Appends an item to a list (strings copied).  0 or -ENOMEM. */
int cs_finance_list_add(cs_finance_list *l, const char *label, const char *name, cs_dec cost,
                        cs_dec list_cost, cs_dec discount);

/* Appends a period.  0, -EINVAL (not YYYY-MM) or -ENOMEM. */
int cs_finance_page_add_period(cs_finance_page *p, const char *period, bool closed);

/* Frees the lists and periods (p itself is the caller's).  NULL allowed. */
void cs_finance_page_clear(cs_finance_page *p);

/* Renders the page; check b->failed afterwards. */
void cs_finance_render(cs_buf *b, const cs_finance_page *p);

/* Renders a horizontal bar chart of items as an <svg> element with the
 * given id and accessible title: one <g class="bar"> per item with
 * data-label and data-value (exact), bars scaled to the largest value. */
void cs_finance_chart(cs_buf *b, const char *id, const char *title, const cs_finance_list *items,
                      const char *currency);

#endif
