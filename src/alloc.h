/* alloc.h - exact splits of money by largest remainder (pure).
 *
 * Two operations that every amount costream divides or rounds goes through,
 * so that parts always add up to the whole, to the last digit:
 *
 * split   divides a total over n shares in proportion to non-negative
 *         weights (usage, or fixed weights), at a precision of `places`
 *         decimals (0 to 12): each share is first rounded down to that unit,
 *         then the units left over go one each to the shares with the
 *         largest remainders (Hamilton's method), ties to the lower index.
 *         The shares add up to the total exactly; the same inputs always
 *         give the same shares.  Products total x weight are computed in
 *         256 bits, so no intermediate overflows.
 *
 * round   rounds n exact amounts to `places` decimals so that the rounded
 *         amounts add up to the exact sum rounded half to even (once), or
 *         to a target the caller rounded at a level above: each amount is
 *         rounded down, then the units left over go to the largest
 *         remainders, ties to the lower index.  Used for cents on reports.
 *
 * Negative totals (credits) split like positive ones, with every share's
 * sign flipped.  Not thread-safe per call arguments; no global state.
 */
#ifndef CS_ALLOC_H
#define CS_ALLOC_H

#include <stddef.h>

#include "decimal.h"

/* ret[i] = the share of total for weights[i].  0; -EINVAL (places outside
 * 0..12, total not a whole number of units, a negative weight); -EDOM (all
 * weights zero: nothing to split by; the caller decides, e.g. unallocated);
 * -ERANGE (the weights' sum overflows); -ENOMEM. */
int cs_alloc_split(cs_dec total, const cs_dec *weights, size_t n, int places, cs_dec *ret);

/* ret[i] = amounts[i] rounded to places so that sum(ret) equals
 * round_half_even(sum(amounts), places).  0, -EINVAL, -ERANGE or -ENOMEM. */
int cs_alloc_round(const cs_dec *amounts, size_t n, int places, cs_dec *ret);

/* As cs_alloc_round(), but the rounded amounts add up to target, a whole
 * number of units that the caller chose (a subtotal that a level above
 * already rounded): every amount is rounded down or up, never further.
 * 0; -EDOM when target is below the sum of the amounts rounded down or
 * above the sum of the amounts rounded up; -EINVAL, -ERANGE or -ENOMEM. */
int cs_alloc_round_to(const cs_dec *amounts, size_t n, int places, cs_dec target, cs_dec *ret);

#endif
