/* Unit tests for src/buf.c: JSON strings that are always valid JSON (read
 * back by jansson), whatever the bytes, at every cut point of a text with
 * multi-byte characters; HTML escaping; visible control characters. */
#include <jansson.h>
#include <string.h>

#include "buf.h"
#include "unit.h"

static char *json_of(const char *s)
{
    cs_buf b = {0};
    cs_buf_put_json(&b, s);
    cs_buf_append(&b, "", 1);
    ck_assert(!b.failed);
    return b.data;
}

START_TEST(json_strings)
{
    char *j = json_of("a\"b\\c\n\x01 \xc3\xa9\xe6\xa0\xaa");
    ck_assert_str_eq(j, "\"a\\\"b\\\\c\\u000a\\u0001 \xc3\xa9\xe6\xa0\xaa\"");
    free(j);
    j = json_of(NULL);
    ck_assert_str_eq(j, "null");
    free(j);
    /* "株式会社é" cut at every byte, with a stray byte after the cut: valid
     * JSON each time, the whole characters kept, each bad byte one U+FFFD */
    const char *text = "\xe6\xa0\xaa\xe5\xbc\x8f\xe4\xbc\x9a\xe7\xa4\xbe\xc3\xa9";
    for (size_t cut = 0; cut <= strlen(text); cut++) {
        char in[64];
        memcpy(in, text, cut);
        in[cut] = '\xff';
        in[cut + 1] = '\0';
        j = json_of(in);
        json_error_t e;
        json_t *v = json_loads(j, JSON_DECODE_ANY, &e);
        ck_assert_msg(v && json_is_string(v), "cut %zu: %s", cut, e.text);
        const char *got = json_string_value(v);
        ck_assert(strstr(got, "\xef\xbf\xbd") != NULL); /* the stray 0xff */
        size_t whole = 0; /* the complete characters before the cut come through */
        while (whole < cut) {
            size_t n = (unsigned char)text[whole] < 0xe0 ? 2 : 3;
            if (whole + n > cut)
                break;
            whole += n;
        }
        ck_assert(strncmp(got, text, whole) == 0);
        json_decref(v);
        free(j);
    }
}
END_TEST

START_TEST(html_and_visible)
{
    cs_buf b = {0};
    cs_buf_put_html(&b, "<a href='x'>&\"</a>");
    cs_buf_put_visible(&b, "\x1b[31m\t", "\t");
    cs_buf_append(&b, "", 1);
    ck_assert_str_eq(b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;\\x1b[31m\t");
    cs_buf_free(&b);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, json_strings);
    tcase_add_test(tc, html_and_visible);
    suite_add_tcase(s, tc);
    return s;
}
