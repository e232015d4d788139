/* event.h - usage events and their two wire encodings.
 *
 * A usage event is a CloudEvents 1.0 structured-mode JSON document or a
 * MessagePack map with the same fields (docs/formats.md, schemas/):
 *
 *   id, source, type, specversion ("1.0"), subject (customer, optional),
 *   time (RFC 3339 event time), data: {product, meter, quantity, labels}
 *
 * cs_event_decode() fills a caller-owned cs_event; all of its strings live
 * in the event's own arena, so decoding allocates nothing that outlives the
 * call and an event can be reused for the next message.  A message that
 * cannot become an event yields a reason code (stable, for the
 * rejected-events table and metrics) and a human-readable detail naming the
 * field.  Pure module: no service headers.  Thread-safe per cs_event.
 */
#ifndef CS_EVENT_H
#define CS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "decimal.h"
#include "utf8.h"

#define CS_EVENT_MAX_LABELS 32
#define CS_EVENT_ARENA 16384
#define CS_EVENT_DETAIL 256

typedef enum cs_reject_code {
    CS_REJECT_NONE = 0,
    CS_REJECT_EMPTY,          /* zero-length message */
    CS_REJECT_OVERSIZED,      /* larger than the configured maximum */
    CS_REJECT_INVALID_UTF8,   /* JSON text or a MessagePack string */
    CS_REJECT_MALFORMED_JSON,
    CS_REJECT_MALFORMED_MSGPACK,
    CS_REJECT_MISSING_FIELD,
    CS_REJECT_WRONG_TYPE,
    CS_REJECT_INVALID_VALUE,  /* e.g. specversion other than 1.0, empty id */
    CS_REJECT_INVALID_QUANTITY,
    CS_REJECT_INVALID_TIME,
    CS_REJECT_UNPRICED,       /* no pricing rule covers product/meter/time */
    CS_REJECT_TOO_LARGE_FIELD,
    CS_REJECT_COST_OVERFLOW,
    CS_REJECT_STORE_REFUSED,  /* PostgreSQL refused the message's data (SQLSTATE in the detail) */
    CS_REJECT__COUNT
} cs_reject_code;

/* Stable snake_case name of a reason ("invalid_quantity"). */
const char *cs_reject_code_name(cs_reject_code code);

typedef struct cs_event_error {
    cs_reject_code code;
    char detail[CS_EVENT_DETAIL]; /* "data.quantity: negative (-3)" */
} cs_event_error;

typedef struct cs_label {
    const char *name;
    const char *value;
} cs_label;

typedef struct cs_event {
    const char *id;
    const char *source;
    const char *type;
    const char *subject; /* NULL when absent: attributed through labels */
    const char *product;
    const char *meter;
    int64_t time_usec;
    cs_dec quantity;
    size_t nlabels;
    cs_label labels[CS_EVENT_MAX_LABELS];
    /* private */
    size_t arena_used;
    char arena[CS_EVENT_ARENA];
} cs_event;

typedef enum cs_event_format {
    CS_EVENT_FORMAT_AUTO = 0, /* '{' → JSON, map header → MessagePack */
    CS_EVENT_FORMAT_JSON,
    CS_EVENT_FORMAT_MSGPACK,
} cs_event_format;

/* Decodes len bytes at buf into *ev.  Returns 0, or -EBADMSG with *err
 * filled.  max_bytes of 0 means no limit. */
int cs_event_decode(const void *buf, size_t len, size_t max_bytes, cs_event_format fmt,
                    cs_event *ev, cs_event_error *err);

/* Returns the value of label name, or NULL. */
const char *cs_event_label(const cs_event *ev, const char *name);


#endif
