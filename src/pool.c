/* pool.c - the report server's connection pool (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct cs_pool {
    pthread_mutex_t lock;
    size_t size;
    cs_store **stores;
    bool *busy;
};

cs_pool *cs_pool_new(const char *conninfo, size_t size, const char *on_connect_sql)
{
    cs_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->size = size;
    p->stores = calloc(size, sizeof(*p->stores));
    p->busy = calloc(size, sizeof(*p->busy));
    for (size_t i = 0; p->stores && i < size; i++)
        if (!(p->stores[i] = cs_store_new(conninfo)) ||
            cs_store_on_connect(p->stores[i], on_connect_sql) < 0) {
            cs_pool_free(p);
            return NULL;
        }
    if (!p->stores || !p->busy) {
        cs_pool_free(p);
        return NULL;
    }
    return p;
}

void cs_pool_free(cs_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->stores && i < p->size; i++)
        cs_store_free(p->stores[i]);
    free(p->stores);
    free(p->busy);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

cs_store *cs_pool_try_acquire(cs_pool *p)
{
    cs_store *s = NULL;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->size && !s; i++)
        if (!p->busy[i]) {
            p->busy[i] = true;
            s = p->stores[i];
        }
    pthread_mutex_unlock(&p->lock);
    return s;
}

void cs_pool_release(cs_pool *p, cs_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->size; i++)
        if (p->stores[i] == s)
            p->busy[i] = false;
    pthread_mutex_unlock(&p->lock);
}

size_t cs_pool_in_use(cs_pool *p)
{
    size_t n = 0;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->size; i++)
        n += p->busy[i];
    pthread_mutex_unlock(&p->lock);
    return n;
}
