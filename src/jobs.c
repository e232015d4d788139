/* jobs.c - see jobs.h.  A singly linked queue under one mutex; threads
 * wait on a condition variable. */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct job {
    struct job *next;
    void (*fn)(void *arg);
    void *arg;
} job;

struct cs_jobs {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t ready;
    job *head, *tail;
    unsigned queued, running, max_queued, nthreads;
    bool stopping;
    pthread_t *threads;
};

static void *run(void *arg)
{
    cs_jobs *j = arg;
    pthread_mutex_lock(&j->lock);
    for (;;) {
        while (!j->head && !j->stopping)
            pthread_cond_wait(&j->ready, &j->lock);
        job *t = j->head;
        if (!t)
            break; /* stopping, and nothing left */
        j->head = t->next;
        if (!j->head)
            j->tail = NULL;
        j->queued--;
        j->running++;
        pthread_mutex_unlock(&j->lock);
        t->fn(t->arg);
        free(t);
        pthread_mutex_lock(&j->lock);
        j->running--;
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

cs_jobs *cs_jobs_new(unsigned threads, unsigned max_queued)
{
    cs_jobs *j = calloc(1, sizeof(*j));
    if (!j || !(j->threads = calloc(threads ? threads : 1, sizeof(*j->threads)))) {
        free(j);
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->ready, NULL);
    j->max_queued = max_queued;
    for (unsigned i = 0; i < (threads ? threads : 1); i++) {
        if (pthread_create(&j->threads[i], NULL, run, j) != 0) {
            cs_jobs_free(j);
            errno = EAGAIN;
            return NULL;
        }
        j->nthreads++;
    }
    return j;
}

int cs_jobs_submit(cs_jobs *j, void (*fn)(void *arg), void *arg)
{
    job *t = malloc(sizeof(*t));
    if (!t)
        return -ENOMEM;
    *t = (job){NULL, fn, arg};
    pthread_mutex_lock(&j->lock);
    int r = j->stopping ? -ESHUTDOWN : j->queued >= j->max_queued ? -EBUSY : 0;
    if (r == 0) {
        *(j->tail ? &j->tail->next : &j->head) = t;
        j->tail = t;
        j->queued++;
        pthread_cond_signal(&j->ready);
    }
    pthread_mutex_unlock(&j->lock);
    if (r < 0)
        free(t);
    return r;
}

unsigned cs_jobs_pending(cs_jobs *j)
{
    pthread_mutex_lock(&j->lock);
    unsigned n = j->queued + j->running;
    pthread_mutex_unlock(&j->lock);
    return n;
}

void cs_jobs_free(cs_jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stopping = true;
    pthread_cond_broadcast(&j->ready);
    pthread_mutex_unlock(&j->lock);
    for (unsigned i = 0; i < j->nthreads; i++)
        pthread_join(j->threads[i], NULL);
    pthread_cond_destroy(&j->ready);
    pthread_mutex_destroy(&j->lock);
    free(j->threads);
    free(j);
}
