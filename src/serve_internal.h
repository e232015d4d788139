/* serve_internal.h - what serve.c (the daemon: connections, threads,
 * limits) and serve_request.c (one request's work against PostgreSQL)
 * share.  Not part of costream's interface.
 *
 * A request's life: libmicrohttpd's thread reads its headers, checks the
 * method and the path, copies the query's arguments and the presented
 * token into a serve_request it owns, suspends the connection and queues
 * the request on the job threads (jobs.h).  A job thread authenticates,
 * takes the limits' slots, does the work (a download is spooled whole,
 * spool.h, so no database connection waits on a slow reader), leaves the
 * reply in the request and resumes the connection.  libmicrohttpd's
 * thread then queues the reply; when it has been sent, or the client
 * left, the completion callback gives the slots back and frees the
 * request.  The request is touched by one thread at a time: the hand-overs
 * are the queue and MHD_resume_connection().
 */
#ifndef CS_SERVE_INTERNAL_H
#define CS_SERVE_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>

#include "chargeback.h"
#include "config.h"
#include "jobs.h"
#include "pool.h"
#include "token.h"

typedef enum serve_route {
    ROUTE_INDEX,
    ROUTE_CHARGEBACK,
    ROUTE_FOCUS,
    ROUTE_SPEND,
} serve_route;

/* Requests in flight per key (a token's id, or "c:" and a customer). */
typedef struct serve_slot {
    char key[CS_TOKEN_ID_LEN + 264];
    unsigned n;
} serve_slot;

typedef struct serve_server {
    const cs_config *cfg;
    cs_pool *pool;
    cs_jobs *jobs;
    pthread_mutex_t lock; /* guards slots and stopping */
    serve_slot *slots;    /* 2 x serve.db_pool + 2 x the job queue */
    int nslots;
    bool stopping;        /* no request is queued any more */
    cs_chargeback_services services; /* FOCUS service categories (rules, configuration) */
    const char *spool_dir;
} serve_server;

typedef struct serve_arg {
    char *key, *value;
} serve_arg;

#define SERVE_MAX_ARGS 16

typedef struct serve_request {
    serve_server *srv;
    struct MHD_Connection *conn;
    serve_route route;
    const char *path; /* the route's, static */
    serve_arg args[SERVE_MAX_ARGS];
    int nargs;
    char bad[160];    /* why an argument was refused while copying, or "" */
    char *token;      /* as presented (wiped when freed), or NULL */
    /* the reply, left by the job */
    unsigned status;
    struct MHD_Response *resp;
    /* held until the reply has been sent */
    char token_key[sizeof(((serve_slot *)0)->key)];
    char customer_key[sizeof(((serve_slot *)0)->key)];
} serve_request;

/* The job: authenticates, does rq's work and leaves the reply in rq. */
void serve_request_run(serve_request *rq);

/* A reply of status with body (copied) in rq.  Logs refusals (4xx, 5xx). */
void serve_request_reply(serve_request *rq, unsigned status, const char *type, const char *body);

/* The value of argument key, or NULL. */
const char *serve_request_arg(const serve_request *rq, const char *key);

/* Counts a request against key's cap.  0, or -EBUSY past it. */
int serve_slot_take(serve_server *srv, const char *key, unsigned cap);
void serve_slot_give(serve_server *srv, const char *key); /* "" allowed: nothing */

#endif
