/* Unit tests for src/ledger.c: the exactly-once offset bookkeeping, as the
 * worker drives it through a normal flush, a retried flush, a rewind after
 * fencing, a gap in Kafka, a revocation, an isolation, and a flush in
 * flight while the next batch fills (stored, then refused). */
#include <string.h>

#include "ledger.h"
#include "unit.h"

static void fold(cs_ledger_part *p, int64_t from, int64_t to)
{
    for (int64_t o = from; o < to; o++)
        if (cs_ledger_wants(p, o))
            ck_assert_int_eq((int)cs_ledger_advance(p, o), -1);
}

START_TEST(flush_retry_and_rewind)
{
    cs_ledger l = {0};
    cs_ledger_part *a = cs_ledger_add(&l, "t", 0, false);
    cs_ledger_assign(a, CS_LEDGER_NONE); /* never consumed: starts at Kafka's earliest */
    cs_ledger_part *b = cs_ledger_add(&l, "t", 1, false);
    cs_ledger_assign(b, 100);
    a = cs_ledger_find(&l, "t", 0); /* the array may have moved */
    ck_assert(!cs_ledger_wants(b, 99)); /* already stored */
    fold(a, 0, 10);
    fold(b, 100, 105);
    cs_ledger_move mv[4];
    ck_assert_int_eq((int)cs_ledger_moved(&l, mv), 2);
    ck_assert(mv[0].expected == CS_LEDGER_NONE && mv[0].next == 10);
    ck_assert(mv[1].expected == 100 && mv[1].next == 105);
    /* the flush failed (unavailable): a retry stores exactly the same moves */
    cs_ledger_move again[4];
    ck_assert_int_eq((int)cs_ledger_moved(&l, again), 2);
    for (int i = 0; i < 2; i++)
        ck_assert(strcmp(mv[i].topic, again[i].topic) == 0 && mv[i].partition == again[i].partition &&
                  mv[i].expected == again[i].expected && mv[i].next == again[i].next);
    cs_ledger_stored(&l, mv, 2);
    ck_assert(a->expected == 10 && b->expected == 105);
    ck_assert_int_eq((int)cs_ledger_moved(&l, mv), 0);
    /* more is folded in, then the flush is fenced: back to the stored offsets */
    fold(a, 10, 20);
    ck_assert(!cs_ledger_wants(a, 15));
    cs_ledger_rewind(&l);
    ck_assert(a->next == 10 && b->next == 105);
    ck_assert(cs_ledger_wants(a, 10)); /* the same messages are folded in again */
    ck_assert(!cs_ledger_wants(a, 9));
    fold(a, 10, 20);
    ck_assert_int_eq((int)cs_ledger_moved(&l, mv), 1);
    ck_assert(mv[0].expected == 10 && mv[0].next == 20);
    cs_ledger_free(&l);
}
END_TEST

START_TEST(gaps_and_revocation)
{
    cs_ledger l = {0};
    cs_ledger_part *p = cs_ledger_add(&l, "t", 3, true);
    ck_assert(p->metric && !p->active);
    ck_assert(!cs_ledger_wants(p, 0)); /* not assigned */
    ck_assert(!cs_ledger_wants(NULL, 0));
    cs_ledger_assign(p, 50);
    ck_assert_int_eq((int)cs_ledger_advance(p, 50), -1);
    ck_assert_int_eq((int)cs_ledger_advance(p, 60), 51); /* 51..59 are gone from Kafka */
    ck_assert(p->next == 61);
    cs_ledger_deactivate(&l);
    cs_ledger_move mv[2];
    ck_assert_int_eq((int)cs_ledger_moved(&l, mv), 0); /* not ours: nothing to store */
    ck_assert(!cs_ledger_wants(p, 61));
    ck_assert_ptr_eq(cs_ledger_add(&l, "t", 3, true), p); /* the same entry again */
    cs_ledger_free(&l);
}
END_TEST

START_TEST(isolation)
{
    cs_ledger l = {0};
    cs_ledger_part *a = cs_ledger_add(&l, "t", 0, false);
    cs_ledger_part *b = cs_ledger_add(&l, "t", 1, false);
    a = cs_ledger_find(&l, "t", 0);
    cs_ledger_assign(a, 0);
    cs_ledger_assign(b, 0);
    fold(a, 0, 8);
    fold(b, 0, 4);
    ck_assert_ptr_eq(cs_ledger_isolate(&l), b); /* the last moved partition */
    ck_assert(a->isolate_until == 8 && b->isolate_until == 4);
    cs_ledger_rewind(&l);
    ck_assert(!cs_ledger_isolation_done(&l));
    fold(a, 0, 4);
    cs_ledger_move mv[2];
    size_t n = cs_ledger_moved(&l, mv);
    cs_ledger_stored(&l, mv, n);
    ck_assert(!cs_ledger_isolation_done(&l)); /* a is not past 8 yet, b not past 4 */
    fold(a, 4, 8);
    fold(b, 0, 4);
    n = cs_ledger_moved(&l, mv);
    cs_ledger_stored(&l, mv, n);
    ck_assert(cs_ledger_isolation_done(&l));
    ck_assert(a->isolate_until == -1 && b->isolate_until == -1);
    /* a bound on a partition that was taken away does not hold isolation */
    fold(a, 8, 9);
    cs_ledger_isolate(&l);
    a->active = false;
    ck_assert(cs_ledger_isolation_done(&l));
    ck_assert_ptr_null(cs_ledger_isolate(&l)); /* nothing moved */
    cs_ledger_free(&l);
}
END_TEST

/* Metric samples: the batch's and the assignment's newest times, and the
 * out-of-order test against the lateness. */
START_TEST(sample_order)
{
    cs_ledger l = {0};
    cs_ledger_part *p = cs_ledger_add(&l, "metrics", 0, true);
    ck_assert_ptr_nonnull(p);
    cs_ledger_assign(p, 0);
    ck_assert(!cs_ledger_sample(p, 1000, 10));
    ck_assert(!cs_ledger_sample(p, 995, 10)); /* within the lateness */
    ck_assert(!cs_ledger_sample(p, 990, 10));
    ck_assert(cs_ledger_sample(p, 989, 10));  /* beyond it */
    ck_assert_int_eq(p->max_sample, 1000);
    p->max_sample = -1; /* a flush took the batch */
    ck_assert(cs_ledger_sample(p, 500, 10)); /* still behind the partition's newest */
    ck_assert_int_eq(p->max_sample, 500);
    ck_assert_int_eq(p->newest_sample, 1000);
    cs_ledger_assign(p, 7); /* a new assignment starts afresh */
    ck_assert(!cs_ledger_sample(p, 100, 10));
    cs_ledger_free(&l);
}
END_TEST

START_TEST(flush_in_flight)
{
    cs_ledger l = {0};
    cs_ledger_part *a = cs_ledger_add(&l, "t", 0, false);
    cs_ledger_part *b = cs_ledger_add(&l, "t", 1, false);
    a = cs_ledger_find(&l, "t", 0);
    cs_ledger_assign(a, 10);
    cs_ledger_assign(b, 5);
    fold(a, 10, 20);
    cs_ledger_move job[4];
    ck_assert_int_eq((int)cs_ledger_moved(&l, NULL), 1); /* counting only */
    ck_assert_int_eq((int)cs_ledger_moved(&l, job), 1);  /* handed to the flusher: a 10 -> 20 */
    /* the next batch fills meanwhile, on both partitions */
    fold(a, 20, 25);
    fold(b, 5, 8);
    /* the flush in flight is stored: expected is its end, not the ledger's next */
    cs_ledger_stored(&l, job, 1);
    ck_assert(a->expected == 20 && a->next == 25);
    ck_assert(b->expected == 5 && b->next == 8);
    cs_ledger_move next[4];
    ck_assert_int_eq((int)cs_ledger_moved(&l, next), 2);
    ck_assert(next[0].expected == 20 && next[0].next == 25);
    ck_assert(next[1].expected == 5 && next[1].next == 8);
    /* that one is refused while a third batch fills: the ledger goes back to
     * where the refused flush ended, and isolation bisects exactly its range */
    fold(a, 25, 30);
    cs_ledger_rewind_to(&l, next, 2);
    ck_assert(a->next == 25 && b->next == 8);
    cs_ledger_part *last = cs_ledger_isolate(&l);
    ck_assert_ptr_eq(last, b);
    ck_assert(a->isolate_until == 25 && b->isolate_until == 8);
    cs_ledger_rewind(&l);
    ck_assert(a->next == 20 && b->next == 5);
    /* a move whose partition was stored by someone else since is not revived */
    cs_ledger_move stale = {"t", 0, 19, 40};
    cs_ledger_rewind_to(&l, &stale, 1);
    ck_assert(a->next == 20);
    cs_ledger_free(&l);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, flush_retry_and_rewind);
    tcase_add_test(tc, gaps_and_revocation);
    tcase_add_test(tc, isolation);
    tcase_add_test(tc, sample_order);
    tcase_add_test(tc, flush_in_flight);
    suite_add_tcase(s, tc);
    return s;
}
