/* ledger.c - offset bookkeeping (see ledger.h). */
#include "ledger.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"

void cs_ledger_free(cs_ledger *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->parts[i].topic);
    free(l->parts);
    *l = (cs_ledger){0};
}

cs_ledger_part *cs_ledger_find(cs_ledger *l, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->parts[i].partition == partition && strcmp(l->parts[i].topic, topic) == 0)
            return &l->parts[i];
    return NULL;
}

cs_ledger_part *cs_ledger_add(cs_ledger *l, const char *topic, int32_t partition, bool metric)
{
    cs_ledger_part *p = cs_ledger_find(l, topic, partition);
    if (p)
        return p;
    if (cs_array_reserve(&l->parts, &l->cap, l->n + 1, sizeof(*l->parts)) < 0)
        return NULL;
    char *copy = strdup(topic);
    if (!copy)
        return NULL;
    p = &l->parts[l->n++];
    *p = (cs_ledger_part){.topic = copy, .partition = partition, .expected = CS_LEDGER_NONE,
                          .next = CS_LEDGER_NONE, .metric = metric, .max_sample = -1,
                          .newest_sample = -1, .isolate_until = -1};
    return p;
}

void cs_ledger_assign(cs_ledger_part *p, int64_t stored)
{
    p->active = true;
    p->expected = p->next = stored;
    p->newest_sample = -1;
}

bool cs_ledger_sample(cs_ledger_part *p, int64_t time_usec, int64_t lateness_usec)
{
    if (time_usec > p->max_sample)
        p->max_sample = time_usec;
    if (time_usec > p->newest_sample)
        p->newest_sample = time_usec;
    return time_usec < p->newest_sample - lateness_usec;
}

void cs_ledger_deactivate(cs_ledger *l)
{
    for (size_t i = 0; i < l->n; i++)
        l->parts[i].active = false;
}

bool cs_ledger_wants(const cs_ledger_part *p, int64_t offset)
{
    return p && p->active && (p->next < 0 || offset >= p->next);
}

int64_t cs_ledger_advance(cs_ledger_part *p, int64_t offset)
{
    int64_t gap = p->next >= 0 && offset > p->next ? p->next : -1;
    p->next = offset + 1;
    return gap;
}

size_t cs_ledger_moved(const cs_ledger *l, cs_ledger_move *ret)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        const cs_ledger_part *p = &l->parts[i];
        if (p->active && p->next >= 0 && p->next != p->expected) {
            if (ret)
                ret[k] = (cs_ledger_move){p->topic, p->partition, p->expected, p->next};
            k++;
        }
    }
    return k;
}

void cs_ledger_stored(cs_ledger *l, const cs_ledger_move *moves, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cs_ledger_part *p = cs_ledger_find(l, moves[i].topic, moves[i].partition);
        if (p)
            p->expected = moves[i].next;
    }
}

void cs_ledger_rewind(cs_ledger *l)
{
    for (size_t i = 0; i < l->n; i++)
        l->parts[i].next = l->parts[i].expected;
}

void cs_ledger_rewind_to(cs_ledger *l, const cs_ledger_move *moves, size_t n)
{
    cs_ledger_rewind(l);
    for (size_t i = 0; i < n; i++) {
        cs_ledger_part *p = cs_ledger_find(l, moves[i].topic, moves[i].partition);
        if (p && p->expected == moves[i].expected)
            p->next = moves[i].next;
    }
}

cs_ledger_part *cs_ledger_isolate(cs_ledger *l)
{
    cs_ledger_part *last = NULL;
    for (size_t i = 0; i < l->n; i++) {
        cs_ledger_part *p = &l->parts[i];
        if (!p->active || p->next < 0 || p->next == p->expected)
            continue;
        last = p;
        if (p->next > p->isolate_until)
            p->isolate_until = p->next;
    }
    return last;
}

bool cs_ledger_isolation_done(cs_ledger *l)
{
    bool done = true;
    for (size_t i = 0; i < l->n; i++) {
        cs_ledger_part *p = &l->parts[i];
        if (p->isolate_until < 0)
            continue;
        if (!p->active || p->expected >= p->isolate_until)
            p->isolate_until = -1;
        else
            done = false;
    }
    return done;
}
