/* Unit tests for src/cache.c: hits, TTL expiry, negative entries, LRU order
 * and the size bound. */
#include <stdio.h>

#include "cache.h"
#include "unit.h"

START_TEST(ttl_and_negative)
{
    cs_cache *c = cs_cache_new(10, 1000);
    const char *v;
    ck_assert_int_eq(cs_cache_get(c, "k", 0, &v), 0);
    ck_assert_int_eq(cs_cache_put(c, "k", "cus_1", 0), 0);
    ck_assert_int_eq(cs_cache_get(c, "k", 999, &v), 1);
    ck_assert_str_eq(v, "cus_1");
    ck_assert_int_eq(cs_cache_get(c, "k", 1000, &v), 0); /* expired */
    ck_assert_int_eq(cs_cache_put(c, "none", NULL, 0), 0);
    ck_assert_int_eq(cs_cache_get(c, "none", 10, &v), 1);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(cs_cache_put(c, "none", "now-known", 20), 0); /* replace */
    ck_assert_int_eq(cs_cache_get(c, "none", 30, &v), 1);
    ck_assert_str_eq(v, "now-known");
    cs_cache_stats st = cs_cache_get_stats(c);
    ck_assert(st.hits == 3 && st.misses == 2 && st.expired == 1);
    cs_cache_free(c);
    cs_cache_free(NULL);
}
END_TEST

START_TEST(lru_bound)
{
    cs_cache *c = cs_cache_new(100, 1000000);
    char k[16];
    const char *v;
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        cs_cache_put(c, k, k, i);
    }
    ck_assert_int_eq(cs_cache_get(c, "k0", 200, &v), 1); /* k0 becomes most recent */
    for (int i = 100; i < 150; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        cs_cache_put(c, k, k, i);
    }
    ck_assert_int_eq((int)cs_cache_size(c), 100);
    ck_assert_int_eq(cs_cache_get(c, "k0", 300, &v), 1);
    ck_assert_int_eq(cs_cache_get(c, "k1", 300, &v), 0);  /* evicted: oldest */
    ck_assert_int_eq(cs_cache_get(c, "k51", 300, &v), 1); /* survived */
    ck_assert_int_eq(cs_cache_get(c, "k50", 300, &v), 0);
    ck_assert(cs_cache_get_stats(c).evicted == 50);
    cs_cache_free(c);
}
END_TEST

/* peek sees fresh entries (absences too) without counting or reordering */
START_TEST(peek)
{
    cs_cache *c = cs_cache_new(2, 1000);
    const char *v = "x";
    ck_assert_int_eq(cs_cache_peek(c, "a", 0, &v), 0);
    cs_cache_put(c, "a", "A", 0);
    cs_cache_put(c, "gone", NULL, 0);
    ck_assert_int_eq(cs_cache_peek(c, "a", 999, &v), 1);
    ck_assert_str_eq(v, "A");
    ck_assert_int_eq(cs_cache_peek(c, "gone", 10, &v), 1);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(cs_cache_peek(c, "a", 1000, &v), 0); /* expired */
    cs_cache_stats st = cs_cache_get_stats(c);
    ck_assert(st.hits == 0 && st.misses == 0);
    /* "a" was peeked, not used: it is still the least recent and goes first */
    cs_cache_put(c, "b", "B", 20);
    ck_assert_int_eq(cs_cache_peek(c, "a", 30, &v), 0);
    ck_assert_int_eq(cs_cache_peek(c, "gone", 30, &v), 1);
    cs_cache_free(c);
}
END_TEST

/* absences expire sooner than values when told to */
START_TEST(negative_ttl)
{
    cs_cache *c = cs_cache_new(10, 30000);
    const char *v;
    cs_cache_set_negative_ttl(c, 2000);
    cs_cache_put(c, "gone", NULL, 0);
    cs_cache_put(c, "here", "x", 0);
    ck_assert_int_eq(cs_cache_get(c, "gone", 1999, &v), 1);
    ck_assert_int_eq(cs_cache_peek(c, "gone", 2000, &v), 0);
    ck_assert_int_eq(cs_cache_get(c, "gone", 2000, &v), 0);
    ck_assert_int_eq(cs_cache_get(c, "here", 29999, &v), 1);
    cs_cache_free(c);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ttl_and_negative);
    tcase_add_test(tc, lru_bound);
    tcase_add_test(tc, peek);
    tcase_add_test(tc, negative_ttl);
    suite_add_tcase(s, tc);
    return s;
}
