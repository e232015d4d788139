/* Unit tests for src/dedup.c: fingerprints against sha256sum, duplicates
 * within a batch and against stored ones, a batch dropped and replayed
 * (counted once, never zero times), another worker's rows merged in the
 * middle of a batch, eviction and reloading, and 200,000 random ids
 * checked against a plain set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "unit.h"

#define H1 INT64_C(1793000000000000)
#define H2 (H1 + INT64_C(3600000000))

static void fp(const char *source, const char *id, unsigned char out[16])
{
    cs_dedup_fingerprint(source, id, out);
}

START_TEST(fingerprint_is_sha256_prefix)
{
    unsigned char f[16];
    fp("//s", "e1", f);
    /* printf '//s\0e1' | sha256sum */
    FILE *p = popen("printf '//s\\000e1' | sha256sum", "r");
    ck_assert_ptr_nonnull(p);
    char hex[65] = "";
    ck_assert(fscanf(p, "%64s", hex) == 1);
    pclose(p);
    char mine[33];
    for (int i = 0; i < 16; i++)
        snprintf(mine + 2 * i, 3, "%02x", f[i]);
    ck_assert(strncmp(mine, hex, 32) == 0);
}
END_TEST

START_TEST(batches_drop_and_merge)
{
    cs_dedup *d = cs_dedup_new(1000);
    unsigned char a[16], b[16], c[16];
    fp("//s", "a", a);
    fp("//s", "b", b);
    fp("//s", "c", c);
    ck_assert(!cs_dedup_loaded(d, H1, NULL));
    ck_assert_int_eq(cs_dedup_mark_loaded(d, H1, 7), 0);
    int64_t seq;
    ck_assert(cs_dedup_loaded(d, H1, &seq) && seq == 7);
    ck_assert_int_eq(cs_dedup_check(d, H1, a, 0), 1);
    ck_assert_int_eq(cs_dedup_check(d, H1, a, 1), 0); /* twice in one batch */
    ck_assert_int_eq(cs_dedup_check(d, H1, b, 1), 1);
    /* the batch is dropped (fenced): both are new again when replayed */
    cs_dedup_discard(d);
    ck_assert_int_eq((int)cs_dedup_size(d), 0);
    ck_assert_int_eq(cs_dedup_check(d, H1, a, 0), 1);
    ck_assert_int_eq(cs_dedup_check(d, H1, b, 1), 1);
    ck_assert_int_eq(cs_dedup_check(d, H2, c, 2), 1); /* another hour */
    /* another worker stored b meanwhile: b becomes a duplicate of batch index 1 */
    size_t dups[4], ndups = 0;
    ck_assert_int_eq(cs_dedup_merge(d, H1, b, 1, 9, dups, &ndups), 0);
    ck_assert_int_eq((int)ndups, 1);
    ck_assert_int_eq((int)dups[0], 1);
    /* the flush seals what is left: a in H1, c in H2, with their indexes */
    ck_assert_int_eq((int)cs_dedup_seal(d), 2);
    int64_t hours[4];
    ck_assert_int_eq((int)cs_dedup_sealed_hours(d, hours, 4), 2);
    ck_assert(hours[0] == H1 && hours[1] == H2);
    unsigned char pend[4 * 16];
    size_t idx[4], n;
    cs_dedup_sealed(d, H1, pend, idx, &n);
    ck_assert_int_eq((int)n, 1);
    ck_assert(memcmp(pend, a, 16) == 0 && idx[0] == 0);
    /* while it is in flight the next batch sees sealed ones as counted */
    ck_assert_int_eq(cs_dedup_check(d, H1, a, 0), 0);
    cs_dedup_commit(d);
    ck_assert_int_eq((int)cs_dedup_sealed_hours(d, hours, 4), 0);
    ck_assert_int_eq(cs_dedup_check(d, H1, a, 0), 0); /* stored now */
    ck_assert_int_eq(cs_dedup_check(d, H2, c, 0), 0);
    ck_assert(cs_dedup_loaded(d, H1, &seq) && seq == 9);
    /* fingerprints of unknown hour (from before hours were kept) hold everywhere */
    unsigned char old[16];
    fp("//s", "old", old);
    ck_assert_int_eq(cs_dedup_merge(d, CS_DEDUP_ANY_HOUR, old, 1, 1, dups, &ndups), 0);
    ck_assert_int_eq(cs_dedup_check(d, H2, old, 3), 0);
    cs_dedup_free(d);
}
END_TEST

START_TEST(eviction_and_random)
{
    enum { N = 200000 };
    cs_dedup *d = cs_dedup_new(120000);
    static unsigned char fps[N][16], seen[N];
    char id[32];
    for (unsigned k = 0; k < N; k++) {
        snprintf(id, sizeof(id), "e%u", k);
        fp("//s", id, fps[k]);
    }
    /* 200,000 sends of random ids over 8 hours (so many are resends), in
     * batches of 1,000, with the memory bound forcing evictions */
    unsigned seed = 7, reloads = 0;
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        unsigned k = (unsigned)rand_r(&seed) % N;
        int64_t hour = H1 + (int64_t)(k % 8) * INT64_C(3600000000);
        if (!cs_dedup_loaded(d, hour, NULL)) {
            /* what the store holds for that hour: every id stored so far */
            size_t dups[1], nd = 0;
            for (unsigned j = k % 8; j < N; j += 8)
                if (seen[j] == 2)
                    ck_assert_int_eq(cs_dedup_merge(d, hour, fps[j], 1, 0, dups, &nd), 0);
            cs_dedup_mark_loaded(d, hour, 0);
            reloads++;
        }
        int r = cs_dedup_check(d, hour, fps[k], (size_t)i % 1000);
        wrong += r != (seen[k] ? 0 : 1);
        if (!seen[k])
            seen[k] = 1;
        if (i % 1000 == 999) {
            cs_dedup_seal(d);
            cs_dedup_commit(d);
            cs_dedup_trim(d);
            for (unsigned j = 0; j < N; j++)
                seen[j] = seen[j] ? 2 : 0;
        }
    }
    ck_assert_int_eq(wrong, 0);
    ck_assert_int_gt((int)reloads, 8); /* evictions happened and hours came back */
    ck_assert_int_le((int)cs_dedup_size(d), 120000 + 1000);
    cs_dedup_free(d);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("dedup");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fingerprint_is_sha256_prefix);
    tcase_add_test(tc, batches_drop_and_merge);
    tcase_add_test(tc, eviction_and_random);
    suite_add_tcase(s, tc);
    return s;
}
