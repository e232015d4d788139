/* flight.h - the de-duplication side of one flush in flight (pure).
 *
 * The worker hands a full batch (batch.h) to a flush that runs on another
 * thread and goes on filling the next batch.  The handed batch's pending
 * fingerprints are sealed (dedup.h) and copied here, per event hour, with
 * their batch indexes, so that the flush's transaction needs nothing the
 * worker's thread changes meanwhile:
 *
 *   cs_flight_seen()   rows other workers stored for an hour since it was
 *                      loaded: events of the handed batch among them are
 *                      taken back out of it (counted once, by the other
 *                      worker) and not stored again; the rows are kept
 *   cs_flight_fresh()  the fingerprints to store for an hour: the copies
 *                      not taken back
 *
 * Back on the worker's thread, once the flush is stored, cs_flight_done()
 * commits the sealed fingerprints, merges the kept rows (taking events of
 * the batch filled meanwhile back out of that batch) and marks each hour
 * loaded up to the row the flush wrote.  A flush whose transaction failed
 * is retried with the same flight after cs_flight_attempt(); a flush that
 * is dropped (fenced, refused) is freed with cs_dedup_discard().
 *
 * Thread notes: from cs_flight_new() to the flush's outcome the flight and
 * the handed batch belong to the flushing thread; cs_flight_done() and
 * cs_flight_free() run on the worker's thread, which owns the cs_dedup.
 */
#ifndef CS_FLIGHT_H
#define CS_FLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "dedup.h"

typedef struct cs_flight cs_flight;

/* Seals d's pending fingerprints (cs_dedup_seal) and copies them, with
 * each hour's loaded row number.  0 or -ENOMEM. */
int cs_flight_new(cs_dedup *d, cs_flight **ret);
void cs_flight_free(cs_flight *f); /* NULL allowed */

/* The event hours with sealed fingerprints, ascending: n of them, the rows
 * known for each (stored.h's seen_seq), and where the flush writes the row
 * number it stored for each (initially the known one). */
size_t cs_flight_nhours(const cs_flight *f);
const int64_t *cs_flight_hours(const cs_flight *f);
const int64_t *cs_flight_known(const cs_flight *f);
int64_t *cs_flight_stored(cs_flight *f);

/* Another worker's row of hour (n fingerprints at fps, row number seq):
 * the handed batch's events among them are taken back out of batch, once
 * each, and the row is kept for cs_flight_done().  Idempotent for a row.
 * Returns how many were taken back now (0 when seen before), or -ENOMEM. */
int cs_flight_seen(cs_flight *f, cs_batch *batch, int64_t hour, const unsigned char *fps,
                   size_t n, int64_t seq);

/* The fingerprints of hour still to store, packed (16 bytes each) in a
 * buffer owned by f, valid until the next call. */
void cs_flight_fresh(cs_flight *f, int64_t hour, const unsigned char **ret_fps, size_t *ret_n);

/* Before another attempt at the same flush: forgets the kept rows (the
 * attempt reads them again).  What was taken back stays taken back. */
void cs_flight_attempt(cs_flight *f);

/* The flush was stored: see above.  current is the batch filled meanwhile
 * (its events found in the kept rows are taken back).  Returns how many
 * were taken back from current, or -ENOMEM. */
int cs_flight_done(cs_flight *f, cs_dedup *d, cs_batch *current);

#endif
