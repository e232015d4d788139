/* pricing.h - choosing the rule for an event and computing its cost.
 *
 * cs_pricing_match() picks the first rule (file order) whose product and
 * meter equal the event's, whose effective window contains the event time,
 * and whose label matchers all hold (an absent label reads as "", as in
 * Prometheus).  cs_pricing_price() computes, for one event:
 *
 *   list_cost = round12(quantity * unit_price)
 *   discount  = round12(list_cost * discount_rate)
 *   cost      = list_cost - discount
 *
 * where round12 is half-to-even at 12 decimals (cs_dec_mul), the discount
 * rate is the rule's override for the plan or else the plan default.  Costs
 * are thus exact per event and independent of how events are batched,
 * which is what makes replays after a crash reproduce the same sums.
 * Pure, thread-safe.
 */
#ifndef CS_PRICING_H
#define CS_PRICING_H

#include "decimal.h"
#include "event.h"
#include "rules.h"

typedef struct cs_price {
    const cs_rule *rule;
    cs_dec discount_rate;
    cs_dec list_cost;
    cs_dec discount;
    cs_dec cost;
} cs_price;

/* Returns the rule that prices the event, or NULL if none does. */
const cs_rule *cs_pricing_match(const cs_rules *rules, const char *product, const char *meter,
                                int64_t time_usec, const cs_label *labels, size_t nlabels);

/* Returns the metric rule that prices a sample of metric `name` with these
 * labels at time_usec, or NULL. */
const cs_rule *cs_pricing_match_metric(const cs_rules *rules, const char *name,
                                       int64_t time_usec, const cs_label *labels, size_t nlabels);

/* Whether any rule, of any version, prices metric `name`: a sample of a
 * metric it does not name is skipped without decoding the rest. */
bool cs_pricing_prices_metric(const cs_rules *rules, const char *name);

/* The cost formula alone: list, discount and cost of quantity at
 * unit_price with discount_rate.  0 or -ERANGE. */
int cs_pricing_cost(cs_dec quantity, cs_dec unit_price, cs_dec discount_rate, cs_price *ret);

/* The discount rate of plan under rule (its own discounts first, then the
 * plan's; rule may be NULL). */
cs_dec cs_pricing_discount_rate(const cs_rules *rules, const cs_rule *rule, const char *plan);

/* Prices quantity under rule for a customer on plan (may be NULL).  Returns
 * 0 or -ERANGE when the cost would leave the decimal range. */
int cs_pricing_price(const cs_rules *rules, const cs_rule *rule, const char *plan,
                     cs_dec quantity, cs_price *ret);

#endif
