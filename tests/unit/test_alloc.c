/* Unit tests for src/alloc.c: splits and roundings that add up exactly,
 * ties to the lower index, credits, huge amounts (256-bit products), the
 * error cases, and a randomised comparison with a reference computed in
 * plain 128-bit integers where the products fit. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static const char *fmt(cs_dec d, int places)
{
    static char buf[8][CS_DEC_STRLEN];
    static int k;
    k = (k + 1) % 8;
    cs_dec_format(d, places, buf[k], sizeof(buf[k]));
    return buf[k];
}

START_TEST(split_cents)
{
    cs_dec w[3] = {D("1"), D("1"), D("1")}, out[3];
    ck_assert_int_eq(cs_alloc_split(D("100"), w, 3, 2, out), 0);
    ck_assert_str_eq(fmt(out[0], 2), "33.34"); /* the tie goes to the lower index */
    ck_assert_str_eq(fmt(out[1], 2), "33.33");
    ck_assert_str_eq(fmt(out[2], 2), "33.33");
    /* 60 % / 40 % of a credit, to the last stored digit */
    cs_dec w2[2] = {D("0.6"), D("0.4")}, out2[2];
    ck_assert_int_eq(cs_alloc_split(D("-10.000000000001"), w2, 2, 12, out2), 0);
    ck_assert_str_eq(fmt(out2[0], 12), "-6.000000000001");
    ck_assert_str_eq(fmt(out2[1], 12), "-4.000000000000");
    /* the largest remainder wins, not the largest weight */
    cs_dec w3[3] = {D("5"), D("3"), D("2")}, out3[3];
    ck_assert_int_eq(cs_alloc_split(D("0.07"), w3, 3, 2, out3), 0);
    ck_assert_str_eq(fmt(out3[0], 2), "0.04"); /* 0.035 */
    ck_assert_str_eq(fmt(out3[1], 2), "0.02"); /* 0.021 */
    ck_assert_str_eq(fmt(out3[2], 2), "0.01"); /* 0.014 */
}
END_TEST

START_TEST(split_errors_and_extremes)
{
    cs_dec zero[2] = {D("0"), D("0")}, neg[2] = {D("1"), D("-1")}, out[3];
    ck_assert_int_eq(cs_alloc_split(D("1"), zero, 2, 2, out), -EDOM);
    ck_assert_int_eq(cs_alloc_split(D("1"), neg, 2, 2, out), -EINVAL);
    ck_assert_int_eq(cs_alloc_split(D("0.001"), zero, 2, 2, out), -EINVAL);
    ck_assert_int_eq(cs_alloc_split(D("1"), zero, 2, 13, out), -EINVAL);
    /* nearly 10^26 split by weights near 10^25: the products need 256 bits */
    cs_dec big[3] = {D("9999999999999999999999999"), D("3333333333333333333333333"), D("0.000000000001")};
    cs_dec total = D("99999999999999999999999999.999999999999");
    ck_assert_int_eq(cs_alloc_split(total, big, 3, 12, out), 0);
    cs_dec s = cs_dec_zero();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(cs_dec_add(s, out[i], &s), 0);
    ck_assert_int_eq(cs_dec_cmp(s, total), 0);
    /* as Python's decimal computes at 120 digits: floors ...993, ...997 and
     * 0.000000000007, the two units left to the remainders .875 and .625 */
    ck_assert_str_eq(fmt(out[0], 12), "74999999999999999999999999.999999999994");
    ck_assert_str_eq(fmt(out[1], 12), "24999999999999999999999999.999999999998");
    ck_assert_str_eq(fmt(out[2], 12), "0.000000000007");
}
END_TEST

START_TEST(rounding_adds_up)
{
    /* 218 lines of 0.004: each alone rounds to 0.00, together 0.872 -> 0.87 */
    enum { N = 218 };
    cs_dec a[N], out[N];
    for (int i = 0; i < N; i++)
        a[i] = D("0.004");
    ck_assert_int_eq(cs_alloc_round(a, N, 2, out), 0);
    cs_dec s = cs_dec_zero();
    int cents = 0;
    for (int i = 0; i < N; i++) {
        cs_dec_add(s, out[i], &s);
        cents += cs_dec_cmp(out[i], cs_dec_zero()) > 0;
    }
    ck_assert_str_eq(fmt(s, 2), "0.87");
    ck_assert_int_eq(cents, 87); /* the first 87 lines (equal remainders) */
    ck_assert_str_eq(fmt(out[0], 2), "0.01");
    ck_assert_str_eq(fmt(out[N - 1], 2), "0.00");
    /* negative amounts (credits) and a half-even total */
    cs_dec b[3] = {D("-1.005"), D("2.0051"), D("0.0049")}, ob[3];
    ck_assert_int_eq(cs_alloc_round(b, 3, 2, ob), 0); /* sum 1.005 -> 1.00 */
    ck_assert_str_eq(fmt(ob[0], 2), "-1.01");
    ck_assert_str_eq(fmt(ob[1], 2), "2.01");
    ck_assert_str_eq(fmt(ob[2], 2), "0.00");
}
END_TEST

/* Rounding to a subtotal chosen above: floor or ceiling of each amount,
 * adding up to the target; a target out of reach is refused. */
START_TEST(rounding_to_a_target)
{
    cs_dec a[3] = {D("0.334"), D("0.333"), D("0.333")}, out[3];
    /* exact 1.000; a level above gave this group 0.99 */
    ck_assert_int_eq(cs_alloc_round_to(a, 3, 2, D("0.99"), out), 0);
    ck_assert_str_eq(fmt(out[0], 2), "0.33");
    ck_assert_str_eq(fmt(out[1], 2), "0.33");
    ck_assert_str_eq(fmt(out[2], 2), "0.33");
    ck_assert_int_eq(cs_alloc_round_to(a, 3, 2, D("1.01"), out), 0); /* largest remainders up */
    ck_assert_str_eq(fmt(out[0], 2), "0.34");
    ck_assert_str_eq(fmt(out[1], 2), "0.34"); /* a tie with out[2]: the lower index */
    ck_assert_str_eq(fmt(out[2], 2), "0.33");
    ck_assert_int_eq(cs_alloc_round_to(a, 3, 2, D("1.02"), out), 0); /* every one up */
    cs_dec whole[2] = {D("0.50"), D("0.25")};
    ck_assert_int_eq(cs_alloc_round_to(whole, 2, 2, D("0.76"), out), -EDOM); /* nothing to round up */
    ck_assert_int_eq(cs_alloc_round_to(a, 3, 2, D("0.98"), out), -EDOM); /* below the floors */
    ck_assert_int_eq(cs_alloc_round_to(a, 3, 2, D("1.03"), out), -EDOM); /* above the ceilings */
    ck_assert_int_eq(cs_alloc_round_to(a, 3, 2, D("1.005"), out), -EINVAL); /* not whole cents */
    srand(7); /* random groups: every amount goes down or up, the sum is the target */
    for (int round = 0; round < 5000; round++) {
        size_t n = 1 + (size_t)(rand() % 12);
        cs_dec v[12], o[12];
        cs_i128 floors = 0, ceils = 0;
        for (size_t i = 0; i < n; i++) {
            v[i].raw = (cs_i128)(rand() % 2000000 - 500000) * 1000000;
            cs_i128 f = v[i].raw / 10000000000;
            if (v[i].raw % 10000000000 && v[i].raw < 0)
                f--;
            floors += f;
            ceils += f + (v[i].raw % 10000000000 != 0);
        }
        cs_i128 t = floors + rand() % (int)(ceils - floors + 1);
        ck_assert_int_eq(cs_alloc_round_to(v, n, 2, (cs_dec){t * 10000000000}, o), 0);
        cs_i128 sum = 0;
        for (size_t i = 0; i < n; i++) {
            cs_i128 d = o[i].raw - v[i].raw;
            ck_assert(d > -10000000000 && d < 10000000000);
            sum += o[i].raw;
        }
        ck_assert(sum == t * 10000000000);
    }
}
END_TEST

/* Randomised: shares equal the exact quotient rounded down or up by one
 * unit, add up to the total, and match a plain 128-bit reference. */
START_TEST(split_random)
{
    srand(42);
    for (int round = 0; round < 20000; round++) {
        size_t n = 1 + (size_t)(rand() % 9);
        cs_dec w[9], out[9];
        cs_i128 wsum = 0;
        for (size_t i = 0; i < n; i++) {
            w[i].raw = (cs_i128)(rand() % 1000000) * (rand() % 3 ? 1 : 1000);
            wsum += w[i].raw;
        }
        int places = rand() % 13;
        cs_i128 unit = 1;
        for (int i = places; i < 12; i++)
            unit *= 10;
        cs_dec total = {(cs_i128)(rand() % 2000000 - 1000000) * unit};
        int r = cs_alloc_split(total, w, n, places, out);
        if (wsum == 0) {
            ck_assert_int_eq(r, -EDOM);
            continue;
        }
        ck_assert_int_eq(r, 0);
        cs_i128 s = 0, t = total.raw < 0 ? -total.raw : total.raw, given = 0;
        for (size_t i = 0; i < n; i++) {
            cs_i128 exact_units = (t / unit) * w[i].raw / wsum; /* fits: < 2^63 * 2^40 */
            cs_i128 got = (total.raw < 0 ? -out[i].raw : out[i].raw) / unit;
            ck_assert(got == exact_units || got == exact_units + 1);
            given += got - exact_units;
            s += out[i].raw;
        }
        ck_assert(s == total.raw);
        ck_assert(given < (cs_i128)n);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, split_cents);
    tcase_add_test(tc, split_errors_and_extremes);
    tcase_add_test(tc, rounding_adds_up);
    tcase_add_test(tc, rounding_to_a_target);
    tcase_add_test(tc, split_random);
    suite_add_tcase(s, tc);
    return s;
}
