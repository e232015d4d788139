/* Unit tests for src/csv.c and src/buf.c: RFC 4180 quoting, OWASP
 * formula neutralisation, numbers untouched. */
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

static Suite *make_suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, quoting_and_injection);
    tcase_add_test(tc, semicolons_and_controls);
    suite_add_tcase(s, tc);
    return s;
}
