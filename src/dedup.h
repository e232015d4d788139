/* dedup.h - which usage events were already counted, in memory (pure).
 *
 * An event is identified by its CloudEvents (source, id); its fingerprint
 * is the first 16 bytes of SHA-256(source NUL id), collision-resistant even
 * against a producer that chooses its ids.  A re-sent event carries the
 * same event time, so its fingerprint is kept in the set of its event hour,
 * and a duplicate is looked for only there.
 *
 * Each hour's set holds three kinds of fingerprints:
 *   stored   counted by some worker and stored in PostgreSQL
 *            (event_fingerprints), loaded by cs_dedup_merge
 *   pending  counted by this worker in the batch being filled, each with
 *            the index of its event in that batch
 *   sealed   pending ones of the batch handed to a flush (cs_dedup_seal),
 *            while that flush is in flight and the next batch fills
 * cs_dedup_check() answers for one event and makes a new one pending.  A
 * flush seals the pending ones and copies them (cs_dedup_sealed); when it
 * is stored cs_dedup_commit() makes the sealed ones stored, and when the
 * memory is dropped (fenced, refused) cs_dedup_discard() forgets sealed
 * and pending alike, so that an event whose flush failed is counted again,
 * once.  At most one batch is sealed at a time.
 *
 * Memory: 24 bytes per fingerprint at a load of at most 3/4, about 32 MB
 * per million events; past max_entries whole hours without pending or
 * sealed entries are evicted, least recently used first, and loaded again on demand.
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
 * Sealed ones found among them become stored without being reported (their
 * flush takes them back itself, see flight.h).
 * 0 or -ENOMEM. */
int cs_dedup_merge(cs_dedup *d, int64_t hour, const unsigned char *fps, size_t n, int64_t seq,
                   size_t *ret_dups, size_t *ret_ndups);

/* Marks hour loaded up to seq (an empty load, or our own stored row). */
int cs_dedup_mark_loaded(cs_dedup *d, int64_t hour, int64_t seq);

/* 1: fp is new in hour (or in CS_DEDUP_ANY_HOUR); it is now pending with
 * batch index idx (below 2^31 - 2).  0: a duplicate (stored, or pending in this batch).
 * -ENOMEM.  The hour must be loaded. */
int cs_dedup_check(cs_dedup *d, int64_t hour, const unsigned char fp[CS_DEDUP_FP_LEN], size_t idx);

/* Whether fp is already counted in hour (or CS_DEDUP_ANY_HOUR), stored or
 * pending; changes nothing. */
bool cs_dedup_seen(cs_dedup *d, int64_t hour, const unsigned char fp[CS_DEDUP_FP_LEN]);

/* Hands the pending fingerprints to a flush: they become sealed.  Nothing
 * may be sealed already (the previous flush was committed or discarded).
 * Returns the number sealed. */
size_t cs_dedup_seal(cs_dedup *d);

/* The hours with sealed fingerprints, ascending (at most cap). */
size_t cs_dedup_sealed_hours(cs_dedup *d, int64_t *ret_hours, size_t cap);

/* The sealed fingerprints of hour, in no particular order: *ret_n of them,
 * packed (16 bytes each) into ret_fps with their batch indexes in ret_idx,
 * both with room for every sealed entry of the hour (cs_dedup_seal's
 * result bounds them all). */
void cs_dedup_sealed(cs_dedup *d, int64_t hour, unsigned char *ret_fps, size_t *ret_idx,
                     size_t *ret_n);

/* The sealed batch was stored: sealed fingerprints become stored.  Evicts
 * nothing (the caller still merges rows and marks hours loaded: an hour
 * evicted in between would come back marked loaded but empty); then
 * cs_dedup_trim(). */
void cs_dedup_commit(cs_dedup *d);

/* Evicts whole hours past max_entries (see above), once a flush's hours
 * are marked loaded. */
void cs_dedup_trim(cs_dedup *d);

/* The memory was dropped: sealed and pending fingerprints are forgotten. */
void cs_dedup_discard(cs_dedup *d);

/* Fingerprints held now. */
size_t cs_dedup_size(const cs_dedup *d);

#endif
