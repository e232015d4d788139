/* sample.c - decoding metric samples (see sample.h).  Three front ends find
 * the four fields: a zero-allocation JSON reader (jsonfast) that accepts
 * only what it is sure of, jansson as the reference for every other JSON
 * input, and msgpack; one validator applies the rules. */
#include "sample.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <msgpack.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "jsonfast.h"
#include "timestamp.h"

#define fail cs_decode_fail

static const char *put(cs_sample *s, const char *p, size_t n)
{
    return cs_decode_arena_put(s->arena, sizeof(s->arena), &s->arena_used, p, n);
}

const char *cs_sample_special_name(cs_sample_special sp)
{
    switch (sp) {
    case CS_SAMPLE_NAN: return "NaN";
    case CS_SAMPLE_POS_INF: return "+Inf";
    case CS_SAMPLE_NEG_INF: return "-Inf";
    default: return NULL;
    }
}

static int string_field(cs_sample *s, cs_event_error *err, const char *field, const char *p,
                        size_t n, const char **ret)
{
    if (n == 0)
        return fail(err, CS_REJECT_INVALID_VALUE, "%s: must not be empty", field);
    if (n > 256)
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "%s: %zu bytes, at most 256 allowed", field, n);
    if (memchr(p, '\0', n))
        return fail(err, CS_REJECT_INVALID_VALUE, "%s: contains a NUL character", field);
    if (!cs_utf8_valid(p, n))
        return fail(err, CS_REJECT_INVALID_UTF8, "%s: not valid UTF-8", field);
    if (!(*ret = put(s, p, n)))
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "%s: sample exceeds %d bytes", field,
                    CS_EVENT_ARENA);
    return 0;
}

/* Prometheus's names: metric [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * [a-zA-Z_][a-zA-Z0-9_]*.  With names restricted so and values quoted and
 * escaped, the series text below names exactly one label set. */
static int valid_name(const char *p, size_t n, int colon)
{
    if (n == 0 || (p[0] >= '0' && p[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (colon && c == ':')))
            return 0;
    }
    return 1;
}

static int label_cmp(const void *a, const void *b)
{
    return strcmp(((const cs_label *)a)->name, ((const cs_label *)b)->name);
}

static int add_label(cs_sample *s, cs_event_error *err, const char *k, size_t kn, const char *v,
                     size_t vn)
{
    char field[80];
    snprintf(field, sizeof(field), "labels.%.*s", cs_utf8_prefix(k, kn, 40), k);
    if (s->nlabels >= CS_SAMPLE_MAX_LABELS)
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "labels: more than %d labels",
                    CS_SAMPLE_MAX_LABELS);
    const char *name, *value;
    int r;
    if ((r = string_field(s, err, "labels (a name)", k, kn, &name)) < 0)
        return r;
    if (!valid_name(k, kn, 0))
        return fail(err, CS_REJECT_INVALID_VALUE,
                    "labels: \"%.*s\" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                    cs_utf8_prefix(k, kn, 40), k);
    if (vn == 0) { /* an empty label value is the same as no label */
        return 0;
    }
    if ((r = string_field(s, err, field, v, vn, &value)) < 0)
        return r;
    s->labels[s->nlabels++] = (cs_label){name, value};
    return 0;
}

/* Common checks once the fields are found.  value_text may be NULL (absent),
 * value_type names a wrong type. */
static int finish(cs_sample *s, cs_event_error *err, const char *name, size_t name_n,
                  const char *ts, size_t ts_n, const char *value, size_t value_n,
                  const char *value_type)
{
    int r;
    if (!name)
        return fail(err, CS_REJECT_MISSING_FIELD, "name: required field is missing");
    if ((r = string_field(s, err, "name", name, name_n, &s->name)) < 0)
        return r;
    if (!valid_name(name, name_n, 1))
        return fail(err, CS_REJECT_INVALID_VALUE,
                    "name: \"%.*s\" is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                    cs_utf8_prefix(name, name_n, 40), name);
    if (!ts)
        return fail(err, CS_REJECT_MISSING_FIELD, "timestamp: required field is missing");
    if (cs_timestamp_parse(ts, ts_n, &s->time_usec) < 0)
        return fail(err, CS_REJECT_INVALID_TIME, "timestamp: \"%.*s\" is not an RFC 3339 date-time",
                    cs_utf8_prefix(ts, ts_n, 40), ts);
    if (value_type)
        return fail(err, CS_REJECT_WRONG_TYPE, "value: expected a string, got %s", value_type);
    if (!value)
        return fail(err, CS_REJECT_MISSING_FIELD, "value: required field is missing");
    s->special = CS_SAMPLE_FINITE;
    if (value_n == 3 && strncmp(value, "NaN", 3) == 0)
        s->special = CS_SAMPLE_NAN;
    else if ((value_n == 4 && strncmp(value, "+Inf", 4) == 0) ||
             (value_n == 3 && strncmp(value, "Inf", 3) == 0))
        s->special = CS_SAMPLE_POS_INF;
    else if (value_n == 4 && strncmp(value, "-Inf", 4) == 0)
        s->special = CS_SAMPLE_NEG_INF;
    else if ((r = cs_dec_parse_round(value, value_n, &s->value)) < 0)
        return fail(err, CS_REJECT_INVALID_VALUE, "value: \"%.*s\" is %s",
                    cs_utf8_prefix(value, value_n, 40), value,
                    r == -ERANGE ? "out of range" : "not a number, NaN, +Inf or -Inf");
    else if (cs_dec_is_neg(s->value))
        return fail(err, CS_REJECT_INVALID_VALUE,
                    "value: \"%.*s\" is negative (costream prices counters and non-negative gauges)",
                    cs_utf8_prefix(value, value_n, 40), value);
    qsort(s->labels, s->nlabels, sizeof(cs_label), label_cmp);
    for (size_t i = 1; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, s->labels[i - 1].name) == 0)
            return fail(err, CS_REJECT_INVALID_VALUE, "labels: \"%.*s\" appears twice",
                        cs_utf8_prefix(s->labels[i].name, strlen(s->labels[i].name), 40),
                        s->labels[i].name);
    char text[CS_EVENT_ARENA];
    int n = cs_sample_series_text(s, text, sizeof(text));
    if (n < 0)
        return fail(err, CS_REJECT_TOO_LARGE_FIELD, "labels: the series name is too long");
    SHA256((const unsigned char *)text, (size_t)n, s->series_id);
    return 0;
}

int cs_sample_decode_json_ref(const char *buf, size_t len, cs_sample *s, cs_event_error *err)
{
    json_error_t je;
    if (!cs_utf8_valid(buf, len))
        return fail(err, CS_REJECT_INVALID_UTF8, "message is not valid UTF-8");
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(err, CS_REJECT_MALFORMED_JSON, "line %d column %d: %s", je.line, je.column,
                    je.text);
    int r;
    if (!json_is_object(root)) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "sample: expected a JSON object");
        goto out;
    }
    json_t *name = json_object_get(root, "name"), *ts = json_object_get(root, "timestamp");
    json_t *value = json_object_get(root, "value"), *labels = json_object_get(root, "labels");
    if ((name && !json_is_string(name)) || (ts && !json_is_string(ts))) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "%s: expected a string",
                 name && !json_is_string(name) ? "name" : "timestamp");
        goto out;
    }
    if (labels && !json_is_object(labels)) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "labels: expected an object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) {
        if (strcmp(k, "__name__") == 0)
            continue;
        if (!json_is_string(v)) {
            r = fail(err, CS_REJECT_WRONG_TYPE, "labels.%.*s: expected a string",
                     cs_utf8_prefix(k, strlen(k), 40), k);
            goto out;
        }
        if ((r = add_label(s, err, k, strlen(k), json_string_value(v), json_string_length(v))) < 0)
            goto out;
    }
    r = finish(s, err, name ? json_string_value(name) : NULL, name ? json_string_length(name) : 0,
               ts ? json_string_value(ts) : NULL, ts ? json_string_length(ts) : 0,
               value && json_is_string(value) ? json_string_value(value) : NULL,
               value && json_is_string(value) ? json_string_length(value) : 0,
               value && !json_is_string(value) ? (json_is_number(value) ? "a number" : "another type") : NULL);
out:
    json_decref(root);
    return r;
}


/* ---- the zero-allocation JSON reader's walk, shared by the fast decoding
 * and the head of unpriced samples ---- */

#define WALK_MAX_KEYS 48 /* labels or top-level members; more: the reference decides */

typedef struct json_fields {
    cs_jf_value name, ts, value; /* p NULL: absent; kind says what was there */
    /* each label with a string value; NULL: the labels are only checked */
    int (*label)(void *ctx, const cs_jf_value *k, const cs_jf_value *v);
    void *ctx;
} json_fields;

/* The labels object, whose '{' was just read: string values only, each
 * passed to f->label.  0 or CS_JF_GIVE_UP. */
static int walk_labels(cs_jf *j, json_fields *f)
{
    cs_jf_value keys[WALK_MAX_KEYS], k, v;
    size_t nkeys = 0;
    int r;
    while ((r = cs_jf_key(j, &k)) == 1)
        if (cs_jf_key_new(&k, keys, &nkeys, WALK_MAX_KEYS) < 0 || cs_jf_value_read(j, &v) < 0 ||
            v.kind != CS_JF_STRING || (f->label && f->label(f->ctx, &k, &v) < 0))
            return CS_JF_GIVE_UP;
    return r;
}

/* Reads a sample's JSON text in place: name and timestamp (strings, else it
 * gives up), value (any scalar, its kind kept), labels (an object of
 * strings), other members skipped; no duplicate keys, no nested object
 * outside labels, nothing after the object.  0 or CS_JF_GIVE_UP. */
static int walk_json(const char *buf, size_t len, char *scratch, size_t cap, json_fields *f)
{
    cs_jf_value keys[WALK_MAX_KEYS], k, v;
    size_t nkeys = 0;
    cs_jf j;
    int r;
    cs_jf_init(&j, buf, len, scratch, cap);
    if (cs_jf_value_read(&j, &v) < 0 || v.kind != CS_JF_OBJECT)
        return CS_JF_GIVE_UP;
    while ((r = cs_jf_key(&j, &k)) == 1) {
        if (cs_jf_key_new(&k, keys, &nkeys, WALK_MAX_KEYS) < 0 || cs_jf_value_read(&j, &v) < 0)
            return CS_JF_GIVE_UP;
        bool is_labels = k.n == 6 && memcmp(k.p, "labels", 6) == 0;
        cs_jf_value *field = k.n == 4 && memcmp(k.p, "name", 4) == 0        ? &f->name
                             : k.n == 9 && memcmp(k.p, "timestamp", 9) == 0 ? &f->ts
                             : k.n == 5 && memcmp(k.p, "value", 5) == 0     ? &f->value
                                                                            : NULL;
        if (field && field != &f->value && v.kind != CS_JF_STRING)
            return CS_JF_GIVE_UP; /* a wrong type: the reference names it */
        if (field && v.kind != CS_JF_OBJECT && v.kind != CS_JF_ARRAY)
            *field = v;
        else if (is_labels != (v.kind == CS_JF_OBJECT) || (is_labels && walk_labels(&j, f) < 0))
            return CS_JF_GIVE_UP;
        else if (v.kind == CS_JF_ARRAY && cs_jf_skip_rest(&j, v.kind) < 0)
            return CS_JF_GIVE_UP;
    }
    return r < 0 || cs_jf_end(&j) < 0 ? CS_JF_GIVE_UP : 0;
}

typedef struct label_ctx {
    cs_sample *s;
    cs_event_error *err;
} label_ctx;

/* A label kept as the reference would ("__name__" aside); any reject
 * gives up, so that the reference says it. */
static int keep_label(void *ctx, const cs_jf_value *k, const cs_jf_value *v)
{
    label_ctx *c = ctx;
    if (k->n == 8 && memcmp(k->p, "__name__", 8) == 0)
        return 0;
    return add_label(c->s, c->err, k->p, k->n, v->p, v->n) < 0 ? CS_JF_GIVE_UP : 0;
}

int cs_sample_decode_json_fast(const char *buf, size_t len, cs_sample *s, cs_event_error *err)
{
    char scratch[CS_EVENT_ARENA];
    label_ctx c = {s, err};
    json_fields f = {.label = keep_label, .ctx = &c};
    if (walk_json(buf, len, scratch, sizeof(scratch), &f) < 0 || !f.name.p || !f.ts.p ||
        !f.value.p || f.value.kind != CS_JF_STRING ||
        finish(s, err, f.name.p, f.name.n, f.ts.p, f.ts.n, f.value.p, f.value.n, NULL) < 0)
        return CS_JF_GIVE_UP;
    return 0;
}

static int decode_json(const char *buf, size_t len, cs_sample *s, cs_event_error *err)
{
    if (cs_utf8_valid(buf, len) && cs_sample_decode_json_fast(buf, len, s, err) == 0)
        return 0;
    s->arena_used = 0; /* what the fast path kept before it gave up */
    s->nlabels = 0;
    err->code = CS_REJECT_NONE;
    err->detail[0] = '\0';
    return cs_sample_decode_json_ref(buf, len, s, err);
}

static int decode_msgpack(const char *buf, size_t len, cs_sample *s, cs_event_error *err)
{
    msgpack_unpacked u;
    size_t off = 0;
    int r;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
        r = fail(err, CS_REJECT_MALFORMED_MSGPACK, "message is not one complete MessagePack map");
        goto out;
    }
    const msgpack_object *root = &u.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "sample: expected a map");
        goto out;
    }
    const msgpack_object *name = cs_decode_mp_get(root, "name"), *ts = cs_decode_mp_get(root, "timestamp");
    const msgpack_object *value = cs_decode_mp_get(root, "value"), *labels = cs_decode_mp_get(root, "labels");
    if ((name && name->type != MSGPACK_OBJECT_STR) || (ts && ts->type != MSGPACK_OBJECT_STR)) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "%s: expected a string",
                 name && name->type != MSGPACK_OBJECT_STR ? "name" : "timestamp");
        goto out;
    }
    if (labels && labels->type != MSGPACK_OBJECT_MAP) {
        r = fail(err, CS_REJECT_WRONG_TYPE, "labels: expected a map");
        goto out;
    }
    for (uint32_t i = 0; labels && i < labels->via.map.size; i++) {
        const msgpack_object_kv *kv = &labels->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR) {
            r = fail(err, CS_REJECT_WRONG_TYPE, "labels: names and values must be strings");
            goto out;
        }
        if (kv->key.via.str.size == 8 && memcmp(kv->key.via.str.ptr, "__name__", 8) == 0)
            continue;
        if ((r = add_label(s, err, kv->key.via.str.ptr, kv->key.via.str.size, kv->val.via.str.ptr,
                           kv->val.via.str.size)) < 0)
            goto out;
    }
    int vstr = value && value->type == MSGPACK_OBJECT_STR;
    r = finish(s, err, name ? name->via.str.ptr : NULL, name ? name->via.str.size : 0,
               ts ? ts->via.str.ptr : NULL, ts ? ts->via.str.size : 0,
               vstr ? value->via.str.ptr : NULL, vstr ? value->via.str.size : 0,
               value && !vstr ? "another type" : NULL);
out:
    msgpack_unpacked_destroy(&u);
    return r;
}

int cs_sample_decode(const void *buf, size_t len, size_t max_bytes, cs_event_format fmt,
                     cs_sample *s, cs_event_error *err)
{
    const char *p = buf;
    int r;
    s->arena_used = 0;
    s->nlabels = 0;
    if ((r = cs_decode_prelude(p, len, max_bytes, &fmt, err)) < 0)
        return r;
    return fmt == CS_EVENT_FORMAT_JSON ? decode_json(p, len, s, err) : decode_msgpack(p, len, s, err);
}

/* Fills h from the name and timestamp spans; -EAGAIN unless both are
 * present and valid. */
static int head_set(cs_sample_head *h, const char *name, size_t name_n, const char *ts,
                    size_t ts_n)
{
    if (!name || !ts || name_n >= sizeof(h->name) || !valid_name(name, name_n, 1) ||
        cs_timestamp_parse(ts, ts_n, &h->time_usec) < 0)
        return -EAGAIN;
    memcpy(h->name, name, name_n);
    h->name[name_n] = '\0';
    return 0;
}

static int peek_json(const char *buf, size_t len, cs_sample_head *h)
{
    char scratch[CS_EVENT_ARENA];
    json_fields f = {0};
    if (!cs_utf8_valid(buf, len) || walk_json(buf, len, scratch, sizeof(scratch), &f) < 0)
        return -EAGAIN;
    return head_set(h, f.name.p, f.name.n, f.ts.p, f.ts.n);
}

/* A MessagePack string at *i: its bytes.  0, or -1 if it is not one. */
static int mp_str(const unsigned char *p, size_t len, size_t *i, const char **ret, size_t *ret_n)
{
    static const unsigned char hdr[] = {0xd9, 1, 0xda, 2, 0xdb, 4};
    size_t at = *i, n = 0, h = 0;
    if (at >= len)
        return -1;
    unsigned c = p[at++];
    if (c >= 0xa0 && c <= 0xbf)
        n = c & 0x1f;
    for (size_t k = 0; k < sizeof(hdr); k += 2)
        if (c == hdr[k])
            h = hdr[k + 1];
    if (!n && !h && !(c >= 0xa0 && c <= 0xbf))
        return -1;
    if (h > len - at)
        return -1;
    for (size_t k = 0; k < h; k++)
        n = n << 8 | p[at++];
    if (n > len - at)
        return -1;
    *ret = (const char *)p + at;
    *ret_n = n;
    *i = at + n;
    return 0;
}

/* A map of strings to strings at *i, skipped. */
static int peek_mp_labels(const unsigned char *p, size_t len, size_t *i)
{
    const char *s;
    size_t n, at = *i;
    if (at >= len || p[at] < 0x80 || p[at] > 0x8f)
        return -1; /* a label set larger than a fixmap: decode fully */
    unsigned count = p[at++] & 0x0f;
    for (unsigned m = 0; m < 2 * count; m++)
        if (mp_str(p, len, &at, &s, &n) < 0)
            return -1;
    *i = at;
    return 0;
}

static int peek_msgpack(const char *buf, size_t len, cs_sample_head *h)
{
    const unsigned char *p = (const unsigned char *)buf;
    const char *name = NULL, *ts = NULL, *k;
    size_t name_n = 0, ts_n = 0, kn, i = 1;
    uint64_t n;
    if (p[0] >= 0x80 && p[0] <= 0x8f)
        n = p[0] & 0x0f;
    else if (p[0] == 0xde && len >= 3)
        n = (uint64_t)p[1] << 8 | p[2], i = 3;
    else if (p[0] == 0xdf && len >= 5)
        n = (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 8 | p[4], i = 5;
    else
        return -EAGAIN;
    for (uint64_t m = 0; m < n; m++) {
        if (mp_str(p, len, &i, &k, &kn) < 0)
            return -EAGAIN;
        bool is_name = kn == 4 && memcmp(k, "name", 4) == 0;
        bool is_ts = kn == 9 && memcmp(k, "timestamp", 9) == 0;
        if (is_name && mp_str(p, len, &i, &name, &name_n) < 0)
            return -EAGAIN;
        if (is_ts && mp_str(p, len, &i, &ts, &ts_n) < 0)
            return -EAGAIN;
        bool is_labels = kn == 6 && memcmp(k, "labels", 6) == 0;
        if (is_labels && peek_mp_labels(p, len, &i) < 0)
            return -EAGAIN;
        if (!is_name && !is_ts && !is_labels && cs_decode_mp_skip(buf, len, &i) < 0)
            return -EAGAIN;
    }
    if (i != len)
        return -EAGAIN;
    return head_set(h, name, name_n, ts, ts_n);
}

int cs_sample_peek(const void *buf, size_t len, size_t max_bytes, cs_event_format fmt,
                   cs_sample_head *ret)
{
    cs_event_error err;
    if (cs_decode_prelude(buf, len, max_bytes, &fmt, &err) < 0)
        return -EAGAIN;
    return fmt == CS_EVENT_FORMAT_JSON ? peek_json(buf, len, ret) : peek_msgpack(buf, len, ret);
}

int cs_sample_series_text(const cs_sample *s, char *buf, size_t size)
{
    size_t o = 0;
    int n = snprintf(buf, size, "%s{", s->name);
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    o = (size_t)n;
    for (size_t i = 0; i < s->nlabels; i++) {
        n = snprintf(buf + o, size - o, "%s%s=\"", i ? "," : "", s->labels[i].name);
        if (n < 0 || (size_t)n >= size - o)
            return -ENOSPC;
        o += (size_t)n;
        for (const char *v = s->labels[i].value; *v; v++) {
            if (o + 3 >= size)
                return -ENOSPC;
            if (*v == '"' || *v == '\\')
                buf[o++] = '\\';
            if (*v == '\n') {
                buf[o++] = '\\';
                buf[o++] = 'n';
                continue;
            }
            buf[o++] = *v;
        }
        if (o + 2 >= size)
            return -ENOSPC;
        buf[o++] = '"';
    }
    if (o + 2 > size)
        return -ENOSPC;
    buf[o++] = '}';
    buf[o] = '\0';
    return (int)o;
}
