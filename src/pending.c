/* pending.c - metric samples packed into blocks (see pending.h).
 *
 * The writer builds the four tables as it goes: strings and series are
 * interned through string maps (a series by its id in hex), and a sample
 * reuses its series' previous attributes when they are the same, so the
 * attribute table grows only when a series changes customer, rule or
 * price.  The samples are written straight into their section; finish
 * joins the header and the sections.
 *
 * The decoder checks every length and index before it reads, copies the
 * strings once (each NUL-terminated) and builds cs_batch_sample values
 * pointing into those copies. */
#include "pending.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "hex.h"
#include "strmap.h"

#define MAGIC "CSP1"
#define ID_LEN CS_BATCH_SERIES_ID_LEN
#define NTEXTS 8 /* customer, plan, product, meter, rule id, rules version, currency, unit */
#define ATTR_LEN (1 + 8 + 8 + NTEXTS * 4 + 16 + 16)
#define SAMPLE_LEN (4 + 4 + 8 + 1 + 16 + 4 + 4 + 8)
#define SERIES_LEN (ID_LEN + 4)
#define NO_ATTR UINT32_MAX

static const char *const specials[] = {NULL, "NaN", "+Inf", "-Inf"};
static const char *const kinds[] = {"counter", "gauge"};

typedef struct attr {
    uint8_t kind;
    int64_t divisor, max_gap;
    uint32_t text[NTEXTS];
    cs_dec price, discount;
} attr;

typedef struct series {
    uint32_t last_attr;
} series;

struct cs_pending_writer {
    cs_strmap strings, series_index; /* text → index + 1; hex id → index + 1 */
    cs_buf strs, sers, samples;
    series *series;
    size_t nseries, capseries;
    attr *attrs;
    size_t nattrs, capattrs;
    uint32_t nstrings;
    size_t nsamples;
    int64_t min_usec, max_usec;
    bool failed;
};

/* ---- little-endian helpers ---- */

static void put_le(cs_buf *b, uint64_t v, int bytes)
{
    char c[8];
    for (int i = 0; i < bytes; i++)
        c[i] = (char)(v >> (8 * i));
    cs_buf_append(b, c, (size_t)bytes);
}

static void put_dec(cs_buf *b, cs_dec d)
{
    cs_u128 u = (cs_u128)d.raw;
    put_le(b, (uint64_t)u, 8);
    put_le(b, (uint64_t)(u >> 64), 8);
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static cs_dec get_dec(const unsigned char *p)
{
    cs_u128 u = ((cs_u128)get_le(p + 8, 8) << 64) | get_le(p, 8);
    return (cs_dec){(cs_i128)u};
}

/* ---- writer ---- */

cs_pending_writer *cs_pending_writer_new(void)
{
    return calloc(1, sizeof(cs_pending_writer));
}

void cs_pending_writer_reset(cs_pending_writer *w)
{
    cs_strmap_clear(&w->strings, NULL);
    cs_strmap_clear(&w->series_index, NULL);
    cs_buf_reset(&w->strs);
    cs_buf_reset(&w->sers);
    cs_buf_reset(&w->samples);
    w->strs.failed = w->sers.failed = w->samples.failed = false;
    w->nseries = w->nattrs = w->nsamples = 0;
    w->nstrings = 0;
    w->failed = false;
}

void cs_pending_writer_free(cs_pending_writer *w)
{
    if (!w)
        return;
    cs_pending_writer_reset(w);
    free(w->strings.buckets);
    free(w->series_index.buckets);
    cs_buf_free(&w->strs);
    cs_buf_free(&w->sers);
    cs_buf_free(&w->samples);
    free(w->series);
    free(w->attrs);
    free(w);
}

/* The index of text in the string table, added if new. */
static int intern(cs_pending_writer *w, const char *text, uint32_t *ret)
{
    void **slot = cs_strmap_find(&w->strings, text);
    if (slot) {
        *ret = (uint32_t)((uintptr_t)*slot - 1);
        return 0;
    }
    size_t len = strlen(text);
    if (len > INT32_MAX)
        return -EINVAL;
    if (cs_strmap_put(&w->strings, text, (void *)(uintptr_t)(w->nstrings + 1)) < 0)
        return -ENOMEM;
    put_le(&w->strs, len, 4);
    cs_buf_append(&w->strs, text, len);
    *ret = w->nstrings++;
    return 0;
}

static int series_of(cs_pending_writer *w, const cs_batch_sample *s, uint32_t *ret)
{
    char hex[2 * ID_LEN + 1];
    cs_hex_encode(s->series_id, ID_LEN, hex);
    void **slot = cs_strmap_find(&w->series_index, hex);
    if (slot) {
        *ret = (uint32_t)((uintptr_t)*slot - 1);
        return 0;
    }
    uint32_t text;
    int r = intern(w, s->series, &text);
    if (r < 0)
        return r;
    if (cs_array_reserve(&w->series, &w->capseries, w->nseries + 1, sizeof(*w->series)) < 0 ||
        cs_strmap_put(&w->series_index, hex, (void *)(uintptr_t)(w->nseries + 1)) < 0)
        return -ENOMEM;
    cs_buf_append(&w->sers, (const char *)s->series_id, ID_LEN);
    put_le(&w->sers, text, 4);
    w->series[w->nseries] = (series){.last_attr = NO_ATTR};
    *ret = (uint32_t)w->nseries++;
    return 0;
}

static int index_of(const char *const *table, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (table[i] == s || (table[i] && s && strcmp(table[i], s) == 0))
            return (int)i;
    return -1;
}

static int attr_of(cs_pending_writer *w, const cs_batch_sample *s, uint32_t ser, uint32_t *ret)
{
    int kind = index_of(kinds, 2, s->kind);
    if (kind < 0)
        return -EINVAL;
    attr a = {.kind = (uint8_t)kind, .divisor = s->unit_divisor, .max_gap = s->max_gap_usec,
              .price = s->unit_price, .discount = s->discount_rate};
    const char *texts[NTEXTS] = {s->customer, s->plan,          s->product,  s->meter,
                                 s->rule_id,  s->rules_version, s->currency, s->unit};
    for (int i = 0; i < NTEXTS; i++) {
        int r = intern(w, texts[i], &a.text[i]);
        if (r < 0)
            return r;
    }
    uint32_t last = w->series[ser].last_attr;
    if (last != NO_ATTR) {
        const attr *p = &w->attrs[last];
        if (p->kind == a.kind && p->divisor == a.divisor && p->max_gap == a.max_gap &&
            p->price.raw == a.price.raw && p->discount.raw == a.discount.raw &&
            memcmp(p->text, a.text, sizeof(a.text)) == 0) {
            *ret = last;
            return 0;
        }
    }
    if (cs_array_reserve(&w->attrs, &w->capattrs, w->nattrs + 1, sizeof(*w->attrs)) < 0)
        return -ENOMEM;
    w->attrs[w->nattrs] = a;
    *ret = w->series[ser].last_attr = (uint32_t)w->nattrs++;
    return 0;
}

int cs_pending_writer_add(cs_pending_writer *w, const cs_batch_sample *s)
{
    int special = index_of(specials, 4, s->special);
    uint32_t ser, at, topic;
    int r;
    if (special < 0 || index_of(kinds, 2, s->kind) < 0)
        return -EINVAL;
    if ((r = series_of(w, s, &ser)) < 0 || (r = attr_of(w, s, ser, &at)) < 0 ||
        (r = intern(w, s->topic, &topic)) < 0) {
        if (r == -ENOMEM)
            w->failed = true;
        return r;
    }
    put_le(&w->samples, ser, 4);
    put_le(&w->samples, at, 4);
    put_le(&w->samples, (uint64_t)s->time_usec, 8);
    put_le(&w->samples, (uint64_t)special, 1);
    put_dec(&w->samples, special == 0 ? s->value : cs_dec_zero());
    put_le(&w->samples, topic, 4);
    put_le(&w->samples, (uint64_t)(uint32_t)s->partition, 4);
    put_le(&w->samples, (uint64_t)s->offset, 8);
    if (w->nsamples == 0 || s->time_usec < w->min_usec)
        w->min_usec = s->time_usec;
    if (w->nsamples == 0 || s->time_usec > w->max_usec)
        w->max_usec = s->time_usec;
    w->nsamples++;
    return 0;
}

size_t cs_pending_writer_count(const cs_pending_writer *w) { return w->nsamples; }
int64_t cs_pending_writer_min_usec(const cs_pending_writer *w) { return w->min_usec; }
int64_t cs_pending_writer_max_usec(const cs_pending_writer *w) { return w->max_usec; }

void cs_pending_writer_finish(cs_pending_writer *w, cs_buf *out)
{
    if (w->failed || w->strs.failed || w->sers.failed || w->samples.failed) {
        out->failed = true;
        return;
    }
    cs_buf_append(out, MAGIC, 4);
    put_le(out, w->nstrings, 4);
    put_le(out, w->nseries, 4);
    put_le(out, w->nattrs, 4);
    put_le(out, w->nsamples, 4);
    cs_buf_append(out, w->strs.data, w->strs.len);
    cs_buf_append(out, w->sers.data, w->sers.len);
    for (size_t i = 0; i < w->nattrs; i++) {
        const attr *a = &w->attrs[i];
        put_le(out, a->kind, 1);
        put_le(out, (uint64_t)a->divisor, 8);
        put_le(out, (uint64_t)a->max_gap, 8);
        for (int t = 0; t < NTEXTS; t++)
            put_le(out, a->text[t], 4);
        put_dec(out, a->price);
        put_dec(out, a->discount);
    }
    cs_buf_append(out, w->samples.data, w->samples.len);
}

/* ---- decoder ---- */

struct cs_pending_block {
    char *text;          /* every string, NUL-terminated */
    unsigned char *ids;  /* the series section: ids the samples point at */
    const char **strings;
    cs_batch_sample *samples;
    size_t nsamples;
};

void cs_pending_block_free(cs_pending_block *b)
{
    if (!b)
        return;
    free(b->text);
    free(b->ids);
    free(b->strings);
    free(b->samples);
    free(b);
}

const cs_batch_sample *cs_pending_block_samples(const cs_pending_block *b, size_t *ret_n)
{
    *ret_n = b->nsamples;
    return b->samples;
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static const unsigned char *take(reader *r, size_t n)
{
    if (r->left < n)
        return NULL;
    const unsigned char *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

/* The string table: copies with NULs into b->text, pointers in b->strings. */
static int read_strings(reader *r, uint32_t n, cs_pending_block *b)
{
    if (n > r->left / 4)
        return -EINVAL;
    if (!(b->strings = calloc(n ? n : 1, sizeof(*b->strings))) ||
        !(b->text = malloc(r->left + 1)))
        return -ENOMEM;
    char *t = b->text;
    for (uint32_t i = 0; i < n; i++) {
        const unsigned char *h = take(r, 4), *s;
        size_t len = h ? (size_t)get_le(h, 4) : 0;
        if (!h || !(s = take(r, len)) || memchr(s, '\0', len))
            return -EINVAL;
        memcpy(t, s, len);
        t[len] = '\0';
        b->strings[i] = t;
        t += len + 1;
    }
    return 0;
}

/* A string index read at p, checked against n. */
static int string_at(const unsigned char *p, uint32_t n, const char *const *strings,
                     const char **ret)
{
    uint64_t i = get_le(p, 4);
    if (i >= n)
        return -EINVAL;
    *ret = strings[i];
    return 0;
}

/* One attribute entry into the attribute fields of *s. */
static int read_attr(const unsigned char *p, uint32_t nstrings, const char *const *strings,
                     cs_batch_sample *s)
{
    const char **texts[NTEXTS] = {&s->customer, &s->plan,          &s->product,  &s->meter,
                                  &s->rule_id,  &s->rules_version, &s->currency, &s->unit};
    if (p[0] > 1)
        return -EINVAL;
    s->kind = kinds[p[0]];
    s->unit_divisor = (int64_t)get_le(p + 1, 8);
    s->max_gap_usec = (int64_t)get_le(p + 9, 8);
    for (int t = 0; t < NTEXTS; t++)
        if (string_at(p + 17 + 4 * t, nstrings, strings, texts[t]) < 0)
            return -EINVAL;
    s->unit_price = get_dec(p + 17 + 4 * NTEXTS);
    s->discount_rate = get_dec(p + 33 + 4 * NTEXTS);
    return cs_dec_valid(s->unit_price) && cs_dec_valid(s->discount_rate) ? 0 : -EINVAL;
}

static int read_sample(const unsigned char *p, const unsigned char *sers, uint32_t nseries,
                       const unsigned char *attrs, uint32_t nattrs, uint32_t nstrings,
                       const char *const *strings, cs_batch_sample *s)
{
    uint64_t ser = get_le(p, 4), at = get_le(p + 4, 4);
    if (ser >= nseries || at >= nattrs || p[16] > 3)
        return -EINVAL;
    *s = (cs_batch_sample){.series_id = sers + ser * SERIES_LEN,
                           .time_usec = (int64_t)get_le(p + 8, 8),
                           .special = specials[p[16]],
                           .value = get_dec(p + 17),
                           .partition = (int32_t)(uint32_t)get_le(p + 37, 4),
                           .offset = (int64_t)get_le(p + 41, 8)};
    if (string_at(sers + ser * SERIES_LEN + ID_LEN, nstrings, strings, &s->series) < 0 ||
        string_at(p + 33, nstrings, strings, &s->topic) < 0 ||
        read_attr(attrs + at * ATTR_LEN, nstrings, strings, s) < 0 || !cs_dec_valid(s->value))
        return -EINVAL;
    return 0;
}

static int decode(reader *r, cs_pending_block *b)
{
    const unsigned char *h = take(r, 20), *sers, *attrs, *smp;
    if (!h || memcmp(h, MAGIC, 4) != 0)
        return -EINVAL;
    uint32_t ns = (uint32_t)get_le(h + 4, 4), nser = (uint32_t)get_le(h + 8, 4),
             nat = (uint32_t)get_le(h + 12, 4), nsm = (uint32_t)get_le(h + 16, 4);
    int ret = read_strings(r, ns, b);
    if (ret < 0)
        return ret;
    if ((uint64_t)nser * SERIES_LEN > r->left || !(sers = take(r, (size_t)nser * SERIES_LEN)) ||
        (uint64_t)nat * ATTR_LEN > r->left || !(attrs = take(r, (size_t)nat * ATTR_LEN)) ||
        (uint64_t)nsm * SAMPLE_LEN != r->left || !(smp = take(r, r->left)))
        return -EINVAL;
    if (!(b->samples = malloc((nsm ? nsm : 1) * sizeof(*b->samples))) ||
        !(b->ids = malloc(nser ? (size_t)nser * SERIES_LEN : 1)))
        return -ENOMEM;
    memcpy(b->ids, sers, (size_t)nser * SERIES_LEN);
    for (uint32_t i = 0; i < nsm; i++)
        if (read_sample(smp + (size_t)i * SAMPLE_LEN, b->ids, nser, attrs, nat, ns, b->strings,
                        &b->samples[i]) < 0)
            return -EINVAL;
    b->nsamples = nsm;
    return 0;
}

int cs_pending_decode(const void *data, size_t len, cs_pending_block **ret_block)
{
    reader r = {data, len};
    cs_pending_block *b = calloc(1, sizeof(*b));
    int ret = b ? decode(&r, b) : -ENOMEM;
    if (ret < 0) {
        cs_pending_block_free(b);
        return ret;
    }
    *ret_block = b;
    return 0;
}
