/* decode.h - helpers shared by the two message decoders (event.c,
 * sample.c); internal to them.  Pure. */
#ifndef CS_DECODE_H
#define CS_DECODE_H

#include <msgpack.h>
#include <stddef.h>

#include "event.h"

/* Fills err and returns -EBADMSG. */
int cs_decode_fail(cs_event_error *err, cs_reject_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The value of string key in a MessagePack map (the last one), or NULL. */
const msgpack_object *cs_decode_mp_get(const msgpack_object *map, const char *key);

/* Copies n bytes of p, NUL-terminated, into arena (capacity cap, *used
 * bytes taken); returns the copy, or NULL when it does not fit. */
const char *cs_decode_arena_put(char *arena, size_t cap, size_t *used, const char *p, size_t n);

/* Checks, without allocating, that every length and element count that
 * MessagePack text declares fits in the bytes that remain, so that the
 * unpacker never reserves memory for data that is not there.  0 or
 * -EBADMSG. */
int cs_decode_mp_check(const char *buf, size_t len);

/* Moves *pos past the one MessagePack object that starts there, checking
 * its lengths and counts as cs_decode_mp_check() does.  0 or -EBADMSG
 * (*pos unchanged). */
int cs_decode_mp_skip(const char *buf, size_t len, size_t *pos);

/* Resets err, refuses empty and oversized messages, and resolves
 * CS_EVENT_FORMAT_AUTO ('{' → JSON, a map header → MessagePack).  0 or
 * -EBADMSG. */
int cs_decode_prelude(const char *p, size_t len, size_t max_bytes, cs_event_format *fmt,
                      cs_event_error *err);

/* The two JSON front ends of events, both ending in the same validation:
 * the reference (jansson; every input), and the fast path (jsonfast; no
 * tree, no allocation), which returns CS_JF_GIVE_UP (-1) whenever it is
 * not sure, leaving ev untouched.  cs_event_decode() tries the fast path
 * first.  The text must be valid UTF-8 for the fast path. */
int cs_event_decode_json_ref(const char *buf, size_t len, cs_event *ev, cs_event_error *err);
int cs_event_decode_json_fast(const char *buf, size_t len, cs_event *ev, cs_event_error *err);

/* The same pair for metric samples (cs_sample is in sample.h): the
 * reference decides every input; the fast path accepts only what it is
 * sure of and returns CS_JF_GIVE_UP for everything else, rejects included
 * (they take the reference's path and detail), with s to be reset by the
 * caller.  cs_sample_decode() tries the fast path first. */
struct cs_sample;
int cs_sample_decode_json_ref(const char *buf, size_t len, struct cs_sample *s,
                              cs_event_error *err);
int cs_sample_decode_json_fast(const char *buf, size_t len, struct cs_sample *s,
                               cs_event_error *err);

#endif
