/* labels.h - resolving the customer of an event through Redis (adapter).
 *
 * Key layout (prefix configurable, "costream:" by default):
 *   <prefix>label:<name>:<value>  STRING  customer id, e.g.
 *                                 costream:label:api_key:ak_live_42 -> cus_042
 *   <prefix>customer:<id>         HASH    plan (free|pro|enterprise),
 *                                         name, cost_center
 *
 * An event's subject, when present, is the customer.  Otherwise each label
 * in the configured order is looked up and the first mapping found wins.  An
 * event that resolves to nobody belongs to CS_UNATTRIBUTED, so no cost is
 * ever dropped.  A customer without a hash gets plan "unknown" (no discount
 * unless the rules give one).  Every value read from Redis becomes valid
 * UTF-8 without control characters: invalid bytes are shown as \xNN and a
 * value too long for its field is cut between characters (ids at 256
 * bytes, names and cost centres at 1023); such values are counted
 * (cs_labels_fixed_values), never refused.  Lookups, including absences, are cached for
 * the configured TTL, so a change in Redis takes effect within that time.
 * Not thread-safe: one per worker.
 */
#ifndef CS_LABELS_H
#define CS_LABELS_H

#include <stdint.h>

#include "cache.h"
#include "config.h"
#include "event.h"

#define CS_UNATTRIBUTED "unattributed"
#define CS_PLAN_UNKNOWN "unknown"
#define CS_PLAN_NONE "none"
#define CS_CUSTOMER_MAX 257  /* customer ids: 256 bytes */
#define CS_CUSTOMER_TEXT 1024 /* names and cost centres: 1023 bytes */

typedef struct cs_labels cs_labels;

typedef struct cs_customer {
    char id[CS_CUSTOMER_MAX];
    char plan[64];
    char name[CS_CUSTOMER_TEXT];        /* "" when Redis has none */
    char cost_center[CS_CUSTOMER_TEXT]; /* "" when Redis has none */
    int attributed; /* 0 for CS_UNATTRIBUTED */
} cs_customer;

/* Creates a resolver from cfg (redis.*, labels.*).  Connects lazily.
 * Returns NULL on allocation failure. */
cs_labels *cs_labels_new(const cs_config *cfg);
void cs_labels_free(cs_labels *l); /* NULL allowed */

/* Resolves ev's customer and plan at time now_usec.  Returns 0, or -EIO when
 * Redis cannot be reached or answers with an error (the caller retries the
 * same event later: attributing it without Redis would be wrong); *ret_err
 * then points to a static description valid until the next call. */
int cs_labels_resolve(cs_labels *l, const cs_event *ev, int64_t now_usec, cs_customer *ret,
                      const char **ret_err);

/* Resolves the customer of a metric series from its labels, trying the
 * label names in order (config metrics.labels.order).  Same contract as
 * cs_labels_resolve(). */
int cs_labels_resolve_series(cs_labels *l, const cs_label *labels, size_t nlabels,
                             char *const *order, size_t norder, int64_t now_usec,
                             cs_customer *ret, const char **ret_err);

/* Prefetching, for a worker that has several messages in hand: add each
 * decoded event, then run once.  The run looks up, in two pipelined round
 * trips, whatever resolving those events would ask Redis for and the cache
 * does not hold (every label key of the configured order, then every
 * customer hash) and caches the answers, so that cs_labels_resolve() of
 * these events is answered from the cache.  Only an optimisation: the
 * lookups are the same as resolve's, one by one, would make.  add: 0 or
 * -ENOMEM (the event's strings are copied).  run: the number of keys it
 * looked up (0: all were cached), -ENOMEM, or -EIO (Redis unreachable;
 * *ret_err as for resolve); the events added are forgotten either way. */
int cs_labels_prefetch_add(cs_labels *l, const cs_event *ev);
int cs_labels_prefetch_run(cs_labels *l, int64_t now_usec, const char **ret_err);

/* Checks the connection (PING), reconnecting if needed.  0 or -EIO. */
int cs_labels_ping(cs_labels *l, const char **ret_err);

cs_cache_stats cs_labels_cache_stats(const cs_labels *l);

/* Values from Redis that had to be escaped or cut. */
unsigned long cs_labels_fixed_values(const cs_labels *l);

/* Successful connections after the first (reconnects). */
unsigned long cs_labels_reconnects(const cs_labels *l);

#endif
