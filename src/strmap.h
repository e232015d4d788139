/* strmap.h - a string-keyed hash map of pointers (chained, doubling).
 *
 * Keys are copied; values are the caller's (strmap_clear can free them).
 * Used for metric series, admitted/folded label values and the customers
 * of a batch.  Not thread-safe.
 */
#ifndef CS_STRMAP_H
#define CS_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_strmap_entry {
    struct cs_strmap_entry *next;
    void *value;
    uint64_t hash; /* of key: compared before the key itself */
    char key[];
} cs_strmap_entry;

typedef struct cs_strmap {
    cs_strmap_entry **buckets;
    size_t nbuckets, n;
} cs_strmap; /* zero-initialise */

/* Writes the n strings of parts (NULL as "") into buf, each followed by
 * 0x1f, NUL-terminated: a composite key for the map.  Returns the length,
 * or -ENOSPC if it does not fit in size bytes (buf is unusable then).
 * Parts are not escaped, so parts holding 0x1f could join to the same
 * key as others.  The callers join customer ids, whose control characters
 * labels.c escapes, and names from the rules: a rules file whose names
 * held 0x1f could merge two metric series, never two stored costs (those
 * are keyed by columns in PostgreSQL). */
int cs_strmap_key(char *buf, size_t size, const char *const *parts, size_t n);

/* Returns a pointer to key's value slot, or NULL if absent. */
void **cs_strmap_find(cs_strmap *m, const char *key);

/* Adds key (which must be absent) → value.  0 or -ENOMEM. */
int cs_strmap_put(cs_strmap *m, const char *key, void *value);

/* Calls fn(opaque, key, value) for every entry, in no particular order. */
void cs_strmap_each(cs_strmap *m, void (*fn)(void *opaque, const char *key, void *value),
                    void *opaque);

/* Removes every entry, calling free_value on each value if not NULL. */
void cs_strmap_clear(cs_strmap *m, void (*free_value)(void *));

#endif
