/* batch.c - a flush's aggregated events (see batch.h). */
#include "batch.h"

#include <errno.h>
#include <stdlib.h>

#include "array.h"

typedef struct tracked {
    size_t row; /* aggregation row it was added to */
    cs_dec quantity, list_cost, discount, cost;
    bool taken_back;
} tracked;

struct cs_batch {
    cs_agg *agg;
    tracked *events;
    size_t nevents, cap, duplicates;
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
    cs_agg_free(b->agg);
    free(b->events);
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

void cs_batch_clear(cs_batch *b)
{
    cs_agg_clear(b->agg);
    b->nevents = 0;
    b->duplicates = 0;
}
