/* rejects.h - the rejected-events table from the operator's side (edge:
 * PostgreSQL and Kafka): list, replay, retention.
 *
 * Every message a worker cannot bill is kept in rejected_events with its
 * reason, detail and raw bytes (docs/formats.md).  After the cause is
 * fixed (a rule added for an unpriced meter, a producer bug fixed and the
 * payload corrected upstream), the chosen raw payloads are re-published,
 * byte for byte with their keys, to a topic the workers read: they are
 * then billed like any message (de-duplicated by CloudEvents id, so a
 * replayed event that had in fact been counted is counted once).  A
 * replayed reject is marked (replayed_at, replayed_to) only once Kafka has
 * acknowledged it, and is not replayed again unless asked.  Retention
 * deletes rejects older than rejects.retention_days, group by group.
 *
 * Functions return 0 or a negative errno (-EINVAL: a filter or topic is
 * malformed; -EIO: PostgreSQL or Kafka failed) with err filled.  Not
 * thread-safe per cs_store.
 */
#ifndef CS_REJECTS_H
#define CS_REJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

/* Which rejects: every non-NULL field narrows the selection. */
typedef struct cs_rejects_filter {
    const char *group;          /* consumer group */
    const char *reason;         /* e.g. unpriced */
    const char *topic;          /* source topic */
    const char *from, *to;      /* RFC 3339 times: received in [from, to) */
    const int64_t *ids;         /* these ids only (nids of them) */
    size_t nids;
    bool include_replayed;      /* also those replayed before */
    long limit;                 /* at most this many, oldest first; 0: no limit */
} cs_rejects_filter;

typedef struct cs_reject_row {
    int64_t id;
    const char *received_at, *group, *topic, *reason, *detail;
    int32_t partition;
    int64_t offset;
    const unsigned char *raw, *key; /* key may be NULL */
    size_t raw_len, key_len;
    const char *replayed_at, *replayed_to; /* NULL: never replayed */
} cs_reject_row;

/* Calls fn for each selected reject (valid during the call). */
int cs_rejects_list(cs_store *s, const cs_rejects_filter *f,
                    void (*fn)(void *opaque, const cs_reject_row *row), void *opaque, char *err,
                    size_t errsize);

/* Re-publishes the selected rejects' raw payloads (and keys) to topic
 * `into` with the configuration's kafka.* properties, waits for Kafka's
 * acknowledgements and marks those acknowledged.  dry_run: selects and
 * counts only.  *ret_selected and *ret_replayed count them. */
int cs_rejects_replay(cs_store *s, const cs_config *cfg, const cs_rejects_filter *f,
                      const char *into, bool dry_run, size_t *ret_selected, size_t *ret_replayed,
                      char *err, size_t errsize);

/* Deletes group's rejects received more than days ago. */
int cs_rejects_prune(cs_store *s, const char *group, int days, long *ret_deleted, char *err,
                     size_t errsize);

#endif
