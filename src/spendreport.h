/* spendreport.h - the allocated-spend report (pure; docs/spend.md).
 *
 * One line per customer, product, pool and kind of a billing period's
 * allocation (spend_allocations), in table, CSV or JSON.  Amounts are shown
 * in the currency's minor unit with the cents distributed by largest
 * remainder (cs_alloc_round over all lines): the grand total is the exact
 * total rounded once, half to even; the lines add up to their customer's
 * subtotal and the subtotals to the grand total, to the cent.  Each line
 * also carries its exact amount (12 decimals), and a line whose exact
 * amount is not zero but shows as 0.00 is marked sub-cent instead of
 * passing as zero.  The caller hands the rows sorted by customer; the
 * writer holds them (a period's allocation is bounded by customers x
 * products x pools).
 */
#ifndef CS_SPENDREPORT_H
#define CS_SPENDREPORT_H

#include <stddef.h>

#include "buf.h"
#include "decimal.h"
#include "report.h"

typedef struct cs_spendreport_row {
    const char *customer, *product, *pool, *kind, *currency;
    cs_dec amount;
    int64_t lines;                          /* bill lines it came from */
    const char *rules_version, *correction_of; /* correction_of: "YYYY-MM" or NULL */
} cs_spendreport_row;

/* Writes the report of period ("YYYY-MM") for rows (one currency).
 * fmt: table, csv or json.  0, -EINVAL (focus, or several currencies),
 * -ERANGE, -ENOMEM. */
int cs_spendreport_write(cs_buf *out, cs_report_format fmt, const char *period,
                         const cs_spendreport_row *rows, size_t n);

/* The same rows as FOCUS (meta's version, provider, issuer, services):
 * one row per customer, product, pool, kind and correction, the allocated
 * actual cost of the month as BilledCost = EffectiveCost = ListCost =
 * ContractedCost, PricingQuantity 1 Month at that unit price, the month as
 * charge period (the corrected month for a correction), SkuId the pool,
 * ServiceName the product ("unallocated" for a line no product used), tags
 * costream/pool and costream/allocation: the showback an enterprise
 * customer loads into its own FinOps tool.  Exact amounts, no rounding.
 * 0, -ERANGE, -ENOMEM. */
int cs_spendreport_focus(cs_buf *out, const cs_report_meta *meta, const char *period,
                         const cs_spendreport_row *rows, size_t n);

#endif
