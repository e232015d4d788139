/* reattribute.h - moving an open month's unattributed usage to the
 * customers its labels now resolve to (edge: PostgreSQL and Redis).
 *
 * When Redis comes back empty after an outage and is refilled, events
 * looked up in between were billed to "unattributed" (labels.h).  Their
 * labels were kept (attribution.h, sql/0013), so once Redis knows them,
 * `costream reattribute --period P` resolves each attribution again, in
 * labels.order, and moves what resolves: in one transaction that holds
 * usage_cost's SHARE ROW EXCLUSIVE lock (flushes wait, as for closing a
 * month), each unattributed row is taken out of the 'unattributed' cost
 * row and added to the customer's row with the customer's plan; the list
 * cost moves unchanged and the discount is the plan's under the loaded
 * rules (the rule's own discounts when the same rule id and rules version
 * is loaded, else the plan's), rounded at the 12th decimal.  Every move is
 * a row of `reattributions` with the amounts before and after, who and
 * when.  A closed month is refused (reopen it first, period.h); what does
 * not resolve stays.  Metric-sample costs are not re-attributed.
 *
 * Returns 0, -EPERM (closed month), -EINVAL (not a month), or an error
 * class of store.h / -EIO (Redis), with err filled.
 */
#ifndef CS_REATTRIBUTE_H
#define CS_REATTRIBUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "decimal.h"
#include "labels.h"
#include "rules.h"
#include "store.h"

typedef struct cs_reattribute_result {
    size_t attributions;  /* distinct label sets still unattributed in the month */
    size_t resolved;      /* of them, those Redis now resolves */
    size_t rows;          /* hourly rows moved */
    long long events;     /* events moved */
    cs_dec list_cost;     /* list cost moved */
    cs_dec cost_before;   /* their cost while unattributed */
    cs_dec cost;          /* their cost at the customers' plans */
} cs_reattribute_result;

int cs_reattribute_run(cs_store *s, cs_labels *l, const cs_rules *rs, const cs_config *cfg,
                       const char *period, const char *actor, bool dry_run,
                       cs_reattribute_result *ret, char *err, size_t errsize);

#endif
