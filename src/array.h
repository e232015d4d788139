/* array.h - growing a heap array by doubling.
 *
 * cs_array_reserve(&items, &cap, n, sizeof(*items)) makes room for at least
 * n elements, keeping the contents; on failure the array is untouched.
 * cs_strings_pack() copies several strings into one allocation.
 * Pure, header-only.
 */
#ifndef CS_ARRAY_H
#define CS_ARRAY_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Returns 0 with *items holding room for n elements (*cap updated), or
 * -ENOMEM with both untouched.  *items may be NULL with *cap 0. */
static inline int cs_array_reserve(void *items, size_t *cap, size_t n, size_t elem_size)
{
    void **p = items;
    if (n <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < n)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem_size);
    if (!np)
        return -ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

#define CS_STRINGS_PACK_MAX 16

/* Copies the n (at most CS_STRINGS_PACK_MAX) strings src (NULL allowed:
 * stays NULL) into one new block, ret[i] pointing at each copy.  Returns
 * the block (the caller frees it, and with it every copy), or NULL on
 * ENOMEM or too many strings. */
static inline char *cs_strings_pack(const char *const *src, size_t n, const char **ret)
{
    size_t len[CS_STRINGS_PACK_MAX], total = 1;
    if (n > CS_STRINGS_PACK_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++)
        total += (len[i] = src[i] ? strlen(src[i]) + 1 : 0);
    char *block = malloc(total), *p = block;
    for (size_t i = 0; block && i < n; i++) {
        ret[i] = src[i] ? memcpy(p, src[i], len[i]) : NULL;
        p += len[i];
    }
    return block;
}

#endif
