/* Unit tests for src/timestamp.c; expected epoch values were computed with
 * GNU date (date -u -d ... +%s) and are stated in seconds. */
#include <errno.h>
#include <string.h>

#include "timestamp.h"
#include "unit.h"

static int64_t P(const char *s)
{
    int64_t t;
    int r = cs_timestamp_parse(s, strlen(s), &t);
    ck_assert_msg(r == 0, "%s: %d", s, r);
    return t;
}

START_TEST(parses)
{
    ck_assert(P("1970-01-01T00:00:00Z") == 0);
    ck_assert(P("2026-11-03T10:15:00Z") == INT64_C(1793700900) * CS_USEC_PER_SEC);
    ck_assert(P("2024-02-29T23:59:59Z") == INT64_C(1709251199) * CS_USEC_PER_SEC);
    ck_assert(P("2026-11-03T12:15:00+02:00") == P("2026-11-03T10:15:00Z"));
    ck_assert(P("2026-11-03T05:15:00-05:00") == P("2026-11-03T10:15:00Z"));
    ck_assert(P("2026-11-03T10:15:00.5Z") == P("2026-11-03T10:15:00Z") + 500000);
    ck_assert(P("2026-11-03T10:15:00.123456789Z") == P("2026-11-03T10:15:00Z") + 123456);
}
END_TEST

START_TEST(rejects)
{
    const char *bad[] = {"", "2026-11-03", "2026-11-03T10:15:00", "2026-13-01T00:00:00Z",
                         "2026-02-29T00:00:00Z", "2026-11-03T24:00:00Z", "2026-11-03T10:15:00.Z",
                         "2026-11-03T10:15:00Zjunk", "yesterday", "2026-11-03T10:15:00+2:00",
                         "2026-11-03T10:15:00.1234567891Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t;
        ck_assert_msg(cs_timestamp_parse(bad[i], strlen(bad[i]), &t) < 0, "%s", bad[i]);
    }
    int64_t t;
    ck_assert_int_eq(cs_timestamp_parse("1969-12-31T23:59:59Z", 20, &t), -ERANGE);
}
END_TEST

START_TEST(format_roundtrip_and_hour)
{
    char buf[CS_TIMESTAMP_STRLEN];
    int64_t t = P("2026-11-03T10:15:42.250000Z");
    cs_timestamp_format(t, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2026-11-03T10:15:42.250000Z");
    cs_timestamp_format(cs_timestamp_hour(t), buf, sizeof(buf));
    ck_assert_str_eq(buf, "2026-11-03T10:00:00Z");
    for (int64_t s = 0; s < INT64_C(4102444800); s += 86399 * 7 + 13) {
        cs_timestamp_format(s * CS_USEC_PER_SEC, buf, sizeof(buf));
        ck_assert(P(buf) == s * CS_USEC_PER_SEC);
    }
}
END_TEST

START_TEST(months)
{
    int64_t from, to, t;
    ck_assert_int_eq(cs_timestamp_month("2026-12", &from, &to), 0);
    cs_timestamp_parse("2026-12-01T00:00:00Z", 20, &t);
    ck_assert(from == t);
    cs_timestamp_parse("2027-01-01T00:00:00Z", 20, &t);
    ck_assert(to == t);
    ck_assert_int_eq(cs_timestamp_month("9998-12", &from, &to), 0);
    /* found by probing the server: each was accepted, or mislabelled */
    const char *bad[] = {"2026-+1", " 2026-1", "2026-1", "9999-12", "1969-12", "2026-00",
                         "2026-13", "2026-11 ", "2026/11", "+026-11", "２０２６-11", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(cs_timestamp_month(bad[i], &from, &to) == -EINVAL, "%s", bad[i]);
}
END_TEST

/* The month's first instant, against the text: every 7,919 s from 1970 to
 * 2100, "YYYY-MM" of the formatted time parsed back as a month. */
START_TEST(month_start_against_text)
{
    for (int64_t t = 0; t < INT64_C(4102444800); t += 7919) {
        char buf[40], ym[8];
        int64_t from, to, usec = t * CS_USEC_PER_SEC + 123456;
        /* plain checks: check's assertions mark their place on every call,
         * half a million times here (past the default timeout under ASan on a
         * busy machine) */
        if (cs_timestamp_format(usec, buf, sizeof(buf)) <= 0)
            ck_abort_msg("cannot format %lld", (long long)usec);
        memcpy(ym, buf, 7);
        ym[7] = '\0';
        if (cs_timestamp_month(ym, &from, &to) != 0)
            ck_abort_msg("%s: month %s refused", buf, ym);
        if (cs_timestamp_month_start(usec) != from)
            ck_abort_msg("%s: month start %lld, the text says %lld", buf,
                         (long long)cs_timestamp_month_start(usec), (long long)from);
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("timestamp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parses);
    tcase_add_test(tc, rejects);
    tcase_add_test(tc, months);
    tcase_add_test(tc, format_roundtrip_and_hour);
    tcase_add_test(tc, month_start_against_text);
    suite_add_tcase(s, tc);
    return s;
}
