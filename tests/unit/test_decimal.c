/* Unit tests for src/decimal.c: parsing, formatting, arithmetic, rounding
 * and overflow, with a randomised cross-check of cs_dec_mul against a direct
 * 128-bit computation for operands small enough to multiply exactly. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "decimal.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    int r = cs_dec_parse(s, strlen(s), &d);
    ck_assert_msg(r == 0, "parse %s: %d", s, r);
    return d;
}

static const char *F(cs_dec d, int places)
{
    static char buf[8][CS_DEC_STRLEN];
    static int i;
    char *b = buf[i++ % 8];
    ck_assert_int_gt(cs_dec_format(d, places, b, CS_DEC_STRLEN), 0);
    return b;
}

START_TEST(parse_exact)
{
    ck_assert(D("0.1").raw == (cs_i128)100000000000LL);
    ck_assert(D("1").raw == (cs_i128)1000000000000LL);
    ck_assert(D("-2.5").raw == -(cs_i128)2500000000000LL);
    ck_assert(D("0.000000000001").raw == 1);
    ck_assert(D("1e-12").raw == 1);
    ck_assert(D("1.5E3").raw == (cs_i128)1500 * 1000000000000LL);
    ck_assert(D("+7").raw == (cs_i128)7000000000000LL);
    ck_assert(D("0.10000000000000000000000").raw == (cs_i128)100000000000LL);
    ck_assert(D("00012.50").raw == (cs_i128)12500000000000LL);
    ck_assert(D("100e-14").raw == 1);
}
END_TEST

START_TEST(parse_errors)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse("", strlen(""), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse("NaN", strlen("NaN"), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse("+Inf", strlen("+Inf"), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse("1.2.3", strlen("1.2.3"), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse("1e", strlen("1e"), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse(" 1", strlen(" 1"), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse("-", strlen("-"), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse("0x10", strlen("0x10"), &d), -EINVAL);
    ck_assert_int_eq(cs_dec_parse("0.0000000000001", strlen("0.0000000000001"), &d), -EDOM);
    ck_assert_int_eq(cs_dec_parse("1e-13", strlen("1e-13"), &d), -EDOM);
    ck_assert_int_eq(cs_dec_parse("1e26", strlen("1e26"), &d), -ERANGE);
    ck_assert_int_eq(cs_dec_parse("100000000000000000000000000", strlen("100000000000000000000000000"), &d), -ERANGE);
    ck_assert_int_eq(cs_dec_parse("99999999999999999999999999.999999999999", strlen("99999999999999999999999999.999999999999"), &d), 0);
    ck_assert_int_eq(cs_dec_parse("-99999999999999999999999999.9999999999999", strlen("-99999999999999999999999999.9999999999999"), &d), -EDOM);
    ck_assert_int_eq(cs_dec_parse("9999999999999999999999999.999999999999", strlen("9999999999999999999999999.999999999999"), &d), 0);
}
END_TEST

START_TEST(format_and_round)
{
    ck_assert_str_eq(F(D("1.5"), 12), "1.500000000000");
    ck_assert_str_eq(F(D("1.5"), 0), "2");
    ck_assert_str_eq(F(D("2.5"), 0), "2");       /* half to even */
    ck_assert_str_eq(F(D("-2.5"), 0), "-2");
    ck_assert_str_eq(F(D("0.125"), 2), "0.12");
    ck_assert_str_eq(F(D("0.135"), 2), "0.14");
    ck_assert_str_eq(F(D("0.1251"), 2), "0.13");
    ck_assert_str_eq(F(D("-0.001"), 2), "0.00");  /* no negative zero */
    ck_assert_str_eq(F(D("-0.006"), 2), "-0.01");
    ck_assert_str_eq(F(cs_dec_round(D("2.675"), 2), 12), "2.680000000000");
    char small[4];
    ck_assert_int_eq(cs_dec_format(D("1234.5"), 2, small, sizeof(small)), -ENOSPC);
}
END_TEST

START_TEST(arithmetic)
{
    cs_dec r;
    ck_assert_int_eq(cs_dec_add(D("0.1"), D("0.2"), &r), 0);
    ck_assert(cs_dec_cmp(r, D("0.3")) == 0); /* exact, unlike binary floats */
    ck_assert_int_eq(cs_dec_sub(D("1"), D("1.000000000001"), &r), 0);
    ck_assert(r.raw == -1);
    ck_assert_int_eq(cs_dec_mul(D("3"), D("0.0000035"), &r), 0);
    ck_assert_str_eq(F(r, 12), "0.000010500000");
    ck_assert_int_eq(cs_dec_mul(D("-4"), D("0.25"), &r), 0);
    ck_assert_str_eq(F(r, 12), "-1.000000000000");
    /* rounding at the 12th decimal: half to even */
    ck_assert_int_eq(cs_dec_mul(D("0.000000000001"), D("0.5"), &r), 0);
    ck_assert(r.raw == 0);
    ck_assert_int_eq(cs_dec_mul(D("0.000000000003"), D("0.5"), &r), 0);
    ck_assert(r.raw == 2);
    ck_assert_int_eq(cs_dec_mul(D("0.000000000005"), D("0.5"), &r), 0);
    ck_assert(r.raw == 2);
    ck_assert_int_eq(cs_dec_mul(D("0.000000000005"), D("0.50001"), &r), 0);
    ck_assert(r.raw == 3);
    ck_assert_int_eq(cs_dec_mul(D("-0.000000000003"), D("0.5"), &r), 0);
    ck_assert(r.raw == -2);
    /* both sides of the fast path (operands below 2^64 units): expected
     * values from Python's Decimal, rounded half to even */
    ck_assert_int_eq(cs_dec_mul(D("18446744.073709551615"), D("18446744.073709551615"), &r), 0);
    ck_assert_str_eq(F(r, 12), "340282366920938.463426481119");
    ck_assert_int_eq(cs_dec_mul(D("18446744.073709551616"), D("0.000000000001"), &r), 0);
    ck_assert_str_eq(F(r, 12), "0.000018446744");
    ck_assert_int_eq(cs_dec_mul(D("-0.0000025"), D("0.000001"), &r), 0);
    ck_assert_str_eq(F(r, 12), "-0.000000000002");
    ck_assert_int_eq(cs_dec_mul(D("1234.5"), D("0.000015"), &r), 0);
    ck_assert_str_eq(F(r, 12), "0.018517500000");
    /* large but in range: 10^13 * 10^12 = 10^25 */
    ck_assert_int_eq(cs_dec_mul(D("10000000000000"), D("1000000000000"), &r), 0);
    ck_assert_str_eq(F(r, 0), "10000000000000000000000000");
    /* overflow */
    ck_assert_int_eq(cs_dec_mul(D("100000000000000"), D("1000000000000"), &r), -ERANGE);
    ck_assert_int_eq(cs_dec_add(D("9999999999999999999999999"), D("9999999999999999999999999"), &r), 0);
    ck_assert_int_eq(cs_dec_add(D("99999999999999999999999999") , D("1"), &r), -ERANGE);
}
END_TEST

START_TEST(parse_round_and_divide)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse_round("0.1234567890125", 15, &d), 0);
    ck_assert(d.raw == 123456789012LL); /* ...0125 → ...012 (half to even) */
    ck_assert_int_eq(cs_dec_parse_round("0.1234567890135", 15, &d), 0);
    ck_assert(d.raw == 123456789014LL);
    ck_assert_int_eq(cs_dec_parse_round("1e-20", 5, &d), 0);
    ck_assert(d.raw == 0);
    ck_assert_int_eq(cs_dec_parse_round("NaN", 3, &d), -EINVAL);
    cs_dec r;
    ck_assert_int_eq(cs_dec_div_int(D("1"), 3, &r), 0);
    ck_assert_str_eq(F(r, 12), "0.333333333333");
    ck_assert_int_eq(cs_dec_div_int(D("2"), 3, &r), 0);
    ck_assert_str_eq(F(r, 12), "0.666666666667");
    ck_assert_int_eq(cs_dec_div_int(D("0.000000000005"), 2, &r), 0); /* 2.5e-12 → 2e-12 */
    ck_assert(r.raw == 2);
    ck_assert_int_eq(cs_dec_div_int(D("0.000000000007"), 2, &r), 0); /* 3.5e-12 → 4e-12 */
    ck_assert(r.raw == 4);
    ck_assert_int_eq(cs_dec_div_int(D("-7200"), 3600, &r), 0);
    ck_assert_str_eq(F(r, 0), "-2");
    ck_assert_int_eq(cs_dec_div_int(D("1"), 0, &r), -EINVAL);
}
END_TEST

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Independent reference: for |a|,|b| < 2^62 the exact product fits in 128
 * bits, so divide once and round half to even by hand. */
static cs_i128 ref_mul(cs_i128 a, cs_i128 b)
{
    cs_i128 p = a * b, s = 1000000000000LL;
    int neg = p < 0;
    if (neg)
        p = -p;
    cs_i128 q = p / s, rem = p % s;
    if (rem * 2 > s || (rem * 2 == s && (q % 2) == 1))
        q++;
    return neg ? -q : q;
}

START_TEST(mul_random_cross_check)
{
    uint64_t s = 0x1234567887654321ULL;
    for (int i = 0; i < 200000; i++) {
        int shift_a = (int)(rnd(&s) % 62), shift_b = (int)(rnd(&s) % 62);
        cs_dec a = {(cs_i128)(rnd(&s) >> (2 + shift_a))};
        cs_dec b = {(cs_i128)(rnd(&s) >> (2 + shift_b))};
        if (rnd(&s) & 1)
            a.raw = -a.raw;
        if (rnd(&s) & 1)
            b.raw = -b.raw;
        cs_dec r;
        cs_i128 want = ref_mul(a.raw, b.raw);
        int rc = cs_dec_mul(a, b, &r);
        cs_u128 mag = want < 0 ? (cs_u128)-want : (cs_u128)want;
        cs_u128 max = 1;
        for (int k = 0; k < 38; k++)
            max *= 10;
        if (mag >= max) {
            ck_assert_int_eq(rc, -ERANGE);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_msg(r.raw == want, "case %d", i);
        }
    }
}
END_TEST

START_TEST(format_parse_roundtrip)
{
    uint64_t s = 42;
    for (int i = 0; i < 100000; i++) {
        cs_dec d = {(cs_i128)(rnd(&s) >> (rnd(&s) % 60))};
        if (rnd(&s) & 1)
            d.raw = -d.raw * (cs_i128)(rnd(&s) % 1000000);
        char buf[CS_DEC_STRLEN];
        int n = cs_dec_format(d, 12, buf, sizeof(buf));
        cs_dec back;
        ck_assert_int_eq(cs_dec_parse(buf, (size_t)n, &back), 0);
        ck_assert(back.raw == d.raw);
    }
}
END_TEST

/* Reads PostgreSQL's binary NUMERIC back into decimal text, the way
 * numeric_recv and numeric_out would: digits times 10000^(weight - i). */
static void pg_numeric_text(const unsigned char *b, size_t len, char *out, size_t size)
{
    int nd = b[0] << 8 | b[1], weight = (int16_t)(b[2] << 8 | b[3]), sign = b[4] << 8 | b[5];
    int dscale = b[6] << 8 | b[7];
    ck_assert_int_eq((int)len, 8 + 2 * nd);
    ck_assert_int_eq(dscale, 12);
    ck_assert(sign == 0 || sign == 0x4000);
    /* integer part digits, then 12 fraction digits */
    char ip[64] = "", fr[13] = "000000000000";
    for (int g = weight; g >= 0; g--) {
        int k = weight - g, d = k < nd ? (b[8 + 2 * k] << 8 | b[9 + 2 * k]) : 0;
        ck_assert_int_lt(d, 10000);
        char t[8];
        snprintf(t, sizeof(t), ip[0] ? "%04d" : "%d", d);
        strcat(ip, t);
    }
    for (int g = -1; g >= -3; g--) {
        int k = weight - g, d = k >= 0 && k < nd ? (b[8 + 2 * k] << 8 | b[9 + 2 * k]) : 0;
        char t[8];
        snprintf(t, sizeof(t), "%04d", d);
        memcpy(fr + 4 * (-g - 1), t, 4);
    }
    if (nd) { /* no leading or trailing zero digits */
        ck_assert_int_ne(b[8] << 8 | b[9], 0);
        ck_assert_int_ne(b[8 + 2 * (nd - 1)] << 8 | b[9 + 2 * (nd - 1)], 0);
    }
    snprintf(out, size, "%s%s.%s", sign ? "-" : "", ip[0] ? ip : "0", fr);
}

START_TEST(pg_binary_numeric)
{
    unsigned char b[CS_DEC_PG_MAX];
    char got[80], want[CS_DEC_STRLEN];
    /* 1.5 is digits [1, 5000] at weight 0 */
    size_t n = cs_dec_pg_numeric(D("1.5"), b);
    static const unsigned char one_half[] = {0, 2, 0, 0, 0, 0, 0, 12, 0, 1, 0x13, 0x88};
    ck_assert_int_eq((int)n, (int)sizeof(one_half));
    ck_assert(memcmp(b, one_half, n) == 0);
    n = cs_dec_pg_numeric(D("0"), b);
    ck_assert_int_eq((int)n, 8);
    const char *cases[] = {"0.000000000001", "-0.0000001234", "10000", "99999999999999999999999999.999999999999",
                           "-99999999999999999999999999.999999999999", "123456789.000000000001", "0.5"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = cs_dec_pg_numeric(D(cases[i]), b);
        pg_numeric_text(b, n, got, sizeof(got));
        cs_dec_format(D(cases[i]), 12, want, sizeof(want));
        ck_assert_str_eq(got, want);
    }
    /* 100,000 random values of every magnitude */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t y = x * 2685821657736338717ULL;
        cs_dec d = {(cs_i128)(((cs_u128)x << 64 | y) % ((cs_u128)1 << (i % 120 + 1)))};
        if (i & 1)
            d.raw = -d.raw;
        n = cs_dec_pg_numeric(d, b);
        pg_numeric_text(b, n, got, sizeof(got));
        cs_dec_format(d, 12, want, sizeof(want));
        ck_assert_msg(strcmp(got, want) == 0, "%s encoded as %s", want, got);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("decimal");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, pg_binary_numeric);
    tcase_add_test(tc, parse_exact);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, format_and_round);
    tcase_add_test(tc, arithmetic);
    tcase_add_test(tc, parse_round_and_divide);
    tcase_add_test(tc, mul_random_cross_check);
    tcase_add_test(tc, format_parse_roundtrip);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
