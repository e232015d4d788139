/* Unit tests for src/strmap.c: puts and finds through many doublings,
 * clearing with a destructor, and composite keys (separators, NULL parts,
 * the space they need exactly). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "strmap.h"
#include "unit.h"

static int freed;

static void count_free(void *v)
{
    freed++;
    free(v);
}

START_TEST(put_find_clear)
{
    cs_strmap m = {0};
    char key[32];
    ck_assert_ptr_null(cs_strmap_find(&m, "absent"));
    for (int i = 0; i < 50000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        int *v = malloc(sizeof(*v));
        *v = i;
        ck_assert_int_eq(cs_strmap_put(&m, key, v), 0);
    }
    ck_assert_int_eq((int)m.n, 50000);
    for (int i = 0; i < 50000; i += 7) {
        snprintf(key, sizeof(key), "k%d", i);
        void **found = cs_strmap_find(&m, key);
        ck_assert_ptr_nonnull(found);
        ck_assert_int_eq(*(int *)*found, i);
    }
    ck_assert_ptr_null(cs_strmap_find(&m, "k50000"));
    freed = 0;
    cs_strmap_clear(&m, count_free);
    ck_assert_int_eq(freed, 50000);
    ck_assert_int_eq((int)m.n, 0);
    ck_assert_ptr_null(cs_strmap_find(&m, "k1"));
}
END_TEST

START_TEST(composite_keys)
{
    char buf[16];
    const char *parts[] = {"ab", NULL, "c"};
    ck_assert_int_eq(cs_strmap_key(buf, sizeof(buf), parts, 3), 6);
    ck_assert_mem_eq(buf, "ab\x1f\x1f" "c\x1f", 7);
    ck_assert_int_eq(cs_strmap_key(buf, sizeof(buf), parts, 0), 0);
    ck_assert_str_eq(buf, "");
    /* "ab", "", "c" with their separators and the NUL need exactly 7 bytes */
    ck_assert_int_eq(cs_strmap_key(buf, 7, parts, 3), 6);
    ck_assert_int_eq(cs_strmap_key(buf, 6, parts, 3), -ENOSPC);
    ck_assert_int_eq(cs_strmap_key(buf, 0, parts, 0), -ENOSPC);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("strmap");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, put_find_clear);
    tcase_add_test(tc, composite_keys);
    suite_add_tcase(s, tc);
    return s;
}
