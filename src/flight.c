/* flight.c - the de-duplication side of one flush in flight (see flight.h).
 *
 * The sealed fingerprints are one array of entries, grouped by hour and
 * sorted by fingerprint within each hour, so that a row seen in the
 * transaction is matched by binary search; each entry remembers whether
 * its event was taken back.  Kept rows are copies (the flush's result
 * buffers do not outlive the callback). */
#include "flight.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    unsigned char fp[CS_DEDUP_FP_LEN];
    size_t idx;
    bool taken;
} entry;

typedef struct kept_row {
    int64_t hour, seq;
    size_t n;
    unsigned char *fps;
} kept_row;

struct cs_flight {
    size_t nhours;
    int64_t *hours, *known, *stored;
    size_t *first;   /* per hour: its first entry; first[nhours] = nentries */
    entry *entries;
    size_t nentries;
    unsigned char *pack; /* cs_flight_fresh's buffer: room for every entry */
    kept_row *rows;
    size_t nrows, caprows;
};

static int entry_cmp(const void *a, const void *b)
{
    return memcmp(((const entry *)a)->fp, ((const entry *)b)->fp, CS_DEDUP_FP_LEN);
}

void cs_flight_free(cs_flight *f)
{
    if (!f)
        return;
    cs_flight_attempt(f);
    free(f->rows);
    free(f->hours);
    free(f->known);
    free(f->stored);
    free(f->first);
    free(f->entries);
    free(f->pack);
    free(f);
}

/* Copies hour i's sealed fingerprints into its entries, sorted. */
static void copy_hour(cs_flight *f, cs_dedup *d, size_t i, unsigned char *fps, size_t *idx)
{
    size_t n;
    cs_dedup_sealed(d, f->hours[i], fps, idx, &n);
    entry *e = f->entries + f->first[i];
    for (size_t k = 0; k < n; k++) {
        memcpy(e[k].fp, fps + k * CS_DEDUP_FP_LEN, CS_DEDUP_FP_LEN);
        e[k].idx = idx[k];
        e[k].taken = false;
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    f->first[i + 1] = f->first[i] + n;
    if (!cs_dedup_loaded(d, f->hours[i], &f->known[i]))
        f->known[i] = -1; /* cannot happen: an hour is loaded before its events count */
    f->stored[i] = f->known[i];
}

int cs_flight_new(cs_dedup *d, cs_flight **ret)
{
    size_t total = cs_dedup_seal(d);
    cs_flight *f = calloc(1, sizeof(*f));
    unsigned char *fps = malloc((total + 1) * CS_DEDUP_FP_LEN);
    size_t *idx = malloc((total + 1) * sizeof(*idx));
    *ret = NULL;
    if (!f || !fps || !idx)
        goto fail;
    /* hours with sealed entries are at most the entries */
    f->hours = malloc((total + 1) * sizeof(*f->hours));
    f->known = malloc((total + 1) * sizeof(*f->known));
    f->stored = malloc((total + 1) * sizeof(*f->stored));
    f->first = calloc(total + 2, sizeof(*f->first));
    f->entries = malloc((total + 1) * sizeof(*f->entries));
    f->pack = malloc((total + 1) * CS_DEDUP_FP_LEN);
    if (!f->hours || !f->known || !f->stored || !f->first || !f->entries || !f->pack)
        goto fail;
    f->nhours = cs_dedup_sealed_hours(d, f->hours, total + 1);
    for (size_t i = 0; i < f->nhours; i++)
        copy_hour(f, d, i, fps, idx);
    f->nentries = f->first[f->nhours];
    free(fps);
    free(idx);
    *ret = f;
    return 0;
fail:
    free(fps);
    free(idx);
    cs_flight_free(f);
    return -ENOMEM;
}

size_t cs_flight_nhours(const cs_flight *f)
{
    return f->nhours;
}

const int64_t *cs_flight_hours(const cs_flight *f)
{
    return f->hours;
}

const int64_t *cs_flight_known(const cs_flight *f)
{
    return f->known;
}

int64_t *cs_flight_stored(cs_flight *f)
{
    return f->stored;
}

/* The index of hour in f->hours, or f->nhours. */
static size_t hour_index(const cs_flight *f, int64_t hour)
{
    size_t lo = 0, hi = f->nhours;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->hours[mid] < hour)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->nhours && f->hours[lo] == hour ? lo : f->nhours;
}

static int keep_row(cs_flight *f, int64_t hour, const unsigned char *fps, size_t n, int64_t seq)
{
    if (f->nrows == f->caprows) {
        size_t ncap = f->caprows ? 2 * f->caprows : 8;
        kept_row *nr = realloc(f->rows, ncap * sizeof(*nr));
        if (!nr)
            return -ENOMEM;
        f->rows = nr;
        f->caprows = ncap;
    }
    unsigned char *copy = malloc(n * CS_DEDUP_FP_LEN + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, fps, n * CS_DEDUP_FP_LEN);
    f->rows[f->nrows++] = (kept_row){hour, seq, n, copy};
    return 0;
}

int cs_flight_seen(cs_flight *f, cs_batch *batch, int64_t hour, const unsigned char *fps,
                   size_t n, int64_t seq)
{
    size_t h = hour_index(f, hour);
    int taken = 0;
    if (h < f->nhours) {
        entry *e = f->entries + f->first[h];
        size_t ne = f->first[h + 1] - f->first[h];
        for (size_t i = 0; i < n; i++) {
            entry key;
            memcpy(key.fp, fps + i * CS_DEDUP_FP_LEN, CS_DEDUP_FP_LEN);
            entry *hit = bsearch(&key, e, ne, sizeof(*e), entry_cmp);
            if (hit && !hit->taken) {
                hit->taken = true;
                cs_batch_take_back(batch, &hit->idx, 1);
                taken++;
            }
        }
    }
    return keep_row(f, hour, fps, n, seq) < 0 ? -ENOMEM : taken;
}

void cs_flight_fresh(cs_flight *f, int64_t hour, const unsigned char **ret_fps, size_t *ret_n)
{
    size_t h = hour_index(f, hour), k = 0;
    for (size_t i = h < f->nhours ? f->first[h] : 0; h < f->nhours && i < f->first[h + 1]; i++)
        if (!f->entries[i].taken)
            memcpy(f->pack + CS_DEDUP_FP_LEN * k++, f->entries[i].fp, CS_DEDUP_FP_LEN);
    *ret_fps = f->pack;
    *ret_n = k;
}

void cs_flight_attempt(cs_flight *f)
{
    for (size_t i = 0; i < f->nrows; i++)
        free(f->rows[i].fps);
    f->nrows = 0;
}

int cs_flight_done(cs_flight *f, cs_dedup *d, cs_batch *current)
{
    size_t *dups = malloc((cs_batch_events(current) + 1) * sizeof(*dups));
    int taken = 0;
    if (!dups)
        return -ENOMEM;
    cs_dedup_commit(d); /* first: the kept rows' copies of our events are stored ones */
    for (size_t i = 0; i < f->nrows; i++) {
        size_t ndups = 0;
        const kept_row *r = &f->rows[i];
        if (cs_dedup_merge(d, r->hour, r->fps, r->n, r->seq, dups, &ndups) < 0) {
            free(dups);
            return -ENOMEM;
        }
        taken += cs_batch_take_back(current, dups, ndups);
    }
    free(dups);
    for (size_t i = 0; i < f->nhours; i++)
        if (cs_dedup_mark_loaded(d, f->hours[i], f->stored[i]) < 0)
            return -ENOMEM;
    cs_dedup_trim(d);
    return taken;
}
