/* hash.h - a fast non-cryptographic hash of strings for in-memory tables.
 *
 * Eight bytes at a time (a multiply-xorshift step per word), then the
 * murmur3 finaliser, so that every input bit reaches the low bits a
 * power-of-two table uses.  Not for anything stored or compared across
 * processes, and not collision-resistant against chosen input: callers
 * compare keys on a hash match.  Pure, header-only.
 */
#ifndef CS_HASH_H
#define CS_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CS_HASH_SEED UINT64_C(0x9e3779b97f4a7c15)

/* Mixes n bytes at p into h. */
static inline uint64_t cs_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    const uint64_t k = UINT64_C(0xff51afd7ed558ccd);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * k;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t t = (uint64_t)n << 56; /* the length: "a" and "a\0" differ */
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)s[i] << (8 * i);
    h = (h ^ t) * k;
    return h ^ (h >> 32);
}

/* The murmur3 finaliser. */
static inline uint64_t cs_hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

/* The hash of a NUL-terminated string. */
static inline uint64_t cs_hash_str(const char *s)
{
    return cs_hash_final(cs_hash_bytes(CS_HASH_SEED, s, strlen(s)));
}

#endif
