/* strmap.c - see strmap.h.  hash.h's hashes, power-of-two bucket counts, the
 * table doubles when it holds as many entries as buckets.  Each entry keeps
 * its hash, so a lookup compares keys only when the hashes agree (metric
 * series keys share long prefixes: strcmp was a tenth of a worker's time). */
#include "strmap.h"
#include "hash.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    return cs_hash_str(s);
}

int cs_strmap_key(char *buf, size_t size, const char *const *parts, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = parts[i] ? parts[i] : "";
        size_t len = strlen(p);
        if (len + 2 > size - k)
            return -ENOSPC;
        memcpy(buf + k, p, len); /* four series per stored row: no snprintf */
        buf[k + len] = '\x1f';
        k += len + 1;
    }
    if (k >= size)
        return -ENOSPC;
    buf[k] = '\0';
    return (int)k;
}

void **cs_strmap_find(cs_strmap *m, const char *key)
{
    if (!m->nbuckets)
        return NULL;
    uint64_t h = hash_str(key);
    for (cs_strmap_entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return &e->value;
    return NULL;
}

int cs_strmap_put(cs_strmap *m, const char *key, void *value)
{
    if (m->n >= m->nbuckets) {
        size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
        cs_strmap_entry **b = calloc(nb, sizeof(*b));
        if (!b)
            return -ENOMEM;
        for (size_t i = 0; i < m->nbuckets; i++)
            for (cs_strmap_entry *e = m->buckets[i], *next; e; e = next) {
                next = e->next;
                size_t slot = e->hash & (nb - 1);
                e->next = b[slot];
                b[slot] = e;
            }
        free(m->buckets);
        m->buckets = b;
        m->nbuckets = nb;
    }
    size_t len = strlen(key) + 1;
    cs_strmap_entry *e = malloc(sizeof(*e) + len);
    if (!e)
        return -ENOMEM;
    memcpy(e->key, key, len);
    e->value = value;
    e->hash = hash_str(key);
    size_t slot = e->hash & (m->nbuckets - 1);
    e->next = m->buckets[slot];
    m->buckets[slot] = e;
    m->n++;
    return 0;
}

void cs_strmap_each(cs_strmap *m, void (*fn)(void *opaque, const char *key, void *value),
                    void *opaque)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (cs_strmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(opaque, e->key, e->value);
}

void cs_strmap_clear(cs_strmap *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (cs_strmap_entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            if (free_value)
                free_value(e->value);
            free(e);
        }
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = m->n = 0;
}
