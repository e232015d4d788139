/* agg.h - in-memory cost aggregation between two flushes.
 *
 * Rows are keyed by (hour, customer, product, meter, rule, rules version,
 * plan, currency, attribution) and accumulate quantity, list cost, discount, cost and event count.
 * The table owns copies of every key string, so the rules and events the
 * keys came from may be freed at any time.  cs_agg_add() is all-or-nothing:
 * on error no sum has changed.  Not thread-safe: one worker owns one table.
 */
#ifndef CS_AGG_H
#define CS_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "decimal.h"

typedef struct cs_agg_key {
    int64_t hour_usec;
    const char *customer;
    const char *product;
    const char *meter;
    const char *rule_id;
    const char *rules_version;
    const char *plan;
    const char *currency;
    const char *unit;
    cs_dec unit_price;
    cs_dec discount_rate;
    /* unattributed usage: the labels it was looked up by ("name=value",
     * joined by 0x1f, in labels.order), so that it can be re-attributed
     * later; NULL or "" otherwise (stored as "") */
    const char *attribution;
} cs_agg_key;

typedef struct cs_agg_row {
    cs_agg_key key; /* strings owned by the table */
    cs_dec quantity;
    cs_dec list_cost;
    cs_dec discount;
    cs_dec cost;
    int64_t events;
} cs_agg_row;

typedef struct cs_agg cs_agg;

cs_agg *cs_agg_new(void);
void cs_agg_free(cs_agg *agg); /* NULL allowed */

/* Adds one priced event; *ret_row (may be NULL) receives the row it went
 * to.  Returns 0, -ENOMEM, or -ERANGE if a sum would overflow (nothing is
 * added then). */
int cs_agg_add(cs_agg *agg, const cs_agg_key *key, cs_dec quantity, cs_dec list_cost,
               cs_dec discount, cs_dec cost, size_t *ret_row);

/* Takes one event back out of row (sign -1) or puts it back in (sign +1),
 * for de-duplication.  Returns 0 or -ERANGE (nothing changed then). */
int cs_agg_adjust(cs_agg *agg, size_t row, int sign, cs_dec quantity, cs_dec list_cost,
                  cs_dec discount, cs_dec cost);

size_t cs_agg_count(const cs_agg *agg);
const cs_agg_row *cs_agg_row_at(const cs_agg *agg, size_t i); /* 0 <= i < count */
void cs_agg_clear(cs_agg *agg);

#endif
