/* Unit tests for src/utf8.c: validation against hand-made sequences, and
 * escaping checked at every cut point of strings with multi-byte
 * characters and invalid bytes: the result is always valid UTF-8, never
 * longer than its buffer, and a prefix of the full escaped text. */
#include <string.h>

#include "unit.h"
#include "utf8.h"

START_TEST(validates)
{
    ck_assert(cs_utf8_valid("plain", 5));
    ck_assert(cs_utf8_valid("\xc3\xa9\xe6\xa0\xaa\xf0\x9f\x92\xb6", 9)); /* é 株 💶 */
    ck_assert(!cs_utf8_valid("\xc3", 1));                 /* cut */
    ck_assert(!cs_utf8_valid("\xc0\xaf", 2));             /* overlong */
    ck_assert(!cs_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
    ck_assert(!cs_utf8_valid("\xf4\x90\x80\x80", 4));     /* above U+10FFFF */
    ck_assert(!cs_utf8_valid("\x9d", 1));                 /* stray continuation */
    ck_assert_int_eq((int)cs_utf8_seq_len("\xe6\xa0\xaa", 3), 3);
    ck_assert_int_eq((int)cs_utf8_seq_len("\xe6\xa0", 2), 0);
}
END_TEST

/* The eight-bytes-at-a-time ASCII path: a bad byte or a sequence at any
 * offset of a longer text is judged as a lone one is. */
START_TEST(validates_at_every_offset)
{
    char text[48];
    for (size_t at = 0; at + 3 <= sizeof(text); at++) {
        memset(text, 'a', sizeof(text));
        memcpy(text + at, "\xe2\x82\xac", 3); /* € */
        ck_assert_msg(cs_utf8_valid(text, sizeof(text)), "euro at %zu", at);
        text[at + 2] = 'x'; /* cut short */
        ck_assert_msg(!cs_utf8_valid(text, sizeof(text)), "cut euro at %zu", at);
        ck_assert_msg(cs_utf8_valid(text, at), "prefix before %zu", at);
        text[at] = '\xff';
        ck_assert_msg(!cs_utf8_valid(text, sizeof(text)), "0xff at %zu", at);
    }
}
END_TEST

START_TEST(escapes_at_every_cut)
{
    const char *inputs[] = {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9",
                            "\xe6\xa0\xaa\xe5\xbc\x8f\xe4\xbc\x9a\xe7\xa4\xbe" "x",
                            "a\x9d" "b\xff\xc3(\xf0\x9f\x92\xb6" "end"};
    for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
        const char *in = inputs[k];
        char full[256];
        int cut;
        size_t esc = cs_utf8_escape(full, sizeof(full), in, strlen(in), &cut);
        ck_assert_int_eq(cut, 0);
        ck_assert(cs_utf8_valid(full, strlen(full)));
        ck_assert_int_eq(esc > 0, !cs_utf8_valid(in, strlen(in)));
        for (size_t size = 1; size <= strlen(full) + 1; size++) {
            char out[256];
            cs_utf8_escape(out, size, in, strlen(in), &cut);
            ck_assert(strlen(out) < size);
            ck_assert(cs_utf8_valid(out, strlen(out)));
            ck_assert(strncmp(out, full, strlen(out)) == 0);
            ck_assert_int_eq(cut, size <= strlen(full));
        }
        /* a prefix for "%.*s" never ends inside a character */
        for (size_t max = 0; max <= strlen(in); max++) {
            int n = cs_utf8_prefix(in, strlen(in), max);
            ck_assert_int_le(n, (int)max);
            ck_assert(n == (int)strlen(in) || ((unsigned char)in[n] & 0xc0) != 0x80);
        }
    }
    char out[32];
    cs_utf8_escape(out, sizeof(out), "a\0b", 3, NULL);
    ck_assert_str_eq(out, "a\\x00b");
    cs_utf8_escape(out, sizeof(out), "\xc3\xa9\xc3", 3, NULL);
    ck_assert_str_eq(out, "\xc3\xa9\\xc3");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, validates);
    tcase_add_test(tc, escapes_at_every_cut);
    tcase_add_test(tc, validates_at_every_offset);
    suite_add_tcase(s, tc);
    return s;
}
