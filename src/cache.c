/* cache.c - LRU + TTL string cache (see cache.h).
 *
 * Entries sit in a chained hash table and in a doubly linked recency list
 * (head = most recent).  Each entry is one allocation holding key and value.
 */
#include "cache.h"
#include "hash.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next_hash;
    struct entry *prev, *next; /* recency list */
    uint64_t hash;
    int64_t stored_at;
    char *value;               /* NULL, or points into this allocation */
    char key[];
} entry;

struct cs_cache {
    entry **buckets;
    size_t nbuckets, n, capacity;
    int64_t ttl, negative_ttl; /* positive entries, cached absences */
    entry *head, *tail;
    cs_cache_stats stats;
};

cs_cache *cs_cache_new(size_t capacity, int64_t ttl_usec)
{
    cs_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->capacity = capacity ? capacity : 1;
    c->ttl = c->negative_ttl = ttl_usec;
    c->nbuckets = 64;
    while (c->nbuckets < c->capacity)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    return c;
}

void cs_cache_free(cs_cache *c)
{
    if (!c)
        return;
    for (entry *e = c->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(c->buckets);
    free(c);
}

static void list_unlink(cs_cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(cs_cache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static entry **find_slot(cs_cache *c, const char *key, uint64_t h)
{
    entry **pp = &c->buckets[h & (c->nbuckets - 1)];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next_hash;
    return pp;
}

static void remove_entry(cs_cache *c, entry **slot)
{
    entry *e = *slot;
    *slot = e->next_hash;
    list_unlink(c, e);
    free(e);
    c->n--;
}

int cs_cache_get(cs_cache *c, const char *key, int64_t now, const char **ret_value)
{
    uint64_t h = cs_hash_str(key);
    entry **slot = find_slot(c, key, h);
    entry *e = *slot;
    if (!e) {
        c->stats.misses++;
        return 0;
    }
    if (now - e->stored_at >= (e->value ? c->ttl : c->negative_ttl)) {
        remove_entry(c, slot);
        c->stats.expired++;
        c->stats.misses++;
        return 0;
    }
    list_unlink(c, e);
    list_push_front(c, e);
    c->stats.hits++;
    *ret_value = e->value;
    return 1;
}

void cs_cache_set_negative_ttl(cs_cache *c, int64_t ttl_usec)
{
    c->negative_ttl = ttl_usec;
}

int cs_cache_peek(const cs_cache *c, const char *key, int64_t now, const char **ret_value)
{
    uint64_t h = cs_hash_str(key);
    const entry *e = c->buckets[h & (c->nbuckets - 1)];
    while (e && (e->hash != h || strcmp(e->key, key) != 0))
        e = e->next_hash;
    if (!e || now - e->stored_at >= (e->value ? c->ttl : c->negative_ttl))
        return 0;
    *ret_value = e->value;
    return 1;
}

int cs_cache_put(cs_cache *c, const char *key, const char *value, int64_t now)
{
    uint64_t h = cs_hash_str(key);
    entry **slot = find_slot(c, key, h);
    if (*slot)
        remove_entry(c, slot);
    size_t klen = strlen(key) + 1, vlen = value ? strlen(value) + 1 : 0;
    entry *e = malloc(sizeof(*e) + klen + vlen);
    if (!e)
        return -ENOMEM;
    memcpy(e->key, key, klen);
    e->value = value ? memcpy(e->key + klen, value, vlen) : NULL;
    e->hash = h;
    e->stored_at = now;
    e->prev = e->next = NULL;
    while (c->n >= c->capacity && c->tail) {
        entry *old = c->tail;
        remove_entry(c, find_slot(c, old->key, old->hash));
        c->stats.evicted++;
    }
    slot = find_slot(c, key, h);
    e->next_hash = NULL;
    *slot = e;
    list_push_front(c, e);
    c->n++;
    return 0;
}

size_t cs_cache_size(const cs_cache *c)
{
    return c->n;
}

cs_cache_stats cs_cache_get_stats(const cs_cache *c)
{
    return c->stats;
}
