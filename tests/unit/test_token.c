/* Unit tests for src/token.c: form, uniqueness, parse/hash round trip,
 * rejection of malformed tokens, and a hash known from sha256sum. */
#include <string.h>

#include "token.h"
#include "unit.h"

START_TEST(generate_parse_verify)
{
    char t1[CS_TOKEN_LEN + 1], t2[CS_TOKEN_LEN + 1], id1[CS_TOKEN_ID_LEN + 1],
        id2[CS_TOKEN_ID_LEN + 1], pid[CS_TOKEN_ID_LEN + 1];
    unsigned char h1[CS_TOKEN_HASH_LEN], h2[CS_TOKEN_HASH_LEN], ph[CS_TOKEN_HASH_LEN];
    ck_assert_int_eq(cs_token_generate(t1, id1, h1), 0);
    ck_assert_int_eq(cs_token_generate(t2, id2, h2), 0);
    ck_assert_int_eq((int)strlen(t1), CS_TOKEN_LEN);
    ck_assert(strncmp(t1, "cst_", 4) == 0 && strncmp(t1 + 4, id1, CS_TOKEN_ID_LEN) == 0);
    ck_assert_str_ne(t1, t2);
    ck_assert_int_eq(cs_token_parse(t1, pid, ph), 0);
    ck_assert_str_eq(pid, id1);
    ck_assert(cs_token_hash_equal(ph, h1));
    ck_assert(!cs_token_hash_equal(ph, h2));
    char bad[CS_TOKEN_LEN + 2];
    memcpy(bad, t1, sizeof(t1));
    bad[CS_TOKEN_LEN - 1] = bad[CS_TOKEN_LEN - 1] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(cs_token_parse(bad, pid, ph), 0);
    ck_assert(!cs_token_hash_equal(ph, h1)); /* one changed character */
    bad[5] = 'X';
    ck_assert_int_lt(cs_token_parse(bad, pid, ph), 0);
    ck_assert_int_lt(cs_token_parse("cst_short", pid, ph), 0);
    ck_assert_int_lt(cs_token_parse(NULL, pid, ph), 0);
    strcpy(bad, t1);
    strcat(bad, "0");
    ck_assert_int_lt(cs_token_parse(bad, pid, ph), 0);
}
END_TEST

START_TEST(known_hash)
{
    /* printf %s 0000000000000000000000000000000000000000 | sha256sum */
    static const unsigned char want[CS_TOKEN_HASH_LEN] = {
        0x96, 0x92, 0xe6, 0x7b, 0x83, 0x78, 0xa6, 0xf6, 0x75, 0x3f, 0x97, 0x78, 0x2d, 0x45, 0x8a, 0xa7, 0x57, 0xe9, 0x47, 0xea, 0xb2, 0xfb, 0xdf, 0x6b, 0x5c, 0x18, 0x7b, 0x74, 0x56, 0x1e, 0xb7, 0x8f};
    char id[CS_TOKEN_ID_LEN + 1];
    unsigned char h[CS_TOKEN_HASH_LEN];
    ck_assert_int_eq(cs_token_parse("cst_abcdef012345_0000000000000000000000000000000000000000", id, h), 0);
    ck_assert_str_eq(id, "abcdef012345");
    ck_assert(cs_token_hash_equal(h, want));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, generate_parse_verify);
    tcase_add_test(tc, known_hash);
    suite_add_tcase(s, tc);
    return s;
}
