/* Unit tests for src/jobs.c: every job runs once, on several threads at
 * once, the queue's bound refuses at once, and freeing runs what was
 * queued before it returns. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "jobs.h"
#include "unit.h"

static atomic_long sum;
static atomic_int running, peak;

static void add(void *arg)
{
    int now = ++running;
    int p = peak;
    while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
        ;
    usleep(200);
    sum += (long)(intptr_t)arg;
    running--;
}

START_TEST(runs_every_job_once)
{
    sum = 0;
    peak = 0;
    cs_jobs *j = cs_jobs_new(4, 100000);
    ck_assert_ptr_nonnull(j);
    long want = 0;
    for (long i = 1; i <= 2000; i++) {
        ck_assert_int_eq(cs_jobs_submit(j, add, (void *)(intptr_t)i), 0);
        want += i;
    }
    cs_jobs_free(j); /* runs what is queued, then returns */
    ck_assert_int_eq(sum, want);
    ck_assert_int_gt(peak, 1);
    ck_assert_int_le(peak, 4);
}
END_TEST

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static atomic_int started;

static void wait_gate(void *arg)
{
    (void)arg;
    started = 1;
    pthread_mutex_lock(&gate);
    pthread_mutex_unlock(&gate);
    sum++;
}

START_TEST(bounded_queue)
{
    sum = 0;
    pthread_mutex_lock(&gate);
    cs_jobs *j = cs_jobs_new(1, 3);
    ck_assert_int_eq(cs_jobs_submit(j, wait_gate, NULL), 0);
    while (!started) /* the thread holds the first job: 3 more may wait */
        usleep(1000);
    int ok = 0, busy = 0;
    for (int i = 0; i < 10; i++) {
        int r = cs_jobs_submit(j, wait_gate, NULL);
        ck_assert(r == 0 || r == -EBUSY);
        ok += r == 0;
        busy += r == -EBUSY;
    }
    ck_assert_int_eq(ok, 3);
    ck_assert_int_eq(busy, 7);
    ck_assert_int_eq(cs_jobs_pending(j), 4);
    pthread_mutex_unlock(&gate);
    cs_jobs_free(j);
    ck_assert_int_eq(sum, 4);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("jobs");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, runs_every_job_once);
    tcase_add_test(tc, bounded_queue);
    suite_add_tcase(s, tc);
    return s;
}
