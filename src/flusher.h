/* flusher.h - writes batches to PostgreSQL on a thread and connection of
 * its own, so that the worker reads Kafka while a flush commits.
 *
 * The worker hands a cs_store_batch to cs_flusher_submit() and goes on;
 * cs_flusher_poll() says whether the flush is over and cs_flusher_wait()
 * waits for it.  At most one flush is in flight; its outcome is what
 * cs_store_flush() returned (store.h), with the error text and the time
 * the transaction took.
 *
 * Ownership and threads: the batch and everything it points to stay the
 * caller's, and from cs_flusher_submit() until the outcome is taken they
 * belong to the flusher's thread (the batch's de-duplication callbacks run
 * there): the caller must not touch them.  Every function is for one
 * caller thread (the worker's).
 */
#ifndef CS_FLUSHER_H
#define CS_FLUSHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct cs_flusher cs_flusher;

/* The outcome of one flush. */
typedef struct cs_flush_outcome {
    int r;              /* cs_store_flush()'s result */
    int64_t usec;       /* how long it took */
    char err[768];      /* its error text when r < 0 */
} cs_flush_outcome;

/* A flusher with its own connection to conninfo, whose sessions run
 * on_connect (NULL: nothing) after every (re)connect; it connects at the
 * first flush.  NULL on failure (-ENOMEM, or the thread's errno in
 * *ret_err). */
cs_flusher *cs_flusher_new(const char *conninfo, const char *on_connect, int *ret_err);

/* Waits for a flush in flight, stops the thread, closes the connection.
 * NULL allowed. */
void cs_flusher_free(cs_flusher *f);

/* Starts writing b.  0, or -EBUSY when a flush is in flight. */
int cs_flusher_submit(cs_flusher *f, const cs_store_batch *b);

/* Whether a flush was submitted and its outcome not taken yet. */
bool cs_flusher_busy(const cs_flusher *f);

/* 1 and the outcome when the flush in flight is over; 0 while it runs or
 * when none is in flight. */
int cs_flusher_poll(cs_flusher *f, cs_flush_outcome *ret);

/* Waits for the flush in flight and gives its outcome; 0 when none was in
 * flight (ret untouched), 1 otherwise. */
int cs_flusher_wait(cs_flusher *f, cs_flush_outcome *ret);

#endif
