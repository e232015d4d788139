/* pending.h - metric samples waiting for settlement, packed into blocks
 * (pure).
 *
 * A flush stores its batch's priced samples as one block per settlement
 * shard (a row of metric_sample_blocks, sql/0016), not as a row per sample:
 * PostgreSQL then writes, indexes and later deletes a handful of rows per
 * flush whatever the number of samples.  Settlement reads a shard's blocks
 * back, settles the samples below the watermark and writes the rest back
 * as one new block.
 *
 * A block (little-endian, version 1):
 *
 *   "CSP1"  u32 nstrings  u32 nseries  u32 nattrs  u32 nsamples
 *   strings  nstrings x (u32 length, bytes: UTF-8, no NUL)
 *   series   nseries  x (32-byte series id, u32 string: the series text)
 *   attrs    nattrs   x (u8 kind: 0 counter 1 gauge, i64 unit divisor,
 *                        i64 max gap (us), 8 x u32 string: customer, plan,
 *                        product, meter, rule id, rules version, currency,
 *                        unit, i128 unit price, i128 discount rate)
 *   samples  nsamples x (u32 series, u32 attrs, i64 time (us), u8 special:
 *                        0 finite 1 NaN 2 +Inf 3 -Inf, i128 value, u32
 *                        string: topic, i32 partition, i64 offset)
 *
 * Decimals are cs_dec's raw value (value x 10^12).  A series' samples
 * usually share their attributes, so a sample costs 49 bytes.
 *
 * The writer copies nothing it is given beyond the call; a decoded block
 * owns copies of its strings, which its samples point into.  Not
 * thread-safe; one writer or block per thread.
 */
#ifndef CS_PENDING_H
#define CS_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"

typedef struct cs_pending_writer cs_pending_writer;
typedef struct cs_pending_block cs_pending_block;

cs_pending_writer *cs_pending_writer_new(void);
void cs_pending_writer_free(cs_pending_writer *w); /* NULL allowed */

/* Adds one sample (its strings and series id are copied into the block).
 * 0, -EINVAL (a kind other than "counter"/"gauge", a special other than
 * NULL/"NaN"/"+Inf"/"-Inf", a string with more than 2^31 bytes: nothing
 * added) or -ENOMEM (the writer is unusable until reset). */
int cs_pending_writer_add(cs_pending_writer *w, const cs_batch_sample *s);

/* Samples added since the last reset, and their oldest and newest time
 * (undefined when there are none). */
size_t cs_pending_writer_count(const cs_pending_writer *w);
int64_t cs_pending_writer_min_usec(const cs_pending_writer *w);
int64_t cs_pending_writer_max_usec(const cs_pending_writer *w);

/* Appends the block of the samples added since the last reset to out
 * (out->failed says whether memory ran out). */
void cs_pending_writer_finish(cs_pending_writer *w, cs_buf *out);

/* Forgets the samples, keeping the capacity. */
void cs_pending_writer_reset(cs_pending_writer *w);

/* Reads a block.  *ret_block gets a new block to free with
 * cs_pending_block_free.  0, -EINVAL (not a well-formed version 1 block:
 * truncated, trailing bytes, an index out of range, a string with a NUL,
 * a decimal beyond 38 digits, an unknown kind or special) or -ENOMEM. */
int cs_pending_decode(const void *data, size_t len, cs_pending_block **ret_block);

/* The block's samples, in the order they were added; *ret_n of them.  The
 * pointers inside stay valid until the block is freed. */
const cs_batch_sample *cs_pending_block_samples(const cs_pending_block *b, size_t *ret_n);

void cs_pending_block_free(cs_pending_block *b); /* NULL allowed */

#endif
