/* Unit tests for src/csv.c and src/buf.c: RFC 4180 quoting, OWASP
 * formula neutralisation, numbers untouched. */
#include <errno.h>
#include <string.h>

#include "csv.h"
#include "unit.h"

START_TEST(quoting_and_injection)
{
    cs_buf b = {0};
    cs_csv_text(&b, "plain", 1);
    cs_csv_text(&b, "a,b", 0);
    cs_csv_text(&b, "say \"hi\"", 0);
    cs_csv_text(&b, "two\nlines", 0);
    cs_csv_text(&b, "=HYPERLINK(\"http://x\",\"y\")", 0);
    cs_csv_text(&b, "+1", 0);
    cs_csv_text(&b, "-cc", 0);
    cs_csv_text(&b, "@SUM(A1)", 0);
    cs_csv_text(&b, "\tx", 0);
    cs_csv_text(&b, "\rx", 0);
    cs_csv_text(&b, NULL, 0);
    cs_csv_number(&b, "-12.50", 0);
    cs_csv_end_row(&b);
    ck_assert(!b.failed);
    ck_assert_str_eq(b.data,
                     "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\","
                     "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"'+1\",\"'-cc\",\"'@SUM(A1)\","
                     "\"'\tx\",\"'\rx\",,-12.50\r\n");
    cs_buf_consume(&b, 6);
    ck_assert(strncmp(b.data, "\"a,b\"", 5) == 0);
    cs_buf_reset(&b);
    ck_assert_int_eq((int)b.len, 0);
    cs_buf_printf(&b, "%d-%s", 42, "x");
    ck_assert_str_eq(b.data, "42-x");
    cs_buf_free(&b);
}
END_TEST

START_TEST(semicolons_and_controls)
{
    cs_buf b = {0};
    cs_csv_text(&b, "a;=1+1", 1);
    cs_csv_text(&b, "red \x1b[31mALERT\x1b[0m", 0);
    cs_csv_text(&b, "csi \xc2\x9b" "2J", 0);
    cs_csv_text(&b, "\xe6\xa0\xaa", 0); /* CJK: kept as is */
    cs_csv_end_row(&b);
    ck_assert(!b.failed);
    ck_assert_str_eq(b.data, "\"a;=1+1\",red \\x1b[31mALERT\\x1b[0m,csi \\u009b2J,\xe6\xa0\xaa\r\n");
    cs_buf_reset(&b);
    cs_buf_put_visible(&b, "t\tn\nd\x7f", "");
    ck_assert_str_eq(b.data, "t\\x09n\\x0ad\\x7f");
    cs_buf_free(&b);
}
END_TEST

/* Reading: quoted separators, doubled quotes, line breaks in fields, CRLF,
 * a BOM, and the malformed records, each reported with its line and
 * skipped so that reading goes on. */
START_TEST(reader)
{
    const char text[] = "\xef\xbb\xbf" "a,b,c\r\n"
                        "1,\"x, \"\"y\"\"\",\r\n"
                        "\"multi\nline\",2,3\n"
                        "bad\"quote,1\n"
                        "\"open,1\n"; /* unterminated: to the end */
    cs_csv_reader r = {0};
    const char *const *f;
    size_t n, line;
    cs_csv_reader_init(&r, text, sizeof(text) - 1);
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), 1);
    ck_assert(n == 3 && line == 1 && strcmp(f[0], "a") == 0 && strcmp(f[2], "c") == 0);
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), 1);
    ck_assert(n == 3 && line == 2);
    ck_assert_str_eq(f[1], "x, \"y\"");
    ck_assert_str_eq(f[2], "");
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), 1);
    ck_assert(n == 3 && line == 3);
    ck_assert_str_eq(f[0], "multi\nline");
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), -EINVAL);
    ck_assert_int_eq((int)line, 5);
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), -EINVAL);
    ck_assert_int_eq((int)line, 6);
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), 0);
    cs_csv_reader_free(&r);

    /* what the writer writes, the reader reads back */
    cs_buf b = {0};
    cs_csv_text(&b, "plain", 1);
    cs_csv_text(&b, "with, comma \"quoted\"", 0);
    cs_csv_number(&b, "-1.5", 0);
    cs_csv_end_row(&b);
    cs_csv_reader_init(&r, b.data, b.len);
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), 1);
    ck_assert(n == 3 && strcmp(f[1], "with, comma \"quoted\"") == 0 && strcmp(f[2], "-1.5") == 0);
    ck_assert_int_eq(cs_csv_read(&r, &f, &n, &line), 0);
    cs_csv_reader_free(&r);
    cs_buf_free(&b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, quoting_and_injection);
    tcase_add_test(tc, semicolons_and_controls);
    tcase_add_test(tc, reader);
    suite_add_tcase(s, tc);
    return s;
}
