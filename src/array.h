/* array.h - growing a heap array by doubling.
 *
 * cs_array_reserve(&items, &cap, n, sizeof(*items)) makes room for at least
 * n elements, keeping the contents; on failure the array is untouched.
 * Pure, header-only.
 */
#ifndef CS_ARRAY_H
#define CS_ARRAY_H

#include <errno.h>
#include <stdlib.h>

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

#endif
