/* agg.c - the aggregation table (see agg.h).
 *
 * Rows live in a growing array, in insertion order, which is also the order
 * the store writes them in.  An open-addressing index of row numbers (linear
 * probing, power-of-two size, at most half full) finds a row by key.  Each
 * row's key strings are copied into one allocation that the row owns.
 */
#include "agg.h"
#include "array.h"
#include "hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NSTR 8 /* hashed key strings; the unit follows them in a row's block */

struct cs_agg {
    cs_agg_row *rows;
    char **blocks; /* per row: its key strings */
    uint64_t *hashes;
    size_t n, cap;
    uint32_t *index; /* row number + 1; 0 = empty */
    size_t index_size;
};

static const char *const *key_strings(const cs_agg_key *k, const char *out[NSTR])
{
    out[0] = k->customer;
    out[1] = k->product;
    out[2] = k->meter;
    out[3] = k->rule_id;
    out[4] = k->rules_version;
    out[5] = k->plan;
    out[6] = k->currency;
    out[7] = k->attribution ? k->attribution : "";
    return out;
}

static uint64_t key_hash(const cs_agg_key *k)
{
    const char *s[NSTR];
    uint64_t h = CS_HASH_SEED ^ (uint64_t)k->hour_usec;
    key_strings(k, s);
    for (int i = 0; i < NSTR; i++)
        h = cs_hash_bytes(h, s[i], strlen(s[i])); /* each ends with its length */
    return cs_hash_final(h);
}

static bool key_equal(const cs_agg_key *a, const cs_agg_key *b)
{
    const char *sa[NSTR], *sb[NSTR];
    if (a->hour_usec != b->hour_usec)
        return false;
    key_strings(a, sa);
    key_strings(b, sb);
    for (int i = 0; i < NSTR; i++)
        if (strcmp(sa[i], sb[i]) != 0)
            return false;
    return true;
}

cs_agg *cs_agg_new(void)
{
    return calloc(1, sizeof(cs_agg));
}

void cs_agg_clear(cs_agg *agg)
{
    for (size_t i = 0; i < agg->n; i++)
        free(agg->blocks[i]);
    agg->n = 0;
    if (agg->index)
        memset(agg->index, 0, agg->index_size * sizeof(*agg->index));
}

void cs_agg_free(cs_agg *agg)
{
    if (!agg)
        return;
    cs_agg_clear(agg);
    free(agg->rows);
    free(agg->blocks);
    free(agg->hashes);
    free(agg->index);
    free(agg);
}

size_t cs_agg_count(const cs_agg *agg)
{
    return agg->n;
}

const cs_agg_row *cs_agg_row_at(const cs_agg *agg, size_t i)
{
    return &agg->rows[i];
}

static int rebuild_index(cs_agg *agg, size_t size)
{
    uint32_t *idx = calloc(size, sizeof(*idx));
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < agg->n; i++) {
        size_t slot = agg->hashes[i] & (size - 1);
        while (idx[slot])
            slot = (slot + 1) & (size - 1);
        idx[slot] = (uint32_t)(i + 1);
    }
    free(agg->index);
    agg->index = idx;
    agg->index_size = size;
    return 0;
}

static int append_row(cs_agg *agg, const cs_agg_key *key, uint64_t h, size_t *ret)
{
    size_t cap_blocks = agg->cap, cap_hashes = agg->cap;
    if (cs_array_reserve(&agg->blocks, &cap_blocks, agg->n + 1, sizeof(*agg->blocks)) < 0 ||
        cs_array_reserve(&agg->hashes, &cap_hashes, agg->n + 1, sizeof(*agg->hashes)) < 0 ||
        cs_array_reserve(&agg->rows, &agg->cap, agg->n + 1, sizeof(*agg->rows)) < 0)
        return -ENOMEM;
    const char *s[NSTR + 1], *copy[NSTR + 1];
    key_strings(key, s);
    s[NSTR] = key->unit;
    char *block = cs_strings_pack(s, NSTR + 1, copy);
    if (!block)
        return -ENOMEM;
    cs_agg_row *row = &agg->rows[agg->n];
    memset(row, 0, sizeof(*row));
    row->key = *key;
    row->key.customer = copy[0];
    row->key.product = copy[1];
    row->key.meter = copy[2];
    row->key.rule_id = copy[3];
    row->key.rules_version = copy[4];
    row->key.plan = copy[5];
    row->key.currency = copy[6];
    row->key.attribution = copy[7];
    row->key.unit = copy[8];
    agg->blocks[agg->n] = block;
    agg->hashes[agg->n] = h;
    *ret = agg->n++;
    return 0;
}

int cs_agg_add(cs_agg *agg, const cs_agg_key *key, cs_dec quantity, cs_dec list_cost,
               cs_dec discount, cs_dec cost, size_t *ret_row)
{
    uint64_t h = key_hash(key);
    size_t row_i = SIZE_MAX;
    int r;

    if (agg->index_size == 0 && (r = rebuild_index(agg, 1024)) < 0)
        return r;
    size_t slot = h & (agg->index_size - 1);
    while (agg->index[slot]) {
        size_t i = agg->index[slot] - 1;
        if (agg->hashes[i] == h && key_equal(&agg->rows[i].key, key)) {
            row_i = i;
            break;
        }
        slot = (slot + 1) & (agg->index_size - 1);
    }
    cs_dec q = quantity, l = list_cost, d = discount, c = cost;
    if (row_i != SIZE_MAX) {
        cs_agg_row *row = &agg->rows[row_i];
        if (cs_dec_add(row->quantity, quantity, &q) < 0 ||
            cs_dec_add(row->list_cost, list_cost, &l) < 0 ||
            cs_dec_add(row->discount, discount, &d) < 0 || cs_dec_add(row->cost, cost, &c) < 0)
            return -ERANGE;
    } else {
        if ((r = append_row(agg, key, h, &row_i)) < 0)
            return r;
        agg->index[slot] = (uint32_t)(row_i + 1);
        if (agg->n * 2 > agg->index_size && (r = rebuild_index(agg, agg->index_size * 2)) < 0)
            return r;
    }
    cs_agg_row *row = &agg->rows[row_i];
    row->quantity = q;
    row->list_cost = l;
    row->discount = d;
    row->cost = c;
    row->events++;
    if (ret_row)
        *ret_row = row_i;
    return 0;
}

int cs_agg_adjust(cs_agg *agg, size_t row_i, int sign, cs_dec quantity, cs_dec list_cost,
                  cs_dec discount, cs_dec cost)
{
    cs_agg_row *row = &agg->rows[row_i];
    cs_dec q, l, d, c;
    if (sign < 0) {
        quantity.raw = -quantity.raw;
        list_cost.raw = -list_cost.raw;
        discount.raw = -discount.raw;
        cost.raw = -cost.raw;
    }
    if (cs_dec_add(row->quantity, quantity, &q) < 0 ||
        cs_dec_add(row->list_cost, list_cost, &l) < 0 ||
        cs_dec_add(row->discount, discount, &d) < 0 || cs_dec_add(row->cost, cost, &c) < 0)
        return -ERANGE;
    row->quantity = q;
    row->list_cost = l;
    row->discount = d;
    row->cost = c;
    row->events += sign < 0 ? -1 : 1;
    return 0;
}
