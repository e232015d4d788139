/* batch.h - everything one flush writes but the offsets (pure): the usage
 * events, aggregated, with the bookkeeping de-duplication needs; the
 * rejected messages with their bytes; the priced metric samples; and the
 * customer attributes to store.
 *
 * Every priced event goes into its aggregation row (agg.h).  When
 * de-duplication is on, the event is also remembered under an index (its
 * fingerprint is pending in dedup.h under the same index), so that if
 * another worker stores the same event before this batch is flushed, the
 * flush can take it back out of its row: the event is then counted once,
 * by the other worker, never twice and never zero times (an event whose
 * first flush failed stays in the batch and is counted by the retry).
 * Taking back is idempotent per event.  A row whose events were all taken
 * back has events == 0 and is not written.
 *
 * Rejects, samples and customers are copied in (strings, bytes, series
 * ids) and freed by cs_batch_clear(); the arrays the accessors return are
 * valid until the next call that adds to the batch.  A batch handed to a
 * flush belongs to the flushing thread until its outcome is taken
 * (worker_flush.c); otherwise not thread-safe: one worker owns one batch.
 */
#ifndef CS_BATCH_H
#define CS_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "decimal.h"

typedef struct cs_batch cs_batch;

/* A message refused on its data, kept with its raw bytes. */
typedef struct cs_batch_reject {
    const char *topic;  /* not copied: must outlive the batch (the ledger's copy) */
    int32_t partition;
    int64_t offset;
    const char *reason; /* a static string (cs_reject_code_name) */
    const char *detail;
    const void *raw;
    size_t raw_len;
    const void *key; /* NULL: the message had none */
    size_t key_len;
} cs_batch_reject;

/* A customer's attributes as last seen in Redis ("" for unknown). */
typedef struct cs_batch_customer {
    const char *id, *name, *plan, *cost_center;
} cs_batch_customer;

/* A metric sample waiting for settlement, already priced and attributed. */
typedef struct cs_batch_sample {
    const unsigned char *series_id; /* 32 bytes */
    const char *series;
    int64_t time_usec;
    cs_dec value;        /* when special is NULL */
    const char *special; /* "NaN", "+Inf", "-Inf", or NULL for a finite value */
    const char *kind;    /* "counter" or "gauge" */
    int64_t unit_divisor, max_gap_usec;
    const char *customer, *plan, *product, *meter, *rule_id, *rules_version, *currency, *unit;
    cs_dec unit_price, discount_rate;
    const char *topic;
    int32_t partition;
    int64_t offset;
} cs_batch_sample;

#define CS_BATCH_SERIES_ID_LEN 32

cs_batch *cs_batch_new(void);
void cs_batch_free(cs_batch *b); /* NULL allowed */

/* The aggregation rows (owned by the batch). */
cs_agg *cs_batch_agg(cs_batch *b);

/* Adds one priced event to the row of key.  With track, the event is
 * remembered and *ret_index (may be NULL) is its index, the one its
 * pending fingerprint carries.  0, -ERANGE (a sum would overflow: nothing
 * changed) or -ENOMEM. */
int cs_batch_add(cs_batch *b, const cs_agg_key *key, cs_dec quantity, cs_dec list_cost,
                 cs_dec discount, cs_dec cost, bool track, size_t *ret_index);

/* Tracked events so far (the next index). */
size_t cs_batch_events(const cs_batch *b);

/* Takes the tracked events idx[0..n) back out of their rows (another
 * worker counted them); an event already taken back, or an index past the
 * tracked ones, is left alone.  Returns the number taken back now. */
int cs_batch_take_back(cs_batch *b, const size_t *idx, size_t n);

/* Events taken back since the batch was cleared. */
size_t cs_batch_duplicates(const cs_batch *b);

/* Keeps a rejected message (detail, raw bytes and key copied; the topic
 * not).  0 or -ENOMEM (nothing kept). */
int cs_batch_add_reject(cs_batch *b, const cs_batch_reject *rj);

/* The rejects so far, in order; *ret_n of them. */
const cs_batch_reject *cs_batch_rejects(const cs_batch *b, size_t *ret_n);

/* Keeps a metric sample (its strings and series id copied; a NULL special
 * stays NULL).  0 or -ENOMEM (nothing kept). */
int cs_batch_add_sample(cs_batch *b, const cs_batch_sample *s);

/* The samples so far, in order; *ret_n of them. */
const cs_batch_sample *cs_batch_samples(const cs_batch *b, size_t *ret_n);

/* Records a customer's attributes (copied; a later call for the same id
 * replaces them).  0 or -ENOMEM (the earlier attributes kept). */
int cs_batch_set_customer(cs_batch *b, const cs_batch_customer *c);

/* The attributes recorded for id, or NULL. */
const cs_batch_customer *cs_batch_find_customer(cs_batch *b, const char *id);

/* Every customer recorded; *ret_n of them. */
const cs_batch_customer *cs_batch_customers(const cs_batch *b, size_t *ret_n);

/* Empties the batch (after a stored flush, or to discard it), keeping its
 * tables' capacity. */
void cs_batch_clear(cs_batch *b);

#endif
