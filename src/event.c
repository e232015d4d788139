/* event.c - decoding usage events (see event.h).
 *
 * Two front ends, one validator.  The JSON front end (jansson) and the
 * MessagePack front end (msgpack-c) only find fields and report each as a
 * raw value: absent, a string, the literal text of a number, or some other
 * type.  finish_event() then applies every rule of the format once, so both
 * encodings accept and reject exactly the same events with the same reasons.
 *
 * JSON numbers are never read as doubles: the quantity's literal text is
 * located with jsonscan and parsed by the decimal module.  MessagePack
 * floats are rejected for the same reason (a binary float is not an exact
 * quantity); integers are exact and accepted.
 */
#include "event.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "jsonfast.h"
#include "jsonscan.h"
#include "timestamp.h"
#include "utf8.h"

#define MAX_FIELD 256 /* bytes in id, source, subject, product, meter, labels */

static const char *const reject_names[CS_REJECT__COUNT] = {
    [CS_REJECT_NONE] = "none",
    [CS_REJECT_EMPTY] = "empty",
    [CS_REJECT_OVERSIZED] = "oversized",
    [CS_REJECT_INVALID_UTF8] = "invalid_utf8",
    [CS_REJECT_MALFORMED_JSON] = "malformed_json",
    [CS_REJECT_MALFORMED_MSGPACK] = "malformed_msgpack",
    [CS_REJECT_MISSING_FIELD] = "missing_field",
    [CS_REJECT_WRONG_TYPE] = "wrong_type",
    [CS_REJECT_INVALID_VALUE] = "invalid_value",
    [CS_REJECT_INVALID_QUANTITY] = "invalid_quantity",
    [CS_REJECT_INVALID_TIME] = "invalid_time",
    [CS_REJECT_UNPRICED] = "unpriced",
    [CS_REJECT_TOO_LARGE_FIELD] = "field_too_large",
    [CS_REJECT_COST_OVERFLOW] = "cost_overflow",
    [CS_REJECT_STORE_REFUSED] = "store_refused",
};

const char *cs_reject_code_name(cs_reject_code code)
{
    if ((int)code < 0 || code >= CS_REJECT__COUNT)
        return "unknown";
    return reject_names[code];
}

int cs_decode_fail(cs_event_error *err, cs_reject_code code, const char *fmt, ...)
{
    va_list ap;
    char text[4 * CS_EVENT_DETAIL];
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* details quote the input: make them valid UTF-8, cut between characters */
    cs_utf8_escape(err->detail, sizeof(err->detail), text, strlen(text), NULL);
    return -EBADMSG;
}

#define fail cs_decode_fail

/* ---- raw fields, common to both front ends ------------------------------ */

typedef enum raw_kind { RAW_ABSENT = 0, RAW_STRING, RAW_NUMBER, RAW_OTHER } raw_kind;

typedef struct rawval {
    raw_kind kind;
    const char *p;
    size_t n;
    const char *type_name; /* RAW_OTHER: what it was ("object", "binary float") */
} rawval;

typedef struct rawevent {
    rawval specversion, id, source, type, subject, time;
    bool have_data;
    const char *data_type; /* non-NULL when data is present but not a map */
    rawval product, meter, quantity;
    char numbuf[48]; /* text of a MessagePack integer quantity */
} rawevent;

const char *cs_decode_arena_put(char *arena, size_t cap, size_t *used, const char *p, size_t n)
{
    if (n + 1 > cap - *used)
        return NULL;
    char *d = arena + *used;
    memcpy(d, p, n);
    d[n] = '\0';
    *used += n + 1;
    return d;
}

static const char *arena_put(cs_event *ev, const char *s, size_t n)
{
    return cs_decode_arena_put(ev->arena, sizeof(ev->arena), &ev->arena_used, s, n);
}

static int take_string(cs_event *ev, cs_event_error *err, const rawval *v, const char *field,
                       bool required, const char **ret)
{
    *ret = NULL;
    if (v->kind == RAW_ABSENT) {
        if (required)
            return fail(err, CS_REJECT_MISSING_FIELD, "%s: required field is missing", field);
        return 0;
    }
    if (v->kind != RAW_STRING)
        return fail(err, CS_REJECT_WRONG_TYPE, "%s: expected a string, got %s", field,
                    v->kind == RAW_NUMBER ? "a number" : v->type_name);
    if (v->n == 0) {
        if (required)
            return fail(err, CS_REJECT_INVALID_VALUE, "%s: must not be empty", field);
        return 0;
    }
    if (v->n > MAX_FIELD)
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "%s: %zu bytes, at most %d allowed", field,
                    v->n, MAX_FIELD);
    if (memchr(v->p, '\0', v->n))
        return fail(err, CS_REJECT_INVALID_VALUE, "%s: contains a NUL character", field);
    if (!cs_utf8_valid(v->p, v->n))
        return fail(err, CS_REJECT_INVALID_UTF8, "%s: not valid UTF-8", field);
    *ret = arena_put(ev, v->p, v->n);
    if (!*ret)
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "%s: event fields exceed %d bytes", field,
                    CS_EVENT_ARENA);
    return 0;
}

static int add_label(cs_event *ev, cs_event_error *err, const char *name, size_t nlen,
                     const rawval *value)
{
    char field[80];
    if (ev->nlabels >= CS_EVENT_MAX_LABELS)
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "data.labels: more than %d labels",
                    CS_EVENT_MAX_LABELS);
    if (nlen == 0 || nlen > MAX_FIELD || !cs_utf8_valid(name, nlen) || memchr(name, '\0', nlen))
        return fail(err, CS_REJECT_INVALID_VALUE, "data.labels: invalid label name");
    const char *val;
    int r = take_string(ev, err, value, "data.labels", true, &val);
    if (r < 0) { /* again, for the message: the field is named only when it is wrong */
        snprintf(field, sizeof(field), "data.labels.%.*s", cs_utf8_prefix(name, nlen, 40), name);
        return take_string(ev, err, value, field, true, &val);
    }
    const char *nm = arena_put(ev, name, nlen);
    if (!nm)
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "data.labels: exceed %d bytes",
                    CS_EVENT_ARENA);
    ev->labels[ev->nlabels++] = (cs_label){nm, val};
    return 0;
}

static int finish_event(cs_event *ev, cs_event_error *err, const rawevent *re)
{
    const char *spec, *tm;
    int r;

    if ((r = take_string(ev, err, &re->specversion, "specversion", true, &spec)) < 0)
        return r;
    if (strcmp(spec, "1.0") != 0)
        return fail(err, CS_REJECT_INVALID_VALUE, "specversion: \"%.*s\" is not supported, expected \"1.0\"",
                    cs_utf8_prefix(spec, strlen(spec), 20), spec);
    if ((r = take_string(ev, err, &re->id, "id", true, &ev->id)) < 0 ||
        (r = take_string(ev, err, &re->source, "source", true, &ev->source)) < 0 ||
        (r = take_string(ev, err, &re->type, "type", true, &ev->type)) < 0 ||
        (r = take_string(ev, err, &re->subject, "subject", false, &ev->subject)) < 0 ||
        (r = take_string(ev, err, &re->time, "time", true, &tm)) < 0)
        return r;
    r = cs_timestamp_parse(tm, strlen(tm), &ev->time_usec);
    if (r == -ERANGE)
        return fail(err, CS_REJECT_INVALID_TIME, "time: \"%.*s\" is out of range (1970-9999)",
                    cs_utf8_prefix(tm, strlen(tm), 40), tm);
    if (r < 0)
        return fail(err, CS_REJECT_INVALID_TIME, "time: \"%.*s\" is not an RFC 3339 date-time",
                    cs_utf8_prefix(tm, strlen(tm), 40), tm);
    if (!re->have_data)
        return fail(err, CS_REJECT_MISSING_FIELD, "data: required field is missing");
    if (re->data_type)
        return fail(err, CS_REJECT_WRONG_TYPE, "data: expected an object, got %s", re->data_type);
    if ((r = take_string(ev, err, &re->product, "data.product", true, &ev->product)) < 0 ||
        (r = take_string(ev, err, &re->meter, "data.meter", true, &ev->meter)) < 0)
        return r;

    const rawval *q = &re->quantity;
    if (q->kind == RAW_ABSENT)
        return fail(err, CS_REJECT_MISSING_FIELD, "data.quantity: required field is missing");
    if (q->kind == RAW_OTHER)
        return fail(err, CS_REJECT_WRONG_TYPE,
                    "data.quantity: expected a number or a decimal string, got %s", q->type_name);
    r = cs_dec_parse(q->p, q->n, &ev->quantity);
    int shown = cs_utf8_prefix(q->p, q->n, 40);
    if (q->kind == RAW_STRING && !cs_utf8_valid(q->p, q->n))
        return fail(err, CS_REJECT_INVALID_UTF8, "data.quantity: not valid UTF-8");
    if (r == -EDOM)
        return fail(err, CS_REJECT_INVALID_QUANTITY,
                    "data.quantity: \"%.*s\" has more than %d decimal places", shown, q->p,
                    CS_DEC_SCALE);
    if (r == -ERANGE)
        return fail(err, CS_REJECT_INVALID_QUANTITY, "data.quantity: \"%.*s\" is out of range",
                    shown, q->p);
    if (r < 0)
        return fail(err, CS_REJECT_INVALID_QUANTITY, "data.quantity: \"%.*s\" is not a decimal number",
                    shown, q->p);
    if (cs_dec_is_neg(ev->quantity))
        return fail(err, CS_REJECT_INVALID_QUANTITY, "data.quantity: \"%.*s\" is negative",
                    shown, q->p);
    return 0;
}

/* ---- JSON front end ------------------------------------------------------ */

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static void json_raw(const json_t *obj, const char *key, rawval *ret)
{
    const json_t *v = json_object_get(obj, key);
    memset(ret, 0, sizeof(*ret));
    if (!v)
        return;
    if (json_is_string(v)) {
        ret->kind = RAW_STRING;
        ret->p = json_string_value(v);
        ret->n = json_string_length(v);
    } else if (json_is_number(v)) {
        ret->kind = RAW_NUMBER; /* text is found by the caller */
    } else {
        ret->kind = RAW_OTHER;
        ret->type_name = json_type_name(v);
    }
}

static int is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* jansson refuses numbers beyond int64 or double (2^63, 1e400), although
 * costream reads quantities from their text.  Parses text with each such
 * number blanked to 0 in a private copy (same length, so positions hold);
 * the quantity's own text is then read from the original by the caller. */
static json_t *json_load_exact(const char *buf, size_t len, json_error_t *jerr)
{
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, jerr);
    char *copy = NULL;
    for (int tries = 0; !root && tries < CS_EVENT_MAX_LABELS &&
                        json_error_code(jerr) == json_error_numeric_overflow; tries++) {
        if (!copy && !(copy = malloc(len)))
            break;
        if (!tries)
            memcpy(copy, buf, len);
        size_t end = (size_t)jerr->position < len ? (size_t)jerr->position : len;
        while (end > 0 && !is_number_char(copy[end - 1]) && end + 2 > (size_t)jerr->position)
            end--;
        size_t start = end;
        while (start > 0 && is_number_char(copy[start - 1]))
            start--;
        if (start == end)
            break;
        copy[start] = '0';
        memset(copy + start + 1, ' ', end - start - 1);
        root = json_loadb(copy, len, JSON_REJECT_DUPLICATES, jerr);
    }
    free(copy);
    return root;
}

int cs_event_decode_json_ref(const char *buf, size_t len, cs_event *ev, cs_event_error *err)
{
    json_error_t jerr;
    rawevent re;
    int r;

    if (!cs_utf8_valid(buf, len))
        return fail(err, CS_REJECT_INVALID_UTF8, "message is not valid UTF-8");
    json_t *root = json_load_exact(buf, len, &jerr);
    if (!root)
        return fail(err, CS_REJECT_MALFORMED_JSON, "line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    memset(&re, 0, sizeof(re));
    if (!json_is_object(root)) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "event: expected a JSON object, got %s",
                 json_type_name(root));
        goto out;
    }
    json_raw(root, "specversion", &re.specversion);
    json_raw(root, "id", &re.id);
    json_raw(root, "source", &re.source);
    json_raw(root, "type", &re.type);
    json_raw(root, "subject", &re.subject);
    json_raw(root, "time", &re.time);
    json_t *data = json_object_get(root, "data");
    json_t *labels = NULL;
    if (data) {
        re.have_data = true;
        if (!json_is_object(data)) {
            re.data_type = json_type_name(data);
        } else {
            json_raw(data, "product", &re.product);
            json_raw(data, "meter", &re.meter);
            json_raw(data, "quantity", &re.quantity);
            if (re.quantity.kind == RAW_NUMBER) {
                static const cs_jsonscan_step path[] = {{"data", 0}, {"quantity", 0}};
                size_t off, n;
                if (cs_jsonscan_find(buf, len, path, 2, &off, &n) < 0) {
                    r = fail(err, CS_REJECT_INVALID_QUANTITY,
                             "data.quantity: exact decimal text could not be located");
                    goto out;
                }
                re.quantity.p = buf + off;
                re.quantity.n = n;
            }
            labels = json_object_get(data, "labels");
        }
    }
    ev->nlabels = 0;
    if ((r = finish_event(ev, err, &re)) < 0)
        goto out;
    if (labels && !json_is_object(labels)) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "data.labels: expected an object, got %s",
                 json_type_name(labels));
        goto out;
    }
    if (labels) {
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v) {
            rawval rv = {0};
            if (json_is_string(v)) {
                rv.kind = RAW_STRING;
                rv.p = json_string_value(v);
                rv.n = json_string_length(v);
            } else {
                rv.kind = RAW_OTHER;
                rv.type_name = json_type_name(v);
            }
            if ((r = add_label(ev, err, k, strlen(k), &rv)) < 0)
                goto out;
        }
    }
    r = 0;
out:
    json_decref(root);
    return r;
}

/* ---- JSON fast path -------------------------------------------------------
 *
 * Reads the fields with jsonfast, builds nothing, and hands the same raw
 * values to finish_event() as the jansson front end.  Whenever jsonfast is
 * unsure (malformed text, duplicate keys, nested objects it would have to
 * check, ...) it gives up and cs_event_decode_json_ref() decides, so both paths accept and
 * reject exactly the same events with the same reasons and details
 * (tests/fuzz/fuzz_event.c compares them on every input). */

#define FAST_MAX_KEYS 64

typedef struct fast_label {
    const char *name;
    size_t nlen;
    rawval value;
} fast_label;

/* Type names as json_type_name() gives them. */
static const char *jf_type_name(cs_jf_kind k)
{
    switch (k) {
    case CS_JF_OBJECT: return "an object";
    case CS_JF_ARRAY: return "an array";
    case CS_JF_STRING: return "a string";
    case CS_JF_NUMBER: return "a number";
    case CS_JF_TRUE:
    case CS_JF_FALSE: return "a boolean";
    default: return "null";
    }
}

static void jf_raw(const cs_jf_value *v, rawval *ret)
{
    *ret = (rawval){0};
    if (v->kind == CS_JF_STRING)
        *ret = (rawval){RAW_STRING, v->p, v->n, NULL};
    else if (v->kind == CS_JF_NUMBER)
        *ret = (rawval){RAW_NUMBER, v->p, v->n, NULL};
    else
        *ret = (rawval){RAW_OTHER, NULL, 0, jf_type_name(v->kind)};
}

static bool jf_is(const cs_jf_value *k, const char *name)
{
    size_t n = strlen(name);
    return k->n == n && memcmp(k->p, name, n) == 0;
}

/* A value nobody reads: scalars are fine, arrays are checked, objects make
 * the fast path give up. */
static int jf_skip(cs_jf *j, const cs_jf_value *v)
{
    return v->kind == CS_JF_OBJECT || v->kind == CS_JF_ARRAY ? cs_jf_skip_rest(j, v->kind) : 0;
}

static int jf_labels(cs_jf *j, fast_label *labels, size_t *nlabels)
{
    cs_jf_value keys[FAST_MAX_KEYS], k, v;
    size_t nkeys = 0;
    int r;
    while ((r = cs_jf_key(j, &k)) == 1) {
        if (cs_jf_key_new(&k, keys, &nkeys, FAST_MAX_KEYS) < 0 || cs_jf_value_read(j, &v) < 0 ||
            v.kind == CS_JF_OBJECT || v.kind == CS_JF_ARRAY)
            return CS_JF_GIVE_UP;
        if (*nlabels <= CS_EVENT_MAX_LABELS) { /* one past the limit makes add_label say so */
            labels[*nlabels].name = k.p;
            labels[*nlabels].nlen = k.n;
            jf_raw(&v, &labels[*nlabels].value);
            (*nlabels)++;
        }
    }
    return r;
}

static int jf_data(cs_jf *j, rawevent *re, fast_label *labels, size_t *nlabels,
                   const char **labels_type)
{
    cs_jf_value keys[FAST_MAX_KEYS], k, v;
    size_t nkeys = 0;
    int r;
    while ((r = cs_jf_key(j, &k)) == 1) {
        if (cs_jf_key_new(&k, keys, &nkeys, FAST_MAX_KEYS) < 0 || cs_jf_value_read(j, &v) < 0)
            return CS_JF_GIVE_UP;
        rawval *slot = jf_is(&k, "product") ? &re->product
                       : jf_is(&k, "meter") ? &re->meter
                       : jf_is(&k, "quantity") ? &re->quantity
                                               : NULL;
        if (slot) {
            jf_raw(&v, slot);
            if (jf_skip(j, &v) < 0)
                return CS_JF_GIVE_UP;
        } else if (jf_is(&k, "labels") && v.kind == CS_JF_OBJECT) {
            *labels_type = NULL;
            if (jf_labels(j, labels, nlabels) < 0)
                return CS_JF_GIVE_UP;
        } else {
            if (jf_is(&k, "labels"))
                *labels_type = jf_type_name(v.kind);
            if (jf_skip(j, &v) < 0)
                return CS_JF_GIVE_UP;
        }
    }
    return r;
}

int cs_event_decode_json_fast(const char *buf, size_t len, cs_event *ev, cs_event_error *err)
{
    static const struct {
        const char *name;
        size_t offset;
    } top[] = {
        {"specversion", offsetof(rawevent, specversion)}, {"id", offsetof(rawevent, id)},
        {"source", offsetof(rawevent, source)},           {"type", offsetof(rawevent, type)},
        {"subject", offsetof(rawevent, subject)},         {"time", offsetof(rawevent, time)},
    };
    char scratch[CS_EVENT_ARENA];
    fast_label labels[CS_EVENT_MAX_LABELS + 1];
    size_t nlabels = 0;
    const char *labels_type = NULL;
    cs_jf_value keys[FAST_MAX_KEYS], k, v;
    size_t nkeys = 0;
    rawevent re;
    cs_jf j;
    int r;

    memset(&re, 0, sizeof(re));
    cs_jf_init(&j, buf, len, scratch, sizeof(scratch));
    if (cs_jf_value_read(&j, &v) < 0 || v.kind != CS_JF_OBJECT)
        return CS_JF_GIVE_UP;
    while ((r = cs_jf_key(&j, &k)) == 1) {
        if (cs_jf_key_new(&k, keys, &nkeys, FAST_MAX_KEYS) < 0 || cs_jf_value_read(&j, &v) < 0)
            return CS_JF_GIVE_UP;
        rawval *slot = NULL;
        for (size_t i = 0; i < sizeof(top) / sizeof(top[0]) && !slot; i++)
            if (jf_is(&k, top[i].name))
                slot = (rawval *)((char *)&re + top[i].offset);
        if (slot) {
            jf_raw(&v, slot);
            r = jf_skip(&j, &v);
        } else if (jf_is(&k, "data")) {
            re.have_data = true;
            re.data_type = v.kind == CS_JF_OBJECT ? NULL : jf_type_name(v.kind);
            r = v.kind == CS_JF_OBJECT ? jf_data(&j, &re, labels, &nlabels, &labels_type)
                                       : jf_skip(&j, &v);
        } else {
            r = jf_skip(&j, &v);
        }
        if (r < 0)
            return CS_JF_GIVE_UP;
    }
    if (r < 0 || cs_jf_end(&j) < 0)
        return CS_JF_GIVE_UP;
    ev->nlabels = 0;
    if ((r = finish_event(ev, err, &re)) < 0)
        return r;
    if (labels_type)
        return fail(err, CS_REJECT_WRONG_TYPE, "data.labels: expected an object, got %s",
                    labels_type);
    for (size_t i = 0; i < nlabels; i++)
        if ((r = add_label(ev, err, labels[i].name, labels[i].nlen, &labels[i].value)) < 0)
            return r;
    return 0;
}

/* ---- MessagePack front end ----------------------------------------------- */

static const char *mp_type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "a binary float (send an integer or a decimal string)";
    case MSGPACK_OBJECT_ARRAY: return "an array";
    case MSGPACK_OBJECT_MAP: return "a map";
    case MSGPACK_OBJECT_BIN: return "binary data";
    case MSGPACK_OBJECT_EXT: return "an extension type";
    case MSGPACK_OBJECT_STR: return "a string";
    default: return "an integer";
    }
}

const msgpack_object *cs_decode_mp_get(const msgpack_object *map, const char *key)
{
    size_t klen = strlen(key);
    const msgpack_object *found = NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
            memcmp(kv->key.via.str.ptr, key, klen) == 0)
            found = &kv->val;
    }
    return found;
}

/* An integer as decimal text (numbers of MessagePack events are integers
 * more often than not: no printf per event).  size is at least 22. */
static size_t u64_text(uint64_t v, bool neg, char *buf, size_t size)
{
    char t[24];
    size_t n = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof(t));
    size_t k = 0;
    if (neg && k + 1 < size)
        buf[k++] = '-';
    while (n && k + 1 < size)
        buf[k++] = t[--n];
    buf[k] = '\0';
    return k;
}

static void mp_raw(const msgpack_object *map, const char *key, rawval *ret, char *numbuf,
                   size_t numsize)
{
    const msgpack_object *v = cs_decode_mp_get(map, key);
    memset(ret, 0, sizeof(*ret));
    if (!v)
        return;
    if (v->type == MSGPACK_OBJECT_STR) {
        ret->kind = RAW_STRING;
        ret->p = v->via.str.ptr;
        ret->n = v->via.str.size;
    } else if (numbuf && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        ret->kind = RAW_NUMBER;
        ret->p = numbuf;
        ret->n = u64_text(v->via.u64, false, numbuf, numsize);
    } else if (numbuf && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        ret->kind = RAW_NUMBER;
        ret->p = numbuf;
        ret->n = u64_text(v->via.i64 < 0 ? (uint64_t)0 - (uint64_t)v->via.i64 : (uint64_t)v->via.i64,
                          v->via.i64 < 0, numbuf, numsize);
    } else {
        ret->kind = RAW_OTHER;
        ret->type_name = mp_type_name(v);
    }
}

static int decode_msgpack(const char *buf, size_t len, cs_event *ev, cs_event_error *err)
{
    msgpack_unpacked upk;
    size_t off = 0;
    rawevent re;
    int r;

    msgpack_unpacked_init(&upk);
    msgpack_unpack_return ur = msgpack_unpack_next(&upk, buf, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS) {
        r = fail(err, CS_REJECT_MALFORMED_MSGPACK, "%s",
                 ur == MSGPACK_UNPACK_CONTINUE ? "message is truncated"
                 : ur == MSGPACK_UNPACK_NOMEM_ERROR ? "message is too deeply nested or large"
                 : "message is not valid MessagePack");
        goto out;
    }
    if (off != len) {
        r = fail(err, CS_REJECT_MALFORMED_MSGPACK, "%zu trailing bytes after the event map",
                 len - off);
        goto out;
    }
    const msgpack_object *root = &upk.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "event: expected a map, got %s", mp_type_name(root));
        goto out;
    }
    memset(&re, 0, sizeof(re));
    mp_raw(root, "specversion", &re.specversion, NULL, 0);
    mp_raw(root, "id", &re.id, NULL, 0);
    mp_raw(root, "source", &re.source, NULL, 0);
    mp_raw(root, "type", &re.type, NULL, 0);
    mp_raw(root, "subject", &re.subject, NULL, 0);
    mp_raw(root, "time", &re.time, NULL, 0);
    const msgpack_object *data = cs_decode_mp_get(root, "data");
    const msgpack_object *labels = NULL;
    if (data) {
        re.have_data = true;
        if (data->type != MSGPACK_OBJECT_MAP) {
            re.data_type = mp_type_name(data);
        } else {
            mp_raw(data, "product", &re.product, NULL, 0);
            mp_raw(data, "meter", &re.meter, NULL, 0);
            mp_raw(data, "quantity", &re.quantity, re.numbuf, sizeof(re.numbuf));
            labels = cs_decode_mp_get(data, "labels");
        }
    }
    ev->nlabels = 0;
    if ((r = finish_event(ev, err, &re)) < 0)
        goto out;
    if (labels && labels->type != MSGPACK_OBJECT_MAP) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "data.labels: expected a map, got %s",
                 mp_type_name(labels));
        goto out;
    }
    if (labels) {
        for (uint32_t i = 0; i < labels->via.map.size; i++) {
            const msgpack_object_kv *kv = &labels->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR) {
                r = fail(err, CS_REJECT_WRONG_TYPE, "data.labels: label names must be strings");
                goto out;
            }
            rawval rv = {0};
            if (kv->val.type == MSGPACK_OBJECT_STR) {
                rv.kind = RAW_STRING;
                rv.p = kv->val.via.str.ptr;
                rv.n = kv->val.via.str.size;
            } else {
                rv.kind = RAW_OTHER;
                rv.type_name = mp_type_name(&kv->val);
            }
            if ((r = add_label(ev, err, kv->key.via.str.ptr, kv->key.via.str.size, &rv)) < 0)
                goto out;
        }
    }
    r = 0;
out:
    msgpack_unpacked_destroy(&upk);
    return r;
}

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Header and payload sizes of the MessagePack object whose type byte is c:
 * *hdr length bytes follow the type byte (big-endian), then the payload;
 * fixed-size payloads come back in *fixed.  *kind: 0 scalar or bytes, 1
 * array (length = items), 2 map (length = pairs).  -1 for 0xc1 (never
 * used). */
static int mp_shape(unsigned c, size_t *hdr, size_t *fixed, int *kind)
{
    static const unsigned char sized[][3] = {
        /* type, length bytes, fixed payload */
        {0xc4, 1, 0}, {0xc5, 2, 0}, {0xc6, 4, 0}, {0xc7, 1, 1}, {0xc8, 2, 1}, {0xc9, 4, 1},
        {0xca, 0, 4}, {0xcb, 0, 8}, {0xcc, 0, 1}, {0xcd, 0, 2}, {0xce, 0, 4}, {0xcf, 0, 8},
        {0xd0, 0, 1}, {0xd1, 0, 2}, {0xd2, 0, 4}, {0xd3, 0, 8}, {0xd4, 0, 2}, {0xd5, 0, 3},
        {0xd6, 0, 5}, {0xd7, 0, 9}, {0xd8, 0, 17}, {0xd9, 1, 0}, {0xda, 2, 0}, {0xdb, 4, 0},
        {0xdc, 2, 0}, {0xdd, 4, 0}, {0xde, 2, 0}, {0xdf, 4, 0},
    };
    *hdr = *fixed = 0;
    *kind = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return 0;
    if (c <= 0x9f) { /* fixmap, fixarray: the count is in c */
        *kind = c <= 0x8f ? 2 : 1;
        return 0;
    }
    if (c <= 0xbf) {
        *fixed = c & 0x1f;
        return 0;
    }
    for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++)
        if (sized[i][0] == c) {
            *hdr = sized[i][1];
            *fixed = sized[i][2];
            *kind = c == 0xdc || c == 0xdd ? 1 : c == 0xde || c == 0xdf ? 2 : 0;
            return 0;
        }
    return -1;
}

int cs_decode_mp_skip(const char *buf, size_t len, size_t *pos)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = *pos;
    uint64_t pending = 1; /* objects still to read, at every depth */
    while (pending > 0) {
        if (i >= len)
            return -EBADMSG;
        unsigned c = p[i++];
        pending--;
        size_t hdr, fixed;
        int kind;
        if (mp_shape(c, &hdr, &fixed, &kind) < 0 || hdr > len - i)
            return -EBADMSG;
        uint64_t n = hdr ? be(p + i, hdr) : 0;
        i += hdr;
        if (c >= 0x80 && c <= 0x9f)
            n = c & 0x0f; /* fixmap, fixarray */
        if (kind == 2)
            pending += 2 * n;
        else if (kind == 1)
            pending += n;
        else if (n + fixed > len - i)
            return -EBADMSG;
        else
            i += n + fixed;
        if (pending > len - i) /* every object takes at least one byte */
            return -EBADMSG;
    }
    *pos = i;
    return 0;
}

int cs_decode_mp_check(const char *buf, size_t len)
{
    size_t pos = 0;
    return cs_decode_mp_skip(buf, len, &pos);
}

int cs_decode_prelude(const char *p, size_t len, size_t max_bytes, cs_event_format *fmt,
                      cs_event_error *err)
{
    err->code = CS_REJECT_NONE;
    err->detail[0] = '\0';
    if (len == 0)
        return fail(err, CS_REJECT_EMPTY, "message has no payload");
    if (max_bytes && len > max_bytes)
        return fail(err, CS_REJECT_OVERSIZED, "message is %zu bytes, the limit is %zu", len,
                    max_bytes);
    if (*fmt == CS_EVENT_FORMAT_AUTO) {
        unsigned char c = (unsigned char)p[0];
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
            i++;
        if (i < len && p[i] == '{')
            *fmt = CS_EVENT_FORMAT_JSON;
        else if ((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf)
            *fmt = CS_EVENT_FORMAT_MSGPACK;
        else if (!cs_utf8_valid(p, len))
            return fail(err, CS_REJECT_INVALID_UTF8,
                        "message is neither a MessagePack map nor valid UTF-8 JSON");
        else
            *fmt = CS_EVENT_FORMAT_JSON; /* let the JSON parser say what is wrong */
    }
    if (*fmt == CS_EVENT_FORMAT_MSGPACK && cs_decode_mp_check(p, len) < 0)
        return fail(err, CS_REJECT_MALFORMED_MSGPACK,
                    "message is truncated: a length or count exceeds the bytes that follow");
    return 0;
}

int cs_event_decode(const void *buf, size_t len, size_t max_bytes, cs_event_format fmt,
                    cs_event *ev, cs_event_error *err)
{
    const char *p = buf;
    int r;

    ev->arena_used = 0;
    ev->nlabels = 0;
    ev->subject = NULL;
    if ((r = cs_decode_prelude(p, len, max_bytes, &fmt, err)) < 0)
        return r;
    if (fmt == CS_EVENT_FORMAT_JSON) {
        if (cs_utf8_valid(p, len) &&
            (r = cs_event_decode_json_fast(p, len, ev, err)) != CS_JF_GIVE_UP)
            return r;
        return cs_event_decode_json_ref(p, len, ev, err); /* jansson says what is wrong */
    }
    return decode_msgpack(p, len, ev, err);
}

const char *cs_event_label(const cs_event *ev, const char *name)
{
    for (size_t i = 0; i < ev->nlabels; i++)
        if (strcmp(ev->labels[i].name, name) == 0)
            return ev->labels[i].value;
    return NULL;
}
