/* sample.h - infrastructure metric samples (prometheus-kafka-adapter format).
 *
 * One message per sample, JSON or a MessagePack map with the same fields:
 *
 *   {"timestamp": "2026-11-03T10:15:00Z", "value": "1234.5",
 *    "name": "container_cpu_usage_seconds_total",
 *    "labels": {"__name__": "...", "namespace": "...", "pod": "..."}}
 *
 * value is a string: a decimal (digits beyond the 12th decimal are rounded
 * half-even: the source was a float64), or "NaN" (also Prometheus's
 * staleness marker), "+Inf", "-Inf".  A series is the metric name with its
 * full label set; its id is the SHA-256 of a canonical text form (labels
 * sorted by name), so every worker names a series the same way whichever
 * partition its samples arrive on.  Pure module; thread-safe per cs_sample.
 */
#ifndef CS_SAMPLE_H
#define CS_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "decimal.h"
#include "event.h"

#define CS_SAMPLE_MAX_LABELS 32
#define CS_SERIES_ID_LEN 32

typedef enum cs_sample_special {
    CS_SAMPLE_FINITE = 0,
    CS_SAMPLE_NAN,
    CS_SAMPLE_POS_INF,
    CS_SAMPLE_NEG_INF,
} cs_sample_special;

typedef struct cs_sample {
    const char *name;
    int64_t time_usec;
    cs_dec value;              /* when special == CS_SAMPLE_FINITE */
    cs_sample_special special;
    size_t nlabels;
    cs_label labels[CS_SAMPLE_MAX_LABELS]; /* sorted by name */
    unsigned char series_id[CS_SERIES_ID_LEN];
    /* private */
    size_t arena_used;
    char arena[CS_EVENT_ARENA];
} cs_sample;

/* Decodes a message (format as for events).  Returns 0 or -EBADMSG with
 * err filled (reasons shared with events: malformed_json, missing_field,
 * wrong_type, invalid_value, invalid_time, invalid_utf8, oversized, ...). */
int cs_sample_decode(const void *buf, size_t len, size_t max_bytes, cs_event_format fmt,
                     cs_sample *s, cs_event_error *err);

/* What the worker needs of a sample it will not price: its metric name
 * and its time (which still moves the partition's watermark). */
typedef struct cs_sample_head {
    char name[257];
    int64_t time_usec;
} cs_sample_head;

/* Reads only the name and the timestamp of a sample, in place, without
 * building anything: the labels and the value are checked for form (valid
 * JSON or MessagePack, strings where strings belong) but not decoded, and
 * no series id is computed.  0 when both were read and are valid (a
 * Prometheus metric name, an RFC 3339 time); -EAGAIN whenever it is not
 * sure, and the caller decodes the message with cs_sample_decode(), which
 * says what is wrong.  Where it answers 0, cs_sample_decode() finds the
 * same name and time or refuses the value or a label (tests/fuzz/
 * fuzz_sample.c checks this on every input).  Thread-safe. */
int cs_sample_peek(const void *buf, size_t len, size_t max_bytes, cs_event_format fmt,
                   cs_sample_head *ret);

/* Writes the canonical series text name{a="x",b="y"} (sorted labels,
 * __name__ omitted).  Returns the length, or -ENOSPC. */
int cs_sample_series_text(const cs_sample *s, char *buf, size_t size);

/* The special value's spelling ("NaN", "+Inf", "-Inf"), NULL for finite. */
const char *cs_sample_special_name(cs_sample_special sp);

#endif
