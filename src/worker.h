/* worker.h - the `costream run` pipeline: consume, decode, attribute, price,
 * aggregate, and flush exactly once.
 *
 *   Kafka ──poll──▶ decode ──▶ Redis labels ──▶ rules ──▶ aggregate ──┐
 *      ▲                 └──────── rejected (reason, raw bytes) ───────┤
 *      └──── start offsets ◀── PostgreSQL ◀── one transaction: rows + rejects + offsets
 *
 * A worker is single-threaded: the rebalance callbacks, processing and
 * flushing all run on the thread that called cs_worker_run().  The stop and
 * reload flags are set from signal handlers and read between messages.
 */
#ifndef CS_WORKER_H
#define CS_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

typedef struct cs_worker_counters {
    uint64_t consumed;
    uint64_t accepted;    /* counted, duplicates excluded once flushed */
    uint64_t duplicates;  /* events whose (source, id) was already counted */
    uint64_t rejected[CS_REJECT__COUNT];
    uint64_t unattributed;
    uint64_t flushes;
    uint64_t fenced;
    uint64_t store_errors;
    uint64_t redis_errors;
} cs_worker_counters;

/* Runs until *stop becomes non-zero, then flushes, leaves the group and
 * returns 0; *reload non-zero re-reads the rules (and is reset).  Returns a
 * negative error if start-up fails (rules invalid, Kafka configuration
 * rejected); failures of Redis or PostgreSQL while running are retried, not
 * returned. */
int cs_worker_run(const cs_config *cfg, volatile sig_atomic_t *stop,
                  volatile sig_atomic_t *reload);

#endif
