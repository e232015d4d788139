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
#include "telemetry.h"

typedef cs_telemetry_counters cs_worker_counters;

/* Runs until *stop becomes non-zero, then flushes, leaves the group and
 * returns 0; *reload non-zero re-reads the rules (and is reset).  Returns a
 * negative error if start-up fails (rules invalid, Kafka configuration
 * rejected); failures of Redis or PostgreSQL while running are retried, not
 * returned. */
int cs_worker_run(const cs_config *cfg, volatile sig_atomic_t *stop,
                  volatile sig_atomic_t *reload);

#endif
