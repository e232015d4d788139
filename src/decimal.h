/* decimal.h - exact fixed-point money and quantities.
 *
 * A cs_dec is a signed decimal with exactly CS_DEC_SCALE (12) fractional
 * digits, stored as a 128-bit integer count of 10^-12 units.  Magnitudes are
 * limited to 38 significant digits (|value| < 10^26), the same range as the
 * PostgreSQL column type NUMERIC(38,12) the store writes to, so every value
 * this module produces fits the database without loss.
 *
 * No binary floating point is used anywhere.  The only rounding happens in
 * cs_dec_mul() (round half to even at the 12th decimal) and in
 * cs_dec_round() (half to even at any coarser precision, used by reports).
 * All functions are pure and thread-safe.
 */
#ifndef CS_DECIMAL_H
#define CS_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__extension__ typedef __int128 cs_i128;
__extension__ typedef unsigned __int128 cs_u128;

#define CS_DEC_SCALE 12
/* Longest text cs_dec_format() writes, including the terminating NUL. */
#define CS_DEC_STRLEN 48

typedef struct cs_dec {
    cs_i128 raw; /* value * 10^12 */
} cs_dec;

static inline cs_dec cs_dec_zero(void) { return (cs_dec){0}; }

/* Returns the decimal equal to the integer v. */
cs_dec cs_dec_from_int(int64_t v);

/* Parses len bytes of s as a decimal: an optional sign, digits with an
 * optional '.' fraction and an optional exponent (e/E, optional sign,
 * digits), as JSON numbers and decimal strings write them.  No spaces.
 * Returns 0 and stores the value in *ret, or:
 *   -EINVAL  not a decimal number (includes "NaN", "Inf", empty text)
 *   -EDOM    more than 12 significant fractional digits (never rounded)
 *   -ERANGE  magnitude of 10^26 or more */
int cs_dec_parse(const char *s, size_t len, cs_dec *ret);

/* Like cs_dec_parse(), but digits beyond the 12th decimal are rounded half
 * to even instead of refused (for values that were binary floats at their
 * source, such as Prometheus samples).  -EINVAL or -ERANGE as above. */
int cs_dec_parse_round(const char *s, size_t len, cs_dec *ret);

/* *ret = d / divisor (divisor > 0), rounded half to even at the 12th
 * decimal.  Returns 0 or -EINVAL for a divisor <= 0. */
int cs_dec_div_int(cs_dec d, int64_t divisor, cs_dec *ret);

/* Writes d rounded half-even to places (0..12) fractional digits, always
 * with exactly that many digits after the point ("-1.50", "3").  Returns the
 * length written, or -ENOSPC if size is too small (CS_DEC_STRLEN always fits),
 * -EINVAL if places is out of range. */
int cs_dec_format(cs_dec d, int places, char *buf, size_t size);

/* *ret = a + b (or a - b).  Returns 0, or -ERANGE if the result is outside
 * the 38-digit range; *ret is untouched then. */
int cs_dec_add(cs_dec a, cs_dec b, cs_dec *ret);
int cs_dec_sub(cs_dec a, cs_dec b, cs_dec *ret);

/* *ret = a * b, rounded half to even at the 12th decimal: the one rounding
 * step of pricing (see docs/rounding.md).  Returns 0 or -ERANGE. */
int cs_dec_mul(cs_dec a, cs_dec b, cs_dec *ret);

/* Returns d rounded half to even to places (0..12) fractional digits. */
cs_dec cs_dec_round(cs_dec d, int places);

/* Returns <0, 0, >0 as a is less than, equal to or greater than b. */
int cs_dec_cmp(cs_dec a, cs_dec b);

/* PostgreSQL's binary NUMERIC (what numeric_send writes and COPY BINARY
 * reads) for d, with display scale 12: int16 ndigits, int16 weight, int16
 * sign (0 or 0x4000), int16 dscale, then ndigits base-10000 digits, all
 * big-endian, without leading or trailing zero digits.  Returns the length
 * (at most CS_DEC_PG_MAX bytes). */
#define CS_DEC_PG_MAX 40
size_t cs_dec_pg_numeric(cs_dec d, unsigned char *out);

static inline bool cs_dec_is_neg(cs_dec d) { return d.raw < 0; }
static inline bool cs_dec_is_zero(cs_dec d) { return d.raw == 0; }

/* True when d is within 38 digits, as every cs_dec this module makes is
 * (a raw value read from storage may not be). */
bool cs_dec_valid(cs_dec d);

#endif
