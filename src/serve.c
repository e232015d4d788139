/* serve.c - the report server (see serve.h and docs/reports.md). */
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "guard.h"
#include "log.h"
#include "serve_internal.h"
#include "utf8.h"

/* Counts a request against key's cap.  0, or -EBUSY past the cap (or
 * when every slot is taken, which the job queue's bound prevents). */
int serve_slot_take(serve_server *srv, const char *key, unsigned cap)
{
    int r = -EBUSY;
    serve_slot *free_slot = NULL;
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < srv->nslots; i++) {
        serve_slot *t = &srv->slots[i];
        if (t->n && strcmp(t->key, key) == 0) {
            if (t->n < cap) {
                t->n++;
                r = 0;
            }
            goto out;
        }
        if (!t->n && !free_slot)
            free_slot = t;
    }
    if (free_slot && cap > 0) {
        snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
        free_slot->n = 1;
        r = 0;
    }
out:
    pthread_mutex_unlock(&srv->lock);
    return r;
}

void serve_slot_give(serve_server *srv, const char *key)
{
    if (!key[0])
        return;
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < srv->nslots; i++)
        if (srv->slots[i].n && strcmp(srv->slots[i].key, key) == 0) {
            srv->slots[i].n--;
            break;
        }
    pthread_mutex_unlock(&srv->lock);
}

/* A reply made on libmicrohttpd's thread, without the job threads. */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *path,
                              const char *msg)
{
    serve_request rq = {.path = path};
    serve_request_reply(&rq, status, "text/plain; charset=utf-8", msg);
    if (!rq.resp)
        return MHD_NO;
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(rq.resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, rq.resp);
    MHD_destroy_response(rq.resp);
    return ret;
}

/* The routes, and the query arguments each takes (docs/reports.md). */
static const struct route {
    const char *path;
    serve_route route;
    const char *args[10];
} routes[] = {
    {"/", ROUTE_INDEX, {"period", "page"}},
    {"/reports/chargeback", ROUTE_CHARGEBACK,
     {"period", "from", "to", "customer", "product", "plan", "format", "excel", "version"}},
    {"/reports/focus", ROUTE_FOCUS,
     {"period", "from", "to", "customer", "product", "plan", "format", "excel", "version"}},
    {"/reports/spend", ROUTE_SPEND, {"period", "format", "version", "excel"}},
};

static const struct route *route_of(const char *url)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(url, routes[i].path) == 0)
            return &routes[i];
    return NULL;
}

static bool route_takes(const struct route *rt, const char *key)
{
    for (int i = 0; i < 10 && rt->args[i]; i++)
        if (strcmp(rt->args[i], key) == 0)
            return true;
    return false;
}

/* A control byte (a NUL among them, which %00 decodes to) in n bytes. */
static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

typedef struct collect {
    serve_request *rq;
    const struct route *rt;
} collect;

/* Copies one query argument into the request, or says in rq->bad why not. */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    collect *co = cls;
    serve_request *rq = co->rq;
    (void)kind;
    if (rq->bad[0])
        return MHD_NO;
    if (!cs_utf8_valid(key, key_size) || (value && !cs_utf8_valid(value, value_size)))
        snprintf(rq->bad, sizeof(rq->bad), "a parameter is not valid UTF-8");
    else if (has_control(key, key_size) || (value && has_control(value, value_size)))
        snprintf(rq->bad, sizeof(rq->bad), "a parameter holds a control character");
    else if (!route_takes(co->rt, key))
        snprintf(rq->bad, sizeof(rq->bad), "unknown parameter \"%.60s\"", key);
    else if (serve_request_arg(rq, key))
        snprintf(rq->bad, sizeof(rq->bad), "parameter \"%s\" given twice", key);
    else if (rq->nargs == SERVE_MAX_ARGS)
        snprintf(rq->bad, sizeof(rq->bad), "too many parameters");
    if (rq->bad[0])
        return MHD_NO;
    if (!value || !value_size) /* "?customer=" is no filter, as before */
        return MHD_YES;
    serve_arg *a = &rq->args[rq->nargs];
    if (!(a->key = strdup(key)) || !(a->value = strndup(value, value_size))) {
        free(a->key);
        a->key = NULL;
        snprintf(rq->bad, sizeof(rq->bad), "out of memory");
        return MHD_NO;
    }
    rq->nargs++;
    return MHD_YES;
}

/* The token presented, from a Bearer header or Basic auth's password. */
static char *presented_token(struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        return strdup(h);
    }
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    MHD_free(user);
    if (!pass)
        return NULL;
    char *t = strdup(pass);
    MHD_free(pass);
    return t;
}

static void request_free(serve_request *rq)
{
    if (!rq)
        return;
    for (int i = 0; i < rq->nargs; i++) {
        free(rq->args[i].key);
        free(rq->args[i].value);
    }
    if (rq->token) {
        memset(rq->token, 0, strlen(rq->token));
        free(rq->token);
    }
    if (rq->resp)
        MHD_destroy_response(rq->resp);
    serve_slot_give(rq->srv, rq->token_key);
    serve_slot_give(rq->srv, rq->customer_key);
    free(rq);
}

/* A new request, with everything the job reads copied into it.  NULL
 * without memory; rq->bad says why its arguments are refused. */
static serve_request *request_new(serve_server *srv, struct MHD_Connection *c,
                                  const struct route *rt)
{
    serve_request *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->srv = srv;
    rq->conn = c;
    rq->route = rt->route;
    rq->path = rt->path;
    collect co = {rq, rt};
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, collect_arg, &co);
    rq->token = presented_token(c);
    return rq;
}

static void run_job(void *arg)
{
    serve_request *rq = arg;
    serve_request_run(rq);
    MHD_resume_connection(rq->conn);
}

/* Queues rq on the job threads and suspends its connection.  0, or -EBUSY
 * (queue full, or the server is stopping). */
static int submit(serve_server *srv, serve_request *rq)
{
    int r = -EBUSY;
    pthread_mutex_lock(&srv->lock);
    if (!srv->stopping) {
        MHD_suspend_connection(rq->conn);
        r = cs_jobs_submit(srv->jobs, run_job, rq);
        if (r < 0)
            MHD_resume_connection(rq->conn);
    }
    pthread_mutex_unlock(&srv->lock);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    serve_server *srv = cls;
    serve_request *rq = *state;
    (void)version;
    (void)upload;
    (void)upload_size;
    if (rq) /* the job is done: its reply, or none (out of memory) */
        return rq->resp ? MHD_queue_response(c, rq->status, rq->resp) : MHD_NO;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, url, "only GET and HEAD are supported");
    if (strcmp(url, "/healthz") == 0)
        return answer(c, MHD_HTTP_OK, url, "ok\n");
    const struct route *rt = route_of(url);
    if (!rt)
        return answer(c, MHD_HTTP_NOT_FOUND, url, "not found; see / for the reports");
    if (!(rq = request_new(srv, c, rt)))
        return MHD_NO;
    if (rq->bad[0]) {
        enum MHD_Result ret = answer(c, MHD_HTTP_BAD_REQUEST, rt->path, rq->bad);
        request_free(rq);
        return ret;
    }
    *state = rq; /* freed when the reply has been sent, or the client left */
    if (submit(srv, rq) < 0) {
        *state = NULL;
        request_free(rq);
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, rt->path,
                      "busy: the report server has as many requests waiting as it takes; retry");
    }
    return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request_free(*state);
    *state = NULL;
}

/* The rules whose "products" section names FOCUS service categories; a
 * server without them still serves, with the configuration's categories. */
static cs_rules *load_services_rules(const cs_config *cfg)
{
    cs_rules *rs = NULL;
    cs_errlist errs = {0};
    if (cs_rules_load(cfg->rules_path, &rs, &errs) < 0)
        cs_log(CS_LOG_WARN, "cannot read the rules: FOCUS service categories come from the"
                            " configuration only", "rules", cfg->rules_path, "error",
               errs.n ? errs.items[0] : "?", NULL);
    cs_errlist_free(&errs);
    return rs;
}

/* The PEM certificate and key when serve.tls_cert and serve.tls_key are
 * set (both or neither).  0 (ret_* NULL without TLS), -EINVAL (logged). */
static int load_tls(const cs_config *cfg, char **ret_cert, char **ret_key)
{
    char err[512];
    size_t len;
    *ret_cert = *ret_key = NULL;
    if (!cfg->serve_tls_cert != !cfg->serve_tls_key) {
        cs_log(CS_LOG_ERROR, "give both serve.tls_cert and serve.tls_key, or neither", NULL);
        return -EINVAL;
    }
    if (!cfg->serve_tls_cert)
        return 0;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        cs_log(CS_LOG_ERROR, "this libmicrohttpd has no TLS: serve behind a TLS reverse proxy", NULL);
        return -EINVAL;
    }
    if (cs_file_read(cfg->serve_tls_cert, 1 << 20, ret_cert, &len, err, sizeof(err)) < 0 ||
        cs_file_read(cfg->serve_tls_key, 1 << 20, ret_key, &len, err, sizeof(err)) < 0) {
        cs_log(CS_LOG_ERROR, "cannot read the TLS certificate or key", "error", err, NULL);
        free(*ret_cert);
        *ret_cert = NULL;
        return -EINVAL;
    }
    return 0;
}

/* Tokens must not cross a network in clear text: plain HTTP is served on
 * loopback only, unless serve.allow_plaintext says the network is trusted. */
static int check_plaintext(const cs_config *cfg, const struct sockaddr_in *sa, bool tls)
{
    if (tls || cfg->serve_allow_plaintext || (ntohl(sa->sin_addr.s_addr) >> 24) == 127)
        return 0;
    cs_log(CS_LOG_ERROR,
           "serve.listen is not a loopback address and no serve.tls_cert and serve.tls_key are"
           " set: report tokens would travel in clear text. Give a certificate, or listen on"
           " 127.0.0.1 behind a TLS reverse proxy, or set serve.allow_plaintext = yes on a"
           " trusted network (docs/reports.md)", "listen", cfg->serve_listen, NULL);
    return -EINVAL;
}

/* serve.listen as an IPv4 address.  0 or -EINVAL (logged). */
static int listen_addr(const cs_config *cfg, struct sockaddr_in *sa)
{
    char host[256];
    const char *colon = strrchr(cfg->serve_listen, ':');
    size_t hl = colon ? (size_t)(colon - cfg->serve_listen) : 0;
    if (!colon || hl >= sizeof(host)) {
        cs_log(CS_LOG_ERROR, "serve.listen is not host:port", "value", cfg->serve_listen, NULL);
        return -EINVAL;
    }
    memcpy(host, cfg->serve_listen, hl);
    host[hl] = '\0';
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa->sin_addr) != 1) {
        cs_log(CS_LOG_ERROR, "serve.listen is not an IPv4 host:port", "value", cfg->serve_listen,
               NULL);
        return -EINVAL;
    }
    return 0;
}

/* The pool, the job threads and the slots.  0 or -ENOMEM. */
static int server_init(serve_server *srv, const cs_config *cfg)
{
    char session[160];
    /* Report transactions may not run or stall for ever. */
    snprintf(session, sizeof(session),
             "SET statement_timeout = %d; SET idle_in_transaction_session_timeout = %d",
             cfg->serve_statement_timeout_ms, cfg->serve_idle_tx_timeout_ms);
    srv->cfg = cfg;
    srv->services = (cs_chargeback_services){load_services_rules(cfg), cfg};
    srv->spool_dir = cfg->serve_spool_dir ? cfg->serve_spool_dir
                     : getenv("TMPDIR")   ? getenv("TMPDIR")
                                          : "/var/tmp";
    srv->pool = cs_pool_new(cfg->postgres, (size_t)cfg->serve_db_pool, session);
    /* one job per pool connection; as many again may wait their turn */
    srv->jobs = cs_jobs_new((unsigned)cfg->serve_db_pool, 4 * (unsigned)cfg->serve_db_pool);
    /* a token's and a customer's slot for every request that may be open */
    srv->nslots = 2 * cfg->serve_max_connections;
    srv->slots = calloc((size_t)srv->nslots, sizeof(*srv->slots));
    return srv->pool && srv->jobs && srv->slots ? 0 : -ENOMEM;
}

/* Stops queueing, lets every queued job finish (each resumes its
 * connection), then stops the daemon and frees the rest. */
static void server_stop(serve_server *srv, cs_guard *g)
{
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_mutex_unlock(&srv->lock);
    cs_jobs_free(srv->jobs);
    srv->jobs = NULL;
    if (g) {
        cs_guard_stats st;
        char shut_n[24], evicted_n[24];
        cs_guard_stats_get(g, &st);
        cs_guard_stop(g);
        snprintf(shut_n, sizeof(shut_n), "#%llu", (unsigned long long)st.timed_out);
        snprintf(evicted_n, sizeof(evicted_n), "#%llu", (unsigned long long)st.evicted);
        cs_log(CS_LOG_INFO, "report server stopped", "header_timeouts", shut_n, "evicted",
               evicted_n, NULL);
    }
    cs_pool_free(srv->pool);
    free(srv->slots);
    cs_rules_free((cs_rules *)srv->services.rules);
}

/* Listens with the guard's limits (guard.h).  The guard, or NULL (logged). */
static cs_guard *server_listen(serve_server *srv, struct sockaddr_in *sa, char *cert, char *key)
{
    const cs_config *cfg = srv->cfg;
    /* A few threads serve every connection (epoll) and only move bytes: a
     * client that sends slowly costs a socket, not a thread; PostgreSQL's
     * work runs on the job threads (serve_internal.h). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     (cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, sa},
        {MHD_OPTION_THREAD_POOL_SIZE, cfg->serve_threads, NULL},
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL}};
    cs_guard_limits lim = {(unsigned)cfg->serve_max_connections,
                           cs_guard_reserve((unsigned)cfg->serve_max_connections),
                           (unsigned)cfg->serve_per_ip, (unsigned)cfg->serve_header_timeout_s,
                           (unsigned)cfg->serve_client_timeout_s};
    cs_guard *g = cs_guard_start(flags, &lim, handle, completed, srv, opts);
    if (!g) {
        cs_log(CS_LOG_ERROR, cert ? "cannot listen with TLS (is the certificate and key PEM, and"
                                    " do they match?)"
                                  : "cannot listen",
               "listen", cfg->serve_listen, "error", strerror(errno), NULL);
        return NULL;
    }
    char port[24];
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(cs_guard_daemon(g), MHD_DAEMON_INFO_BIND_PORT);
    snprintf(port, sizeof(port), "#%d", info ? info->port : 0);
    cs_log(CS_LOG_INFO, "serving reports", "listen", cfg->serve_listen, "port", port, "tls",
           cert ? "on" : "off", "spool", srv->spool_dir, NULL);
    return g;
}

int cs_serve_run(const cs_config *cfg, volatile sig_atomic_t *stop)
{
    serve_server srv = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct sockaddr_in sa;
    char *cert = NULL, *key = NULL;
    cs_guard *g = NULL;
    int r;

    if ((r = listen_addr(cfg, &sa)) < 0 || (r = load_tls(cfg, &cert, &key)) < 0 ||
        (r = check_plaintext(cfg, &sa, cert != NULL)) < 0)
        goto out;
    if ((r = server_init(&srv, cfg)) < 0)
        goto out;
    if (!(g = server_listen(&srv, &sa, cert, key))) {
        r = -EIO;
        goto out;
    }
    while (!*stop)
        usleep(100000);
out:
    server_stop(&srv, g);
    free(cert);
    free(key);
    return r;
}
