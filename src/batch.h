/* batch.h - the usage events of one flush, aggregated, with the
 * bookkeeping de-duplication needs (pure).
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
 * Not thread-safe: one worker owns one batch.
 */
#ifndef CS_BATCH_H
#define CS_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "agg.h"
#include "decimal.h"

typedef struct cs_batch cs_batch;

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

/* Empties the batch (after a stored flush, or to discard it). */
void cs_batch_clear(cs_batch *b);

#endif
