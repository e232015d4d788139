/* cache.h - a bounded, expiring string map with LRU eviction.
 *
 * Used for Redis label and customer lookups: at most `capacity` entries,
 * each valid for `ttl_usec` after it was stored, the least recently used
 * evicted first.  A value may be NULL to remember that a key does not exist
 * (negative caching), so unknown label values do not hit Redis each time.
 * Time is passed in by the caller, which keeps the module pure and testable.
 * Not thread-safe.
 */
#ifndef CS_CACHE_H
#define CS_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_cache cs_cache;

typedef struct cs_cache_stats {
    uint64_t hits, misses, expired, evicted;
} cs_cache_stats;

cs_cache *cs_cache_new(size_t capacity, int64_t ttl_usec);
void cs_cache_free(cs_cache *c); /* NULL allowed */

/* Absences (NULL values) expire after ttl_usec instead of the cache's TTL
 * (by default the same): a key that appears in the source soon after is
 * then seen soon. */
void cs_cache_set_negative_ttl(cs_cache *c, int64_t ttl_usec);

/* Returns 1 on a fresh hit (and *ret_value, possibly NULL for a cached
 * absence, valid until the next call that modifies the cache), 0 on a miss
 * or an expired entry. */
int cs_cache_get(cs_cache *c, const char *key, int64_t now_usec, const char **ret_value);

/* Like cs_cache_get() without counting or touching recency: 1 when key
 * has a fresh entry (*ret_value as for cs_cache_get), else 0. */
int cs_cache_peek(const cs_cache *c, const char *key, int64_t now_usec, const char **ret_value);

/* Stores key → value (NULL: known absent), replacing any entry.  Returns 0 or
 * -ENOMEM. */
int cs_cache_put(cs_cache *c, const char *key, const char *value, int64_t now_usec);

size_t cs_cache_size(const cs_cache *c);
cs_cache_stats cs_cache_get_stats(const cs_cache *c);

#endif
