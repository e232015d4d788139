/* consumer.h - the Kafka consumer-group member (adapter over librdkafka).
 *
 * Wraps a high-level consumer with auto-commit off, the eager range assignor,
 * and start positions that come from the caller: on every assignment the
 * on_assign callback returns the offsets to start from (costream reads them
 * from PostgreSQL), and the consumer assigns exactly those (not Kafka's
 * committed offsets, and without seeking: librdkafka 2.0.2's seek is not
 * reliable here).  Before partitions are taken away, on_revoke is called so
 * the caller can flush.  Callbacks run on the thread that calls
 * cs_consumer_poll(), inside that call.  Not thread-safe.
 */
#ifndef CS_CONSUMER_H
#define CS_CONSUMER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CS_OFFSET_NONE INT64_C(-1) /* no stored offset: use start_offset */

typedef struct cs_tp {
    const char *topic;
    int32_t partition;
} cs_tp;

typedef struct cs_consumer_callbacks {
    void *opaque;
    /* Fill ret_start[i] with the next offset to consume for parts[i], or
     * CS_OFFSET_NONE.  Return 0, or a negative error: the assignment is then
     * retried with a back-off until it succeeds. */
    int (*on_assign)(void *opaque, const cs_tp *parts, size_t n, int64_t *ret_start);
    /* Partitions are about to be taken away. */
    void (*on_revoke)(void *opaque, const cs_tp *parts, size_t n);
    /* A non-fatal client error or notice, for the caller to log. */
    void (*on_error)(void *opaque, const char *what, const char *reason);
    /* When non-NULL and set, a failing on_assign is not retried any more
     * (the process is shutting down). */
    const volatile sig_atomic_t *stop;
} cs_consumer_callbacks;

typedef struct cs_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *payload;
    size_t len;
    const void *key;
    size_t key_len;
    int64_t timestamp_ms; /* Kafka's message timestamp (create or log-append), -1 if none */
    void *handle; /* private */
} cs_message;

typedef struct cs_consumer cs_consumer;

/* Creates a consumer subscribed to cfg->topics in group cfg->group with the
 * kafka.* properties applied.  NULL with err filled on failure. */
cs_consumer *cs_consumer_new(const cs_config *cfg, const cs_consumer_callbacks *cb, char *err,
                             size_t errsize);

/* Waits up to timeout_ms for a message.  Returns 1 and *ret (release it with
 * cs_consumer_release), 0 on time-out, or a negative error code for a fatal
 * consumer error (err filled). */
int cs_consumer_poll(cs_consumer *c, int timeout_ms, cs_message *ret, char *err, size_t errsize);
void cs_consumer_release(cs_message *m);

/* Asks on_assign again for the current assignment and restarts every
 * partition from the offsets it returns (after the store fenced us). */
int cs_consumer_reassign(cs_consumer *c);

/* Pauses or resumes fetching on every assigned partition. */
void cs_consumer_pause(cs_consumer *c, int pause);

/* Reports consumed positions to Kafka (informational: lag tools read
 * them; costream itself resumes from PostgreSQL). */
void cs_consumer_commit_async(cs_consumer *c, const cs_tp *parts, const int64_t *next, size_t n);

/* The partition's high watermark as last seen by the client (no network
 * round trip), or -1 when unknown. */
int64_t cs_consumer_high_watermark(cs_consumer *c, const char *topic, int32_t partition);

/* The partition's log start offset (the oldest message Kafka still has),
 * asked of the broker (waits up to timeout_ms), or -1 when unknown. */
int64_t cs_consumer_log_start(cs_consumer *c, const char *topic, int32_t partition,
                              int timeout_ms);

/* The number of partitions of topic, from the cluster's metadata (waits up
 * to timeout_ms).  Returns it, or a negative error. */
int cs_consumer_partition_count(cs_consumer *c, const char *topic, int timeout_ms);

/* Number of partitions currently assigned. */
size_t cs_consumer_assigned(const cs_consumer *c);

/* Leaves the group (on_revoke runs) and destroys the consumer.  NULL ok. */
void cs_consumer_free(cs_consumer *c);

#endif
