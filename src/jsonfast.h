/* jsonfast.h - a pull parser for JSON text that builds nothing (pure).
 *
 * The hot path of event decoding reads a few fields of a small object; a
 * tree of the whole document (jansson) costs more than everything else the
 * worker does per event.  This reader walks the text once: object keys and
 * string values are unescaped into a caller's buffer, numbers are returned
 * as their exact text, other values are skipped (and checked).
 *
 * It is deliberately partial.  Whenever the text is not plain, valid JSON
 * that it is sure jansson reads the same way, it answers CS_JF_GIVE_UP and
 * the caller decodes with jansson instead: malformed text (so that every
 * reject keeps jansson's detail), duplicate keys, \u0000, lone surrogates,
 * nesting deeper than CS_JF_MAX_DEPTH, strings longer than the buffer, and
 * objects nested inside values the caller skips.  tests/fuzz/fuzz_event.c
 * checks on every input that what it accepts, jansson accepts with the same
 * fields.  Thread-safe per cs_jf.
 */
#ifndef CS_JSONFAST_H
#define CS_JSONFAST_H

#include <stddef.h>

#define CS_JF_GIVE_UP (-1)
#define CS_JF_MAX_DEPTH 32

typedef enum cs_jf_kind {
    CS_JF_STRING,
    CS_JF_NUMBER,
    CS_JF_TRUE,
    CS_JF_FALSE,
    CS_JF_NULL,
    CS_JF_OBJECT, /* the '{' was read: read its keys, or cs_jf_skip_rest() */
    CS_JF_ARRAY,  /* the '[' was read: cs_jf_skip_rest() */
} cs_jf_kind;

typedef struct cs_jf_value {
    cs_jf_kind kind;
    const char *p; /* STRING: unescaped bytes (in the buffer); NUMBER: the text */
    size_t n;
} cs_jf_value;

typedef struct cs_jf {
    const char *p, *end;
    char *buf;      /* unescaped strings go here */
    size_t cap, used;
    int depth;
    int first; /* the container just opened has had no element yet */
} cs_jf;

/* Starts reading text[0..len) with scratch buffer buf (capacity cap). */
void cs_jf_init(cs_jf *j, const char *text, size_t len, char *buf, size_t cap);

/* Reads the next value.  0 or CS_JF_GIVE_UP. */
int cs_jf_value_read(cs_jf *j, cs_jf_value *ret);

/* Inside an object: reads the next key into *ret (unescaped, in the buffer)
 * and the ':' after it.  1 a key, 0 the object ended ('}' read), or
 * CS_JF_GIVE_UP. */
int cs_jf_key(cs_jf *j, cs_jf_value *ret);

/* Skips what remains of the object or array whose opening bracket was just
 * read (validating it; a nested object makes it give up).  0 or
 * CS_JF_GIVE_UP. */
int cs_jf_skip_rest(cs_jf *j, cs_jf_kind kind);

/* Records key k among the n keys already read of an object (room for
 * max): CS_JF_GIVE_UP on a duplicate (jansson's JSON_REJECT_DUPLICATES
 * refuses it) or when there is no room, else 0. */
int cs_jf_key_new(const cs_jf_value *k, cs_jf_value *keys, size_t *n, size_t max);

/* 0 when only whitespace remains, else CS_JF_GIVE_UP. */
int cs_jf_end(cs_jf *j);

#endif
