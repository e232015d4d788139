/* dedup.c - fingerprint sets per event hour (see dedup.h).
 *
 * Hours are a sorted array (binary search); each hour is an open-addressing
 * table with linear probing over 16-byte fingerprints, whose first 8 bytes
 * (SHA-256 output, uniform) are the hash.  Dropping pending entries marks
 * their slots removed (probing continues past them) and the next growth
 * rebuilds the table without them, so dropping a batch never allocates. */
#include "dedup.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    unsigned char fp[CS_DEDUP_FP_LEN];
    int32_t idx; /* -1 stored, >= 0 pending (batch index), <= -2 sealed (-2 - index) */
    uint32_t used; /* 0 empty, 1 in use, 2 removed (probing goes on past it) */
} slot;

typedef struct hourset {
    int64_t hour;
    bool loaded;
    int64_t seq;
    slot *slots;
    size_t cap, n, npending, nsealed, removed;
    uint64_t last_use;
} hourset;

struct cs_dedup {
    hourset *hours; /* sorted by hour */
    size_t nhours, caphours;
    size_t total, max;
    uint64_t tick;
};

/* SHA-256 through an implementation fetched once: OpenSSL 3's SHA256()
 * looks the algorithm up by name at every call, a quarter of its cost for
 * inputs this short (bench_pipeline). */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static void sha256(const void *data, size_t len, unsigned char md[SHA256_DIGEST_LENGTH])
{
    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md || !EVP_Digest(data, len, md, NULL, sha256_md, NULL))
        SHA256(data, len, md); /* the same digest, looked up by name */
}

void cs_dedup_fingerprint(const char *source, const char *id, unsigned char ret[CS_DEDUP_FP_LEN])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char buf[1024];
    size_t ls = strlen(source) + 1, li = strlen(id); /* the NUL separates them */
    char *text = ls + li <= sizeof(buf) ? buf : malloc(ls + li);
    if (!text) { /* fields are at most 256 bytes; this is only a guard */
        memset(ret, 0, CS_DEDUP_FP_LEN);
        return;
    }
    memcpy(text, source, ls);
    memcpy(text + ls, id, li);
    sha256(text, ls + li, md);
    if (text != buf)
        free(text);
    memcpy(ret, md, CS_DEDUP_FP_LEN);
}

cs_dedup *cs_dedup_new(size_t max_entries)
{
    cs_dedup *d = calloc(1, sizeof(*d));
    if (d)
        d->max = max_entries ? max_entries : 1;
    return d;
}

void cs_dedup_free(cs_dedup *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nhours; i++)
        free(d->hours[i].slots);
    free(d->hours);
    free(d);
}

/* Index of hour, or where it would be inserted (*found = false). */
static size_t hour_pos(const cs_dedup *d, int64_t hour, bool *found)
{
    size_t lo = 0, hi = d->nhours;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->hours[mid].hour < hour)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < d->nhours && d->hours[lo].hour == hour;
    return lo;
}

static hourset *find_hour(cs_dedup *d, int64_t hour)
{
    if (hour == CS_DEDUP_ANY_HOUR) /* the least hour: first if held (every event asks) */
        return d->nhours && d->hours[0].hour == hour ? &d->hours[0] : NULL;
    bool found;
    size_t i = hour_pos(d, hour, &found);
    return found ? &d->hours[i] : NULL;
}

static hourset *get_hour(cs_dedup *d, int64_t hour)
{
    bool found;
    size_t i = hour_pos(d, hour, &found);
    if (found)
        return &d->hours[i];
    if (d->nhours == d->caphours) {
        size_t ncap = d->caphours ? d->caphours * 2 : 16;
        hourset *nh = realloc(d->hours, ncap * sizeof(*nh));
        if (!nh)
            return NULL;
        d->hours = nh;
        d->caphours = ncap;
    }
    memmove(&d->hours[i + 1], &d->hours[i], (d->nhours - i) * sizeof(*d->hours));
    d->hours[i] = (hourset){.hour = hour, .seq = -1};
    d->nhours++;
    return &d->hours[i];
}

static uint64_t hash_of(const unsigned char *fp)
{
    uint64_t h;
    memcpy(&h, fp, sizeof(h));
    return h;
}

/* The slot holding fp, or the empty slot where it would go. */
static slot *probe(const hourset *h, const unsigned char *fp)
{
    size_t mask = h->cap - 1, i = (size_t)hash_of(fp) & mask;
    while (h->slots[i].used &&
           (h->slots[i].used == 2 || memcmp(h->slots[i].fp, fp, CS_DEDUP_FP_LEN) != 0))
        i = (i + 1) & mask;
    return &h->slots[i];
}

static int grow(cs_dedup *d, hourset *h, size_t want)
{
    if (h->cap && (want + h->removed + 1) * 4 <= h->cap * 3)
        return 0;
    size_t ncap = h->cap ? h->cap : 64;
    while ((want + 1) * 4 > ncap * 3)
        ncap *= 2;
    slot *old = h->slots;
    size_t oldcap = h->cap;
    h->slots = calloc(ncap, sizeof(*h->slots));
    if (!h->slots) {
        h->slots = old;
        return -ENOMEM;
    }
    h->cap = ncap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].used == 1)
            *probe(h, old[i].fp) = old[i];
    h->removed = 0;
    free(old);
    (void)d;
    return 0;
}

/* Inserts fp (absent) with idx.  0 or -ENOMEM. */
static int insert(cs_dedup *d, hourset *h, const unsigned char *fp, int32_t idx)
{
    if (grow(d, h, h->n + 1) < 0)
        return -ENOMEM;
    slot *s = probe(h, fp);
    memcpy(s->fp, fp, CS_DEDUP_FP_LEN);
    s->idx = idx;
    s->used = 1;
    h->n++;
    d->total++;
    if (idx >= 0)
        h->npending++;
    return 0;
}

bool cs_dedup_loaded(cs_dedup *d, int64_t hour, int64_t *ret_seq)
{
    hourset *h = find_hour(d, hour);
    if (!h || !h->loaded)
        return false;
    h->last_use = ++d->tick;
    if (ret_seq)
        *ret_seq = h->seq;
    return true;
}

int cs_dedup_mark_loaded(cs_dedup *d, int64_t hour, int64_t seq)
{
    hourset *h = get_hour(d, hour);
    if (!h)
        return -ENOMEM;
    h->loaded = true;
    if (seq > h->seq)
        h->seq = seq;
    h->last_use = ++d->tick;
    return 0;
}

int cs_dedup_merge(cs_dedup *d, int64_t hour, const unsigned char *fps, size_t n, int64_t seq,
                   size_t *ret_dups, size_t *ret_ndups)
{
    hourset *h = get_hour(d, hour);
    if (!h)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *fp = fps + i * CS_DEDUP_FP_LEN;
        if (h->cap) {
            slot *s = probe(h, fp);
            if (s->used == 1) {
                if (s->idx >= 0) { /* stored by another worker: ours is a duplicate */
                    ret_dups[(*ret_ndups)++] = (size_t)s->idx;
                    s->idx = -1;
                    h->npending--;
                } else if (s->idx <= -2) { /* its flush takes it back itself */
                    s->idx = -1;
                    h->nsealed--;
                }
                continue;
            }
        }
        if (insert(d, h, fp, -1) < 0)
            return -ENOMEM;
    }
    return cs_dedup_mark_loaded(d, hour, seq);
}

static bool contains(cs_dedup *d, int64_t hour, const unsigned char *fp)
{
    hourset *h = find_hour(d, hour);
    return h && h->cap && probe(h, fp)->used == 1;
}

/* Evicts least recently used hours without pending entries until the held
 * fingerprints are at most 7/8 of the maximum. */
static void evict(cs_dedup *d)
{
    while (d->total > d->max - d->max / 8) {
        size_t victim = d->nhours;
        for (size_t i = 0; i < d->nhours; i++) {
            hourset *h = &d->hours[i];
            if (h->npending || h->nsealed || h->hour == CS_DEDUP_ANY_HOUR || !h->n)
                continue;
            if (victim == d->nhours || h->last_use < d->hours[victim].last_use)
                victim = i;
        }
        if (victim == d->nhours)
            return; /* everything held is needed by the batch */
        d->total -= d->hours[victim].n;
        free(d->hours[victim].slots);
        memmove(&d->hours[victim], &d->hours[victim + 1],
                (d->nhours - victim - 1) * sizeof(*d->hours));
        d->nhours--;
    }
}

bool cs_dedup_seen(cs_dedup *d, int64_t hour, const unsigned char fp[CS_DEDUP_FP_LEN])
{
    return contains(d, CS_DEDUP_ANY_HOUR, fp) || contains(d, hour, fp);
}

int cs_dedup_check(cs_dedup *d, int64_t hour, const unsigned char fp[CS_DEDUP_FP_LEN], size_t idx)
{
    if (contains(d, CS_DEDUP_ANY_HOUR, fp))
        return 0;
    hourset *h = get_hour(d, hour);
    if (!h)
        return -ENOMEM;
    h->last_use = ++d->tick;
    if (h->cap && probe(h, fp)->used == 1)
        return 0;
    if (insert(d, h, fp, (int32_t)idx) < 0)
        return -ENOMEM;
    if (d->total > d->max)
        evict(d);
    return 1;
}

size_t cs_dedup_seal(cs_dedup *d)
{
    size_t total = 0;
    for (size_t i = 0; i < d->nhours; i++) {
        hourset *h = &d->hours[i];
        for (size_t s = 0; h->npending && s < h->cap; s++)
            if (h->slots[s].used == 1 && h->slots[s].idx >= 0) {
                h->slots[s].idx = -2 - h->slots[s].idx;
                h->npending--;
                h->nsealed++;
            }
        total += h->nsealed;
    }
    return total;
}

size_t cs_dedup_sealed_hours(cs_dedup *d, int64_t *ret_hours, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < d->nhours && k < cap; i++)
        if (d->hours[i].nsealed)
            ret_hours[k++] = d->hours[i].hour;
    return k;
}

void cs_dedup_sealed(cs_dedup *d, int64_t hour, unsigned char *ret_fps, size_t *ret_idx,
                     size_t *ret_n)
{
    hourset *h = find_hour(d, hour);
    size_t k = 0;
    for (size_t i = 0; h && i < h->cap && k < h->nsealed; i++)
        if (h->slots[i].used == 1 && h->slots[i].idx <= -2) {
            memcpy(ret_fps + CS_DEDUP_FP_LEN * k, h->slots[i].fp, CS_DEDUP_FP_LEN);
            ret_idx[k++] = (size_t)(-2 - (int64_t)h->slots[i].idx);
        }
    *ret_n = k;
}

void cs_dedup_commit(cs_dedup *d)
{
    for (size_t i = 0; i < d->nhours; i++) {
        hourset *h = &d->hours[i];
        for (size_t s = 0; h->nsealed && s < h->cap; s++)
            if (h->slots[s].used == 1 && h->slots[s].idx <= -2) {
                h->slots[s].idx = -1;
                h->nsealed--;
            }
    }
    /* no eviction here: see dedup.h */
}

void cs_dedup_trim(cs_dedup *d)
{
    if (d->total > d->max)
        evict(d);
}

void cs_dedup_discard(cs_dedup *d)
{
    for (size_t i = 0; i < d->nhours; i++) {
        hourset *h = &d->hours[i];
        for (size_t s = 0; (h->npending || h->nsealed) && s < h->cap; s++)
            if (h->slots[s].used == 1 && h->slots[s].idx != -1) {
                if (h->slots[s].idx >= 0)
                    h->npending--;
                else
                    h->nsealed--;
                h->slots[s].used = 2; /* no allocation: the next growth drops it */
                h->n--;
                h->removed++;
                d->total--;
            }
    }
}

size_t cs_dedup_size(const cs_dedup *d)
{
    return d->total;
}
