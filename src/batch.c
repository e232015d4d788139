/* batch.c - everything a flush writes but the offsets (see batch.h).
 *
 * Rejects, samples and customers are arrays in arrival order; each entry's
 * copies live in one allocation of its own (a reject's three), so entries
 * move when an array grows but what they point to does not.  Customers are
 * found by id through a string map of their index. */
#include "batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "strmap.h"

typedef struct tracked {
    size_t row; /* aggregation row it was added to */
    cs_dec quantity, list_cost, discount, cost;
    bool taken_back;
} tracked;

struct cs_batch {
    cs_agg *agg;
    tracked *events;
    size_t nevents, cap, duplicates;
    cs_batch_reject *rejects;
    size_t nrejects, caprejects;
    cs_batch_sample *samples;
    char **sample_blocks; /* per sample: its copies */
    size_t nsamples, capsamples, capblocks;
    cs_batch_customer *customers;
    char **customer_blocks;
    size_t ncustomers, capcustomers, capcblocks;
    cs_strmap customer_index; /* id → index + 1 */
};

cs_batch *cs_batch_new(void)
{
    cs_batch *b = calloc(1, sizeof(*b));
    if (b && !(b->agg = cs_agg_new())) {
        free(b);
        return NULL;
    }
    return b;
}

void cs_batch_free(cs_batch *b)
{
    if (!b)
        return;
    cs_batch_clear(b);
    cs_agg_free(b->agg);
    free(b->events);
    free(b->rejects);
    free(b->samples);
    free(b->sample_blocks);
    free(b->customers);
    free(b->customer_blocks);
    free(b);
}

cs_agg *cs_batch_agg(cs_batch *b)
{
    return b->agg;
}

int cs_batch_add(cs_batch *b, const cs_agg_key *key, cs_dec quantity, cs_dec list_cost,
                 cs_dec discount, cs_dec cost, bool track, size_t *ret_index)
{
    size_t row;
    if (track && cs_array_reserve(&b->events, &b->cap, b->nevents + 1, sizeof(*b->events)) < 0)
        return -ENOMEM;
    int r = cs_agg_add(b->agg, key, quantity, list_cost, discount, cost, &row);
    if (r < 0 || !track)
        return r;
    b->events[b->nevents] = (tracked){row, quantity, list_cost, discount, cost, false};
    if (ret_index)
        *ret_index = b->nevents;
    b->nevents++;
    return 0;
}

size_t cs_batch_events(const cs_batch *b)
{
    return b->nevents;
}

int cs_batch_take_back(cs_batch *b, const size_t *idx, size_t n)
{
    int taken = 0;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= b->nevents)
            continue;
        tracked *e = &b->events[idx[i]];
        if (e->taken_back)
            continue;
        if (cs_agg_adjust(b->agg, e->row, -1, e->quantity, e->list_cost, e->discount, e->cost) < 0)
            continue; /* cannot happen: it only undoes what adding did */
        e->taken_back = true;
        b->duplicates++;
        taken++;
    }
    return taken;
}

size_t cs_batch_duplicates(const cs_batch *b)
{
    return b->duplicates;
}

static void *copy_bytes(const void *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

int cs_batch_add_reject(cs_batch *b, const cs_batch_reject *rj)
{
    if (cs_array_reserve(&b->rejects, &b->caprejects, b->nrejects + 1, sizeof(*b->rejects)) < 0)
        return -ENOMEM;
    cs_batch_reject c = *rj;
    c.detail = copy_bytes(rj->detail, strlen(rj->detail) + 1);
    c.raw = copy_bytes(rj->raw, rj->raw_len);
    c.key = rj->key ? copy_bytes(rj->key, rj->key_len) : NULL;
    if (!c.detail || !c.raw || (rj->key && !c.key)) {
        free((void *)c.detail);
        free((void *)c.raw);
        free((void *)c.key);
        return -ENOMEM;
    }
    b->rejects[b->nrejects++] = c;
    return 0;
}

const cs_batch_reject *cs_batch_rejects(const cs_batch *b, size_t *ret_n)
{
    *ret_n = b->nrejects;
    return b->rejects;
}

/* Copies the n strings *src[i] (NULL stays NULL) after `prefix` bytes of
 * room into one block; each *src[i] then points at its copy. */
static char *pack(const char **src[], size_t n, size_t prefix)
{
    size_t len[16], total = prefix;
    for (size_t i = 0; i < n; i++)
        total += (len[i] = *src[i] ? strlen(*src[i]) + 1 : 0);
    char *block = malloc(total ? total : 1), *p = block + prefix;
    if (!block)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!*src[i])
            continue;
        memcpy(p, *src[i], len[i]);
        *src[i] = p;
        p += len[i];
    }
    return block;
}

int cs_batch_add_sample(cs_batch *b, const cs_batch_sample *s)
{
    if (cs_array_reserve(&b->samples, &b->capsamples, b->nsamples + 1, sizeof(*b->samples)) < 0 ||
        cs_array_reserve(&b->sample_blocks, &b->capblocks, b->nsamples + 1,
                         sizeof(*b->sample_blocks)) < 0)
        return -ENOMEM;
    cs_batch_sample c = *s;
    const char **strs[] = {&c.series, &c.special, &c.kind, &c.customer, &c.plan,
                           &c.product, &c.meter, &c.rule_id, &c.rules_version, &c.currency,
                           &c.unit, &c.topic};
    char *block = pack(strs, sizeof(strs) / sizeof(strs[0]), CS_BATCH_SERIES_ID_LEN);
    if (!block)
        return -ENOMEM;
    memcpy(block, s->series_id, CS_BATCH_SERIES_ID_LEN); /* the series id first */
    c.series_id = (const unsigned char *)block;
    b->sample_blocks[b->nsamples] = block;
    b->samples[b->nsamples++] = c;
    return 0;
}

const cs_batch_sample *cs_batch_samples(const cs_batch *b, size_t *ret_n)
{
    *ret_n = b->nsamples;
    return b->samples;
}

int cs_batch_set_customer(cs_batch *b, const cs_batch_customer *c)
{
    cs_batch_customer copy = *c;
    const char **strs[] = {&copy.id, &copy.name, &copy.plan, &copy.cost_center};
    void **slot = cs_strmap_find(&b->customer_index, c->id);
    char *block = pack(strs, 4, 0);
    if (!block)
        return -ENOMEM;
    if (slot) { /* the latest attributes win */
        size_t i = (size_t)(uintptr_t)*slot - 1;
        free(b->customer_blocks[i]);
        b->customer_blocks[i] = block;
        b->customers[i] = copy;
        return 0;
    }
    if (cs_array_reserve(&b->customers, &b->capcustomers, b->ncustomers + 1,
                         sizeof(*b->customers)) < 0 ||
        cs_array_reserve(&b->customer_blocks, &b->capcblocks, b->ncustomers + 1,
                         sizeof(*b->customer_blocks)) < 0 ||
        cs_strmap_put(&b->customer_index, copy.id, (void *)(uintptr_t)(b->ncustomers + 1)) < 0) {
        free(block);
        return -ENOMEM;
    }
    b->customer_blocks[b->ncustomers] = block;
    b->customers[b->ncustomers++] = copy;
    return 0;
}

const cs_batch_customer *cs_batch_find_customer(cs_batch *b, const char *id)
{
    void **slot = cs_strmap_find(&b->customer_index, id);
    return slot ? &b->customers[(size_t)(uintptr_t)*slot - 1] : NULL;
}

const cs_batch_customer *cs_batch_customers(const cs_batch *b, size_t *ret_n)
{
    *ret_n = b->ncustomers;
    return b->customers;
}

void cs_batch_clear(cs_batch *b)
{
    cs_agg_clear(b->agg);
    b->nevents = 0;
    b->duplicates = 0;
    for (size_t i = 0; i < b->nrejects; i++) {
        free((void *)b->rejects[i].detail);
        free((void *)b->rejects[i].raw);
        free((void *)b->rejects[i].key);
    }
    b->nrejects = 0;
    for (size_t i = 0; i < b->nsamples; i++)
        free(b->sample_blocks[i]);
    b->nsamples = 0;
    for (size_t i = 0; i < b->ncustomers; i++)
        free(b->customer_blocks[i]);
    b->ncustomers = 0;
    cs_strmap_clear(&b->customer_index, NULL);
}
