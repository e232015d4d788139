/* decimal.c - exact fixed-point decimals (see decimal.h for the contract).
 *
 * Values are 128-bit integers counting 10^-12 units.  Parsing works on the
 * digits of the text directly, so "0.1" is exactly 10^11 units and never
 * passes through a double.  Multiplication splits both operands into integer
 * and fractional parts so that no intermediate product can exceed 128 bits
 * for any pair of operands whose exact product is in range.
 */
#include "decimal.h"

#include <errno.h>
#include <string.h>

#define SCALE_POW ((cs_u128)1000000000000ULL) /* 10^12 */

/* 10^38 - 1: the largest magnitude, in raw units (38 digits). */
/* 10^38 - 1, the largest magnitude (38 digits), as a constant: computing it
 * was a tenth of the cost of pricing and aggregating an event. */
static inline cs_u128 dec_max(void)
{
    return ((cs_u128)UINT64_C(0x4b3b4ca85a86c47a) << 64) | UINT64_C(0x098a223fffffffff);
}

bool cs_dec_valid(cs_dec d)
{
    cs_u128 mag = d.raw < 0 ? (cs_u128)0 - (cs_u128)d.raw : (cs_u128)d.raw;
    return mag <= dec_max();
}

static cs_u128 pow10_u128(int n)
{
    cs_u128 v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

static cs_u128 dec_abs(cs_i128 v)
{
    return v < 0 ? (cs_u128)0 - (cs_u128)v : (cs_u128)v;
}

static int dec_from_mag(cs_u128 mag, bool neg, cs_dec *ret)
{
    if (mag > dec_max())
        return -ERANGE;
    ret->raw = neg ? -(cs_i128)mag : (cs_i128)mag;
    return 0;
}

cs_dec cs_dec_from_int(int64_t v)
{
    return (cs_dec){(cs_i128)v * (cs_i128)SCALE_POW};
}

/* Appends one digit to mag; leading zeros add nothing.  Returns -ERANGE
 * when more than 39 significant digits would be held. */
static int append_digit(cs_u128 *mag, int *digits, int d)
{
    if (*mag == 0 && d == 0)
        return 0;
    if (++*digits > 39)
        return -ERANGE;
    *mag = *mag * 10 + (cs_u128)d;
    return 0;
}

static int parse(const char *s, size_t len, bool round, cs_dec *ret);

int cs_dec_parse(const char *s, size_t len, cs_dec *ret)
{
    return parse(s, len, false, ret);
}

int cs_dec_parse_round(const char *s, size_t len, cs_dec *ret)
{
    return parse(s, len, true, ret);
}

static int parse(const char *s, size_t len, bool round, cs_dec *ret)
{
    size_t i = 0;
    bool neg = false, any = false;
    cs_u128 mag = 0;
    int digits = 0, frac = 0, pending_zeros = 0, r;

    if (!s || len == 0)
        return -EINVAL;
    if (s[i] == '-' || s[i] == '+') {
        neg = s[i] == '-';
        i++;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        any = true;
        if ((r = append_digit(&mag, &digits, s[i] - '0')) < 0)
            return r;
    }
    if (i < len && s[i] == '.') {
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            any = true;
            if (s[i] == '0') {
                pending_zeros++; /* trailing zeros never count */
                continue;
            }
            for (; pending_zeros > 0; pending_zeros--, frac++)
                if ((r = append_digit(&mag, &digits, 0)) < 0)
                    return r;
            if ((r = append_digit(&mag, &digits, s[i] - '0')) < 0)
                return r;
            if (++frac > 80)
                return round ? -ERANGE : -EDOM;
        }
    }
    if (!any)
        return -EINVAL;
    long exp = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '-' || s[i] == '+')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= len || s[i] < '0' || s[i] > '9')
            return -EINVAL;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (exp < 100000)
                exp = exp * 10 + (s[i] - '0');
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return -EINVAL;
    if (mag == 0) {
        ret->raw = 0;
        return 0;
    }
    /* value = mag * 10^(exp - frac); raw units = mag * 10^(12 + exp - frac) */
    long shift = CS_DEC_SCALE + exp - frac;
    if (shift < 0) {
        if (shift < -39) {
            if (!round)
                return -EDOM;
            ret->raw = 0; /* far below 10^-12: rounds to zero */
            return 0;
        }
        cs_u128 p = pow10_u128((int)-shift);
        if (mag % p != 0 && !round)
            return -EDOM;
        cs_u128 q = mag / p, rem = mag % p, half = p / 2;
        if (rem > half || (rem == half && (p % 2 == 0) && (q & 1)))
            q++;
        mag = q;
    } else {
        if (shift > 38)
            return -ERANGE;
        cs_u128 p = pow10_u128((int)shift);
        if (mag > dec_max() / p)
            return -ERANGE;
        mag *= p;
    }
    return dec_from_mag(mag, neg, ret);
}

/* Divides mag by 10^n (0 < n <= 12), rounding half to even. */
static cs_u128 div_round_half_even(cs_u128 mag, int n)
{
    cs_u128 p = pow10_u128(n);
    cs_u128 q = mag / p, r = mag % p, half = p / 2;
    if (r > half || (r == half && (q & 1)))
        q++;
    return q;
}

int cs_dec_div_int(cs_dec d, int64_t divisor, cs_dec *ret)
{
    if (divisor <= 0)
        return -EINVAL;
    cs_u128 mag = dec_abs(d.raw), dv = (cs_u128)divisor;
    cs_u128 q = mag / dv, r = mag % dv;
    /* half to even: compare 2r with the divisor */
    if (2 * r > dv || (2 * r == dv && (q & 1)))
        q++;
    ret->raw = d.raw < 0 ? -(cs_i128)q : (cs_i128)q;
    return 0;
}

cs_dec cs_dec_round(cs_dec d, int places)
{
    if (places >= CS_DEC_SCALE || places < 0)
        return d;
    int n = CS_DEC_SCALE - places;
    cs_u128 mag = div_round_half_even(dec_abs(d.raw), n) * pow10_u128(n);
    return (cs_dec){d.raw < 0 ? -(cs_i128)mag : (cs_i128)mag};
}

int cs_dec_format(cs_dec d, int places, char *buf, size_t size)
{
    char tmp[CS_DEC_STRLEN];
    char *p = tmp + sizeof(tmp);

    if (places < 0 || places > CS_DEC_SCALE)
        return -EINVAL;
    cs_u128 mag = dec_abs(d.raw);
    if (places < CS_DEC_SCALE)
        mag = div_round_half_even(mag, CS_DEC_SCALE - places);
    *--p = '\0';
    for (int i = 0; i < places; i++) {
        *--p = (char)('0' + (int)(mag % 10));
        mag /= 10;
    }
    if (places > 0)
        *--p = '.';
    do {
        *--p = (char)('0' + (int)(mag % 10));
        mag /= 10;
    } while (mag != 0);
    /* a negative value that rounds to zero prints as zero, not "-0" */
    bool allzero = true;
    for (const char *q = p; *q; q++)
        if (*q != '0' && *q != '.')
            allzero = false;
    if (d.raw < 0 && !allzero)
        *--p = '-';
    size_t n = (size_t)(tmp + sizeof(tmp) - 1 - p);
    if (n + 1 > size)
        return -ENOSPC;
    memcpy(buf, p, n + 1);
    return (int)n;
}

int cs_dec_add(cs_dec a, cs_dec b, cs_dec *ret)
{
    cs_i128 r;
    if (__builtin_add_overflow(a.raw, b.raw, &r))
        return -ERANGE;
    if (dec_abs(r) > dec_max())
        return -ERANGE;
    ret->raw = r;
    return 0;
}

int cs_dec_sub(cs_dec a, cs_dec b, cs_dec *ret)
{
    return cs_dec_add(a, (cs_dec){-b.raw}, ret);
}

int cs_dec_mul(cs_dec a, cs_dec b, cs_dec *ret)
{
    bool neg = (a.raw < 0) != (b.raw < 0);
    cs_u128 A = dec_abs(a.raw), B = dec_abs(b.raw);
    if ((A >> 64) == 0 && (B >> 64) == 0) {
        /* both below 2^64 (quantities and prices of up to 7 integer
         * digits): the product fits in 128 bits, one division instead of
         * five; the same quotient and remainder as below */
        cs_u128 p = A * B, sum = p / SCALE_POW, rem = p - sum * SCALE_POW;
        if (rem > SCALE_POW / 2 || (rem == SCALE_POW / 2 && (sum & 1)))
            sum++;
        return dec_from_mag(sum, neg && sum != 0, ret);
    }
    cs_u128 ah = A / SCALE_POW, al = A % SCALE_POW;
    cs_u128 bh = B / SCALE_POW, bl = B % SCALE_POW;
    cs_u128 t1, t2, t3, sum;

    /* A*B/S = ah*bh*S + ah*bl + al*bh + al*bl/S */
    if (__builtin_mul_overflow(ah, bh, &t1) ||
        __builtin_mul_overflow(t1, SCALE_POW, &t1) ||
        __builtin_mul_overflow(ah, bl, &t2) ||
        __builtin_mul_overflow(al, bh, &t3))
        return -ERANGE;
    cs_u128 t4 = al * bl; /* < 10^24 */
    cs_u128 q = t4 / SCALE_POW, r = t4 % SCALE_POW, half = SCALE_POW / 2;
    if (__builtin_add_overflow(t1, t2, &sum) ||
        __builtin_add_overflow(sum, t3, &sum) ||
        __builtin_add_overflow(sum, q, &sum))
        return -ERANGE;
    if (r > half || (r == half && (sum & 1)))
        sum++;
    if (sum == 0)
        neg = false;
    return dec_from_mag(sum, neg, ret);
}

int cs_dec_cmp(cs_dec a, cs_dec b)
{
    return a.raw < b.raw ? -1 : a.raw > b.raw ? 1 : 0;
}

static unsigned char *be16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
    return p + 2;
}

size_t cs_dec_pg_numeric(cs_dec d, unsigned char *out)
{
    const cs_u128 unit = (cs_u128)1000000000000ULL;
    cs_u128 a = d.raw < 0 ? (cs_u128)0 - (cs_u128)d.raw : (cs_u128)d.raw;
    cs_u128 ip = a / unit;
    uint64_t fp = (uint64_t)(a % unit);
    unsigned ig[12], digits[16];
    int ni = 0, n = 0;
    while (ip) {
        ig[ni++] = (unsigned)(ip % 10000);
        ip /= 10000;
    }
    for (int i = ni - 1; i >= 0; i--)
        digits[n++] = ig[i];
    digits[n++] = (unsigned)(fp / 100000000ULL);
    digits[n++] = (unsigned)(fp / 10000ULL % 10000ULL);
    digits[n++] = (unsigned)(fp % 10000ULL);
    int weight = ni - 1, first = 0;
    while (first < n && digits[first] == 0) {
        first++;
        weight--;
    }
    while (n > first && digits[n - 1] == 0)
        n--;
    int ndigits = n - first;
    unsigned char *p = out;
    p = be16(p, (unsigned)ndigits);
    p = be16(p, ndigits ? (unsigned)(uint16_t)(int16_t)weight : 0);
    p = be16(p, ndigits && d.raw < 0 ? 0x4000 : 0);
    p = be16(p, CS_DEC_SCALE);
    for (int i = first; i < n; i++)
        p = be16(p, digits[i]);
    return (size_t)(p - out);
}
