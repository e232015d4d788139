/* dedup.h - which usage events were already counted, in memory (pure).
 *
 * An event is identified by its CloudEvents (source, id); its fingerprint
 * is the first 16 bytes of SHA-256(source NUL id), collision-resistant even
 * against a producer that chooses its ids.  A re-sent event carries the
 * same event time, so its fingerprint is kept in the set of its event hour,
 * and a duplicate is looked for only there.
 *
 * Each hour's set holds two kinds of fingerprints:
 *   stored   counted by some worker and stored in PostgreSQL
 *            (event_fingerprints), loaded by cs_dedup_merge
 *   pending  counted by this worker in the batch not yet stored, each with
 *            the index of its event in the batch
 * cs_dedup_check() answers for one event and makes a new one pending; the
 * flush stores the pending ones and cs_dedup_commit() makes them stored, or
 * cs_dedup_discard() forgets them when the batch is dropped (fenced,
 * refused), so that an event whose flush failed is counted again, once.
 *
 * Memory: 24 bytes per fingerprint at a load of at most 3/4, about 32 MB
 * per million events; past max_entries whole hours without pending entries
 * are evicted, least recently used first, and loaded again on demand.
 * Not thread-safe: one per worker.
 */
#ifndef CS_DEDUP_H
#define CS_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_DEDUP_FP_LEN 16
#define CS_DEDUP_ANY_HOUR INT64_MIN /* fingerprints of unknown hour (before 0005) */

typedef struct cs_dedup cs_dedup;

/* The fingerprint of (source, id). */
void cs_dedup_fingerprint(const char *source, const char *id, unsigned char ret[CS_DEDUP_FP_LEN]);

/* NULL on allocation failure.  max_entries bounds the fingerprints held. */
cs_dedup *cs_dedup_new(size_t max_entries);
void cs_dedup_free(cs_dedup *d); /* NULL allowed */

/* Whether the stored fingerprints of hour have been merged (and up to which
 * row sequence number, *ret_seq, when the result is true). */
bool cs_dedup_loaded(cs_dedup *d, int64_t hour, int64_t *ret_seq);

/* Merges n stored fingerprints (n * 16 bytes at fps) of hour, from a row
 * with sequence number seq; marks the hour loaded up to seq.  Pending
 * fingerprints found among them (another worker stored the same event
 * meanwhile) stop being pending: their batch indexes are appended to
 * *ret_dups (room for every pending entry) and counted in *ret_ndups.
 * 0 or -ENOMEM. */
int cs_dedup_merge(cs_dedup *d, int64_t hour, const unsigned char *fps, size_t n, int64_t seq,
                   size_t *ret_dups, size_t *ret_ndups);

/* Marks hour loaded up to seq (an empty load, or our own stored row). */
int cs_dedup_mark_loaded(cs_dedup *d, int64_t hour, int64_t seq);

/* 1: fp is new in hour (or in CS_DEDUP_ANY_HOUR); it is now pending with
 * batch index idx.  0: a duplicate (stored, or pending in this batch).
 * -ENOMEM.  The hour must be loaded. */
int cs_dedup_check(cs_dedup *d, int64_t hour, const unsigned char fp[CS_DEDUP_FP_LEN], size_t idx);

/* Whether fp is already counted in hour (or CS_DEDUP_ANY_HOUR), stored or
 * pending; changes nothing. */
bool cs_dedup_seen(cs_dedup *d, int64_t hour, const unsigned char fp[CS_DEDUP_FP_LEN]);

/* The hours with pending fingerprints, ascending (at most cap). */
size_t cs_dedup_pending_hours(cs_dedup *d, int64_t *ret_hours, size_t cap);

/* The pending fingerprints of hour, packed (n * 16 bytes) into a buffer
 * owned by d and valid until the next call.  0 or -ENOMEM. */
int cs_dedup_pending(cs_dedup *d, int64_t hour, const unsigned char **ret, size_t *ret_n);

/* The batch was stored: pending fingerprints become stored. */
void cs_dedup_commit(cs_dedup *d);

/* The batch was dropped: pending fingerprints are forgotten. */
void cs_dedup_discard(cs_dedup *d);

/* Fingerprints held now. */
size_t cs_dedup_size(const cs_dedup *d);

#endif
