/* flusher.c - one flush at a time on a thread of its own (see flusher.h).
 *
 * Lock notes: `lock` guards `job`, `done`, `stop` and `out`; the thread
 * sleeps on `cond` until a job or stop arrives, runs cs_store_flush()
 * without the lock (the worker never touches the store or the batch while
 * it runs), then publishes the outcome and signals `cond` again, on which
 * cs_flusher_wait() sleeps.  `submitted` is the caller's own state. */
#include "flusher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cs_flusher {
    cs_store *store;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const cs_store_batch *job; /* to write, NULL when none */
    bool done, stop;
    cs_flush_outcome out;
    bool submitted; /* caller side: a job given and its outcome not taken */
};

static int64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *flusher_main(void *opaque)
{
    cs_flusher *f = opaque;
    pthread_setname_np(pthread_self(), "cs-flusher"); /* as top -H and perf show it */
    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (!f->job && !f->stop)
            pthread_cond_wait(&f->cond, &f->lock);
        if (!f->job)
            break; /* stop, nothing left to write */
        const cs_store_batch *b = f->job;
        pthread_mutex_unlock(&f->lock);
        cs_flush_outcome out = {0};
        int64_t t0 = mono_usec();
        out.r = cs_store_flush(f->store, b, out.err, sizeof(out.err));
        out.usec = mono_usec() - t0;
        pthread_mutex_lock(&f->lock);
        f->out = out;
        f->job = NULL;
        f->done = true;
        pthread_cond_broadcast(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

cs_flusher *cs_flusher_new(const char *conninfo, const char *on_connect, int *ret_err)
{
    cs_flusher *f = calloc(1, sizeof(*f));
    *ret_err = -ENOMEM;
    if (!f)
        return NULL;
    f->store = cs_store_new(conninfo);
    if (!f->store || cs_store_on_connect(f->store, on_connect) < 0) {
        cs_store_free(f->store);
        free(f);
        return NULL;
    }
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    int r = pthread_create(&f->thread, NULL, flusher_main, f);
    if (r != 0) {
        *ret_err = -r;
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        cs_store_free(f->store);
        free(f);
        return NULL;
    }
    *ret_err = 0;
    return f;
}

void cs_flusher_free(cs_flusher *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = true; /* a job in flight is finished first */
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    cs_store_free(f->store);
    free(f);
}

int cs_flusher_submit(cs_flusher *f, const cs_store_batch *b)
{
    if (f->submitted)
        return -EBUSY;
    pthread_mutex_lock(&f->lock);
    f->job = b;
    f->done = false;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
    f->submitted = true;
    return 0;
}

bool cs_flusher_busy(const cs_flusher *f)
{
    return f->submitted;
}

int cs_flusher_poll(cs_flusher *f, cs_flush_outcome *ret)
{
    if (!f->submitted)
        return 0;
    pthread_mutex_lock(&f->lock);
    bool done = f->done;
    if (done)
        *ret = f->out;
    pthread_mutex_unlock(&f->lock);
    f->submitted = !done;
    return done ? 1 : 0;
}

int cs_flusher_wait(cs_flusher *f, cs_flush_outcome *ret)
{
    if (!f->submitted)
        return 0;
    pthread_mutex_lock(&f->lock);
    while (!f->done)
        pthread_cond_wait(&f->cond, &f->lock);
    *ret = f->out;
    pthread_mutex_unlock(&f->lock);
    f->submitted = false;
    return 1;
}
