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
