/* guard.c - header deadlines and a free reserve for libmicrohttpd servers
 * (see guard.h).  Connections are kept in a list in the order they opened
 * (or last began a request), so the oldest header sender is the first one
 * in it that is still reading headers. */
#include "guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

typedef struct conn {
    struct conn *prev, *next;
    int fd;
    bool in_headers; /* between opening (or the last response) and a complete request */
    bool shut;       /* shut down by the guard; closing */
    int64_t since_ms;
} conn;

struct cs_guard {
    struct MHD_Daemon *d;
    cs_guard_limits lim;
    MHD_AccessHandlerCallback handler;
    MHD_RequestCompletedCallback completed;
    void *cls;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;
    conn *head, *tail;
    uint64_t open, shutting, timed_out, evicted;
    bool stopping;
    pthread_t thread;
    bool thread_started;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void list_unlink(cs_guard *g, conn *c)
{
    *(c->prev ? &c->prev->next : &g->head) = c->next;
    *(c->next ? &c->next->prev : &g->tail) = c->prev;
    c->prev = c->next = NULL;
}

static void list_append(cs_guard *g, conn *c)
{
    c->prev = g->tail;
    c->next = NULL;
    *(g->tail ? &g->tail->next : &g->head) = c;
    g->tail = c;
}

/* Under the lock. */
static void shut(cs_guard *g, conn *c)
{
    c->shut = true;
    g->shutting++;
    shutdown(c->fd, SHUT_RDWR);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    cs_guard *g = cls;
    conn *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(c = calloc(1, sizeof(*c))))
            return; /* unguarded: libmicrohttpd's own limits still hold */
        c->fd = ci->connect_fd;
        c->in_headers = true;
        c->since_ms = now_ms();
        pthread_mutex_lock(&g->lock);
        list_append(g, c);
        g->open++;
        pthread_mutex_unlock(&g->lock);
        *socket_context = c;
        return;
    }
    if (!c) /* MHD_CONNECTION_NOTIFY_CLOSED of an unguarded connection */
        return;
    pthread_mutex_lock(&g->lock);
    list_unlink(g, c);
    g->open--;
    if (c->shut)
        g->shutting--;
    pthread_mutex_unlock(&g->lock);
    free(c);
    *socket_context = NULL;
}

static conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A request's headers are complete: its deadline no longer applies. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    cs_guard *g = cls;
    conn *c = conn_of(mc);
    if (c && c->in_headers) {
        pthread_mutex_lock(&g->lock);
        c->in_headers = false;
        pthread_mutex_unlock(&g->lock);
    }
    return g->handler(g->cls, mc, url, method, version, upload, upload_size, state);
}

/* A response ended: a kept-alive connection reads its next request's
 * headers under a new deadline, and goes to the end of the list. */
static void on_completed(void *cls, struct MHD_Connection *mc, void **state,
                         enum MHD_RequestTerminationCode toe)
{
    cs_guard *g = cls;
    conn *c = conn_of(mc);
    if (g->completed)
        g->completed(g->cls, mc, state, toe);
    if (!c)
        return;
    pthread_mutex_lock(&g->lock);
    c->in_headers = true;
    c->since_ms = now_ms();
    list_unlink(g, c);
    list_append(g, c);
    pthread_mutex_unlock(&g->lock);
}

/* Before libmicrohttpd takes a new connection: past the reserve line, the
 * oldest header sender makes room. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    cs_guard *g = cls;
    (void)addr;
    (void)addrlen;
    pthread_mutex_lock(&g->lock);
    if (g->open - g->shutting + g->lim.reserve >= g->lim.max_connections)
        for (conn *c = g->head; c; c = c->next)
            if (c->in_headers && !c->shut) {
                shut(g, c);
                g->evicted++;
                break;
            }
    pthread_mutex_unlock(&g->lock);
    return MHD_YES;
}

static void *watch(void *arg)
{
    cs_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        int64_t limit = now_ms() - (int64_t)g->lim.header_timeout_s * 1000;
        for (conn *c = g->head; c; c = c->next)
            if (c->in_headers && !c->shut && c->since_ms <= limit) {
                shut(g, c);
                g->timed_out++;
            }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

static int sync_init(cs_guard *g)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int r = pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0)
        return -r;
    pthread_mutex_init(&g->lock, NULL);
    return 0;
}

cs_guard *cs_guard_start(unsigned flags, const cs_guard_limits *limits,
                         MHD_AccessHandlerCallback handler,
                         MHD_RequestCompletedCallback completed, void *cls,
                         const struct MHD_OptionItem *extra)
{
    static const struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
    cs_guard *g = calloc(1, sizeof(*g));
    if (!g || sync_init(g) < 0) {
        free(g);
        errno = ENOMEM;
        return NULL;
    }
    g->lim = *limits;
    g->handler = handler;
    g->completed = completed;
    g->cls = cls;
    g->d = MHD_start_daemon(
        flags, 0, on_accept, g, on_request, g, MHD_OPTION_CONNECTION_LIMIT,
        limits->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, limits->per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, limits->idle_timeout_s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, g, MHD_OPTION_NOTIFY_COMPLETED, on_completed, g, MHD_OPTION_ARRAY,
        extra ? extra : none, MHD_OPTION_END);
    if (!g->d || pthread_create(&g->thread, NULL, watch, g) != 0) {
        int e = g->d ? EAGAIN : errno;
        cs_guard_stop(g);
        errno = e;
        return NULL;
    }
    g->thread_started = true;
    return g;
}

unsigned cs_guard_reserve(unsigned max_connections)
{
    unsigned r = max_connections / 8;
    if (max_connections < 2)
        return 0;
    return r < 1 ? 1 : r > 64 ? 64 : r;
}

struct MHD_Daemon *cs_guard_daemon(cs_guard *g)
{
    return g->d;
}

void cs_guard_stats_get(cs_guard *g, cs_guard_stats *ret)
{
    pthread_mutex_lock(&g->lock);
    *ret = (cs_guard_stats){g->open, g->timed_out, g->evicted};
    pthread_mutex_unlock(&g->lock);
}

void cs_guard_stop(cs_guard *g)
{
    if (!g)
        return;
    if (g->d)
        MHD_stop_daemon(g->d); /* every connection closes, and leaves the list */
    if (g->thread_started) {
        pthread_mutex_lock(&g->lock);
        g->stopping = true;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
