/* alloc.c - largest-remainder splits and roundings (see alloc.h). */
#include "alloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

__extension__ typedef unsigned __int128 u128;

typedef struct part {
    u128 rem; /* what was rounded away, in comparable units */
    size_t idx;
} part;

static int by_remainder(const void *a, const void *b)
{
    const part *x = a, *y = b;
    if (x->rem != y->rem)
        return x->rem > y->rem ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static cs_i128 unit_of(int places)
{
    cs_i128 u = 1;
    for (int i = places; i < CS_DEC_SCALE; i++)
        u *= 10;
    return u;
}

/* a x b = hi:lo (256 bits). */
static void mul_256(u128 a, u128 b, u128 *hi, u128 *lo)
{
    const u128 m = UINT64_MAX;
    u128 a0 = a & m, a1 = a >> 64, b0 = b & m, b1 = b >> 64;
    u128 p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    u128 mid = (p00 >> 64) + (p01 & m) + (p10 & m);
    *lo = (p00 & m) | (mid << 64);
    *hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
}

/* hi:lo / d (d > 0), by long division; the quotient must fit 128 bits
 * (hi < d), as it does here: it never exceeds the total. */
static u128 div_256(u128 hi, u128 lo, u128 d, u128 *rem)
{
    u128 q = 0, r = hi;
    for (int i = 127; i >= 0; i--) {
        int top = (int)(r >> 127);
        r = (r << 1) | ((lo >> i) & 1);
        q <<= 1;
        if (top || r >= d) {
            r -= d;
            q |= 1;
        }
    }
    *rem = r;
    return q;
}

/* Gives one more unit to the `left` parts with the largest remainders. */
static int hand_out(part *parts, size_t n, u128 left, cs_dec *ret, cs_i128 unit)
{
    if (n > 1)
        qsort(parts, n, sizeof(*parts), by_remainder);
    for (size_t i = 0; i < n && left > 0; i++, left--) {
        if (__builtin_add_overflow(ret[parts[i].idx].raw, unit, &ret[parts[i].idx].raw))
            return -ERANGE;
    }
    return 0;
}

int cs_alloc_split(cs_dec total, const cs_dec *weights, size_t n, int places, cs_dec *ret)
{
    if (places < 0 || places > CS_DEC_SCALE)
        return -EINVAL;
    cs_i128 unit = unit_of(places);
    if (total.raw % unit != 0)
        return -EINVAL;
    u128 w = 0, t = (u128)(total.raw < 0 ? -total.raw : total.raw) / (u128)unit;
    for (size_t i = 0; i < n; i++) {
        if (weights[i].raw < 0)
            return -EINVAL;
        if (__builtin_add_overflow(w, (u128)weights[i].raw, &w))
            return -ERANGE;
    }
    if (w == 0)
        return n == 0 && total.raw == 0 ? 0 : -EDOM;
    part *parts = malloc((n ? n : 1) * sizeof(*parts));
    if (!parts)
        return -ENOMEM;
    u128 given = 0;
    for (size_t i = 0; i < n; i++) {
        u128 hi, lo, rem;
        mul_256(t, (u128)weights[i].raw, &hi, &lo);
        u128 q = div_256(hi, lo, w, &rem);
        ret[i].raw = (cs_i128)q * unit;
        parts[i] = (part){rem, i};
        given += q;
    }
    int r = hand_out(parts, n, t - given, ret, unit);
    free(parts);
    if (r == 0 && total.raw < 0)
        for (size_t i = 0; i < n; i++)
            ret[i].raw = -ret[i].raw;
    return r;
}

/* Rounds every amount down to a unit (ret), keeping the remainders in
 * parts; *ret_sum and *ret_base are the exact sum and the sum of floors in
 * units. */
static int floors(const cs_dec *amounts, size_t n, cs_i128 unit, cs_dec *ret, part *parts,
                  cs_i128 *ret_sum, cs_i128 *ret_base)
{
    cs_i128 sum = 0, base = 0;
    for (size_t i = 0; i < n; i++) {
        cs_i128 a = amounts[i].raw, fl = a / unit;
        if (a % unit != 0 && a < 0)
            fl -= 1; /* toward minus infinity */
        ret[i].raw = fl * unit;
        parts[i] = (part){(u128)(a - ret[i].raw), i};
        if (__builtin_add_overflow(sum, a, &sum) || __builtin_add_overflow(base, fl, &base))
            return -ERANGE;
    }
    *ret_sum = sum;
    *ret_base = base;
    return 0;
}

/* target < 0: the exact sum rounded half to even. */
static int round_to(const cs_dec *amounts, size_t n, int places, const cs_dec *target,
                    cs_dec *ret)
{
    if (places < 0 || places > CS_DEC_SCALE)
        return -EINVAL;
    cs_i128 unit = unit_of(places), sum = 0, base = 0;
    if (target && target->raw % unit != 0)
        return -EINVAL;
    part *parts = malloc((n ? n : 1) * sizeof(*parts));
    if (!parts)
        return -ENOMEM;
    int r = floors(amounts, n, unit, ret, parts, &sum, &base);
    cs_i128 want = target ? target->raw / unit : cs_dec_round((cs_dec){sum}, places).raw / unit;
    size_t up = 0; /* amounts that can go up: those not already whole units */
    for (size_t i = 0; r == 0 && i < n; i++)
        up += parts[i].rem != 0;
    if (r == 0 && (want < base || want - base > (cs_i128)up))
        r = -EDOM;
    if (r == 0)
        r = hand_out(parts, n, (u128)(want - base), ret, unit);
    free(parts);
    return r;
}

int cs_alloc_round(const cs_dec *amounts, size_t n, int places, cs_dec *ret)
{
    return round_to(amounts, n, places, NULL, ret);
}

int cs_alloc_round_to(const cs_dec *amounts, size_t n, int places, cs_dec target, cs_dec *ret)
{
    return round_to(amounts, n, places, &target, ret);
}
