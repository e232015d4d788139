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

#include "buf.h"
#include "chargeback.h"
#include "file.h"
#include "finance.h"
#include "guard.h"
#include "log.h"
#include "period.h"
#include "pool.h"
#include "reportdb.h"
#include "timestamp.h"
#include "token.h"
#include "utf8.h"

/* Requests in flight per token, for serve.max_requests_per_token. */
typedef struct token_slot {
    char id[CS_TOKEN_ID_LEN + 1];
    unsigned n;
} token_slot;

typedef struct server {
    const cs_config *cfg;
    cs_pool *pool;
    pthread_mutex_t lock; /* guards slots */
    token_slot *slots;    /* serve_db_pool entries: one per possible request */
    cs_chargeback_services services; /* FOCUS service categories (rules, configuration) */
} server;

typedef struct stream_ctx {
    server *srv;
    cs_store *store;
    cs_chargeback *report;
    char token_id[CS_TOKEN_ID_LEN + 1];
    char path[64];
} stream_ctx;

/* Counts a request against its token.  0, or -EBUSY past the cap. */
static int slot_take(server *srv, const char *id)
{
    int r = -EBUSY;
    token_slot *free_slot = NULL;
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < srv->cfg->serve_db_pool; i++) {
        token_slot *t = &srv->slots[i];
        if (t->n && strcmp(t->id, id) == 0) {
            if (t->n < (unsigned)srv->cfg->serve_per_token) {
                t->n++;
                r = 0;
            }
            goto out;
        }
        if (!t->n && !free_slot)
            free_slot = t;
    }
    if (free_slot) { /* a request holds a pool connection, so one is free */
        snprintf(free_slot->id, sizeof(free_slot->id), "%s", id);
        free_slot->n = 1;
        r = 0;
    }
out:
    pthread_mutex_unlock(&srv->lock);
    return r;
}

static void slot_give(server *srv, const char *id)
{
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < srv->cfg->serve_db_pool; i++)
        if (srv->slots[i].n && strcmp(srv->slots[i].id, id) == 0) {
            srv->slots[i].n--;
            break;
        }
    pthread_mutex_unlock(&srv->lock);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"costream reports\"");
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"costream reports (token as password)\"");
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, const char *url,
                            const char *msg)
{
    char code[8];
    snprintf(code, sizeof(code), "#%u", status);
    cs_log(status >= 500 ? CS_LOG_ERROR : CS_LOG_INFO, "request refused", "path", url, "status",
           code, "reason", msg, NULL);
    char body[1024];
    snprintf(body, sizeof(body), "%s\n", msg);
    return reply(c, status, "text/plain; charset=utf-8", body);
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

typedef struct scope {
    int finance;
    char customer[260];
    char token_id[CS_TOKEN_ID_LEN + 1];
} scope;

/* 0 authenticated (*ret filled), 401/503 otherwise. */
static unsigned authenticate(struct MHD_Connection *c, cs_store *store, scope *ret)
{
    unsigned char hash[CS_TOKEN_HASH_LEN], stored[CS_TOKEN_HASH_LEN];
    char kind[16], customer[sizeof(ret->customer)], err[256];
    char *token = presented_token(c);
    int ok = token && cs_token_parse(token, ret->token_id, hash) == 0;
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    if (!ok)
        return MHD_HTTP_UNAUTHORIZED;
    int r = cs_reportdb_token_get(store, ret->token_id, stored, kind, sizeof(kind), customer,
                                  sizeof(customer), err, sizeof(err));
    if (r < 0) {
        cs_log(CS_LOG_ERROR, "token lookup failed", "error", err, NULL);
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    if (r == 0 || !cs_token_hash_equal(hash, stored))
        return MHD_HTTP_UNAUTHORIZED;
    ret->finance = strcmp(kind, "finance") == 0;
    snprintf(ret->customer, sizeof(ret->customer), "%s", customer);
    if (cs_reportdb_token_touch(store, ret->token_id, err, sizeof(err)) < 0)
        cs_log(CS_LOG_WARN, "could not record the token's use", "error", err, NULL);
    return 0;
}

/* The finance page (finance.h): ?period=YYYY-MM (default: the newest
 * period with usage, else this month) and ?page=N of the customers table. */
static enum MHD_Result serve_index(struct MHD_Connection *c, cs_store *store, const scope *sc)
{
    cs_finance_page page = {0};
    cs_buf b = {0};
    char err[256], month[32];
    const char *customer = sc->finance ? NULL : sc->customer;
    const char *period = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "period");
    const char *pg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page");
    int64_t a, z;
    char *end = NULL;
    long n = pg ? strtol(pg, &end, 10) : 1;
    if ((period && (strlen(period) != 7 || cs_timestamp_month(period, &a, &z) < 0)) ||
        (pg && (!*pg || *end || n < 1 || n > 1000000)))
        return fail(c, MHD_HTTP_BAD_REQUEST, "/",
                    "period must be a month such as 2026-11, page a number from 1");
    int r = cs_reportdb_finance_periods(store, customer, &page, err, sizeof(err));
    if (!period) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(month, sizeof(month), "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
        period = page.nperiods ? page.periods[0].period : month;
    }
    if (r == 0)
        r = cs_reportdb_finance_page(store, period, customer, (int)n, &page, err, sizeof(err));
    if (r == 0)
        cs_finance_render(&b, &page);
    enum MHD_Result ret = r < 0    ? fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, "/", "database unavailable")
                          : b.failed ? MHD_NO
                                     : reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", b.data);
    if (r < 0)
        cs_log(CS_LOG_ERROR, "finance page failed", "error", err, NULL);
    cs_buf_free(&b);
    cs_finance_page_clear(&page);
    return ret;
}

/* /reports/spend?period=YYYY-MM&format=csv|json|table: the allocated
 * infrastructure spend (docs/spend.md), a customer token's own rows only.
 * Bounded by customers x products x pools, so built in memory. */
static enum MHD_Result serve_spend(server *srv, struct MHD_Connection *c, cs_store *store,
                                   const scope *sc)
{
    const char *url = "/reports/spend";
    const char *period = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "period");
    const char *format = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    cs_report_format fmt = CS_REPORT_CSV;
    int64_t a, z;
    if (!period || strlen(period) != 7 || cs_timestamp_month(period, &a, &z) < 0)
        return fail(c, MHD_HTTP_BAD_REQUEST, url, "period: give a month such as 2026-11");
    if (format && cs_report_format_parse(format, &fmt) < 0)
        return fail(c, MHD_HTTP_BAD_REQUEST, url, "format: expected csv, json, table or focus");
    const char *version = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "version");
    if (version && (fmt != CS_REPORT_FOCUS || (strcmp(version, "1.4") && strcmp(version, "1.2"))))
        return fail(c, MHD_HTTP_BAD_REQUEST, url, "version: with format=focus, 1.4 (default) or 1.2");
    const char *excel = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "excel");
    if (excel && strcmp(excel, "1") != 0 && strcmp(excel, "0") != 0)
        return fail(c, MHD_HTTP_BAD_REQUEST, url, "excel: 1 (a UTF-8 byte-order mark for Excel) or 0");
    cs_buf b = {0};
    if (excel && strcmp(excel, "1") == 0 && fmt == CS_REPORT_CSV)
        cs_buf_puts(&b, CS_REPORT_BOM);
    char err[256];
    cs_report_meta meta = {.period = period, .from_usec = a, .to_usec = z,
                           .provider = srv->cfg->report_provider,
                           .issuer = srv->cfg->report_issuer, .service = cs_chargeback_service,
                           .opaque = &srv->services,
                           .excel = excel && strcmp(excel, "1") == 0,
                           .focus_version = version && strcmp(version, "1.2") == 0 ? CS_FOCUS_1_2
                                                                                   : CS_FOCUS_1_4};
    int r = cs_reportdb_spend_report(store, period, sc->finance ? NULL : sc->customer, fmt, &meta, &b, err,
                                     sizeof(err));
    enum MHD_Result ret;
    if (r < 0 || b.failed) {
        cs_log(CS_LOG_ERROR, "spend report failed", "error", r < 0 ? err : "out of memory", NULL);
        ret = fail(c, r == -EIO ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR, url,
                   r == -EIO ? "database unavailable" : "the report could not be made");
    } else {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        char disp[96];
        snprintf(disp, sizeof(disp), "attachment; filename=\"costream-spend-%s.%s\"", period,
                 cs_report_extension(fmt));
        if (resp) {
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, cs_report_content_type(fmt));
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
            MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
            ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
            MHD_destroy_response(resp);
        } else {
            ret = MHD_NO;
        }
    }
    cs_buf_free(&b);
    return ret;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx *s = cls;
    char err[512];
    (void)pos;
    ssize_t n = cs_chargeback_read(s->report, buf, max, err, sizeof(err));
    if (n < 0) {
        cs_log(CS_LOG_ERROR, "report aborted mid-stream", "path", s->path, "error", err, NULL);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void stream_free(void *cls)
{
    stream_ctx *s = cls;
    cs_chargeback_close(s->report);
    cs_pool_release(s->srv->pool, s->store);
    slot_give(s->srv, s->token_id);
    free(s);
}

typedef struct args {
    const char *period, *from, *to, *customer, *product, *plan, *format, *excel, *version;
    char bad[128];
} args;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    args *a = cls;
    (void)kind;
    const char **slot = strcmp(key, "period") == 0     ? &a->period
                        : strcmp(key, "from") == 0     ? &a->from
                        : strcmp(key, "to") == 0       ? &a->to
                        : strcmp(key, "customer") == 0 ? &a->customer
                        : strcmp(key, "product") == 0  ? &a->product
                        : strcmp(key, "plan") == 0     ? &a->plan
                        : strcmp(key, "format") == 0   ? &a->format
                        : strcmp(key, "excel") == 0    ? &a->excel
                        : strcmp(key, "version") == 0  ? &a->version
                                                       : NULL;
    if (!slot) {
        if (!a->bad[0])
            snprintf(a->bad, sizeof(a->bad), "unknown parameter \"%.60s\"", key);
        return MHD_YES;
    }
    *slot = value && *value ? value : NULL;
    return MHD_YES;
}

/* Keeps [A-Za-z0-9._-] of s for a file name. */
static void safe_name(char *out, size_t size, const char *s)
{
    size_t o = 0;
    for (; s && *s && o + 1 < size; s++)
        out[o++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                           (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'
                       ? *s
                       : '_';
    out[o] = '\0';
}

static enum MHD_Result serve_report(server *srv, struct MHD_Connection *c, const char *url,
                                    cs_store **store, const scope *sc, int focus)
{
    args a = {0};
    cs_report_format fmt = focus ? CS_REPORT_FOCUS : CS_REPORT_CSV;
    char msg[256], from_buf[CS_TIMESTAMP_STRLEN];
    int64_t from = 0, to = 0;

    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    if (a.bad[0])
        return fail(c, MHD_HTTP_BAD_REQUEST, url, a.bad);
    if (a.format) {
        if (focus && strcmp(a.format, "csv") != 0)
            return fail(c, MHD_HTTP_BAD_REQUEST, url, "format: the FOCUS export is CSV only");
        if (!focus && (cs_report_format_parse(a.format, &fmt) < 0 || fmt == CS_REPORT_FOCUS))
            return fail(c, MHD_HTTP_BAD_REQUEST, url, "format: expected csv, json or table");
    }
    if (a.version && (!focus || (strcmp(a.version, "1.4") != 0 && strcmp(a.version, "1.2") != 0)))
        return fail(c, MHD_HTTP_BAD_REQUEST, url, "version: the FOCUS export is 1.4 (default) or 1.2");
    if (a.excel && strcmp(a.excel, "1") != 0 && strcmp(a.excel, "0") != 0)
        return fail(c, MHD_HTTP_BAD_REQUEST, url, "excel: 1 (a UTF-8 byte-order mark for Excel) or 0");
    if (a.period) {
        if (a.from || a.to)
            return fail(c, MHD_HTTP_BAD_REQUEST, url, "give either period or from and to, not both");
        if (cs_timestamp_month(a.period, &from, &to) < 0) {
            snprintf(msg, sizeof(msg), "period: \"%.*s\" is not a month such as 2026-11",
                     cs_utf8_prefix(a.period, strlen(a.period), 20), a.period);
            return fail(c, MHD_HTTP_BAD_REQUEST, url, msg);
        }
        cs_timestamp_format(from, from_buf, sizeof(from_buf));
    } else {
        if (!a.from || !a.to)
            return fail(c, MHD_HTTP_BAD_REQUEST, url,
                        "missing period: give period=YYYY-MM, or from and to (RFC 3339)");
        if (cs_timestamp_parse(a.from, strlen(a.from), &from) < 0 ||
            cs_timestamp_parse(a.to, strlen(a.to), &to) < 0)
            return fail(c, MHD_HTTP_BAD_REQUEST, url,
                        "from/to: expected RFC 3339 times such as 2026-11-01T00:00:00Z");
        if (from >= to)
            return fail(c, MHD_HTTP_BAD_REQUEST, url, "from must be earlier than to");
    }
    const char *customer = a.customer;
    if (!sc->finance) {
        if (customer && strcmp(customer, sc->customer) != 0)
            return fail(c, MHD_HTTP_FORBIDDEN, url, "this token may only read its own customer's lines");
        customer = sc->customer;
    }
    cs_report_query q = {.period = a.period, .from = a.from, .to = a.to, .customer = customer,
                         .product = a.product, .plan = a.plan};
    cs_report_meta meta = {.period = a.period ? a.period : from_buf, .from_usec = from,
                           .to_usec = to, .provider = srv->cfg->report_provider,
                           .issuer = srv->cfg->report_issuer, .service = cs_chargeback_service,
                           .opaque = &srv->services,
                           .focus_version = a.version && strcmp(a.version, "1.2") == 0 ? CS_FOCUS_1_2
                                                                                     : CS_FOCUS_1_4,
                           .excel = a.excel && strcmp(a.excel, "1") == 0};
    char period_label[80];
    if (!a.period) {
        snprintf(period_label, sizeof(period_label), "%s/%s", a.from, a.to);
        meta.period = period_label;
    }
    stream_ctx *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    snprintf(s->path, sizeof(s->path), "%s", url);
    snprintf(s->token_id, sizeof(s->token_id), "%s", sc->token_id);
    s->srv = srv;
    char who[96];
    snprintf(who, sizeof(who), "token:%s", sc->token_id);
    int r = focus && a.period ? cs_period_record_export(*store, a.period, who, msg, sizeof(msg)) : 0;
    if (r == 0) /* a month whose export was handed out is not reopened lightly (period.h) */
        r = cs_chargeback_open(*store, &q, fmt, &meta, &s->report, msg, sizeof(msg));
    if (r < 0) {
        free(s);
        cs_log(CS_LOG_ERROR, "cannot open report", "error", msg, NULL);
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, url, "database unavailable");
    }
    s->store = *store;
    *store = NULL; /* the stream owns it now, and the token's slot */
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
                                                                  stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        return MHD_NO;
    }
    char fname[256], cust[80] = "", per[80];
    safe_name(per, sizeof(per), meta.period);
    if (customer) {
        cust[0] = '-';
        safe_name(cust + 1, sizeof(cust) - 1, customer);
    }
    snprintf(fname, sizeof(fname), "attachment; filename=\"costream-%s-%s%s.%s\"",
             focus ? "focus" : "chargeback", per, cust, cs_report_extension(fmt));
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, cs_report_content_type(fmt));
    if (fmt != CS_REPORT_TABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, fname);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    cs_log(CS_LOG_INFO, "report", "path", url, "period", meta.period, "scope",
           sc->finance ? "finance" : "customer", "token_id", sc->token_id, NULL);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    server *srv = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return fail(c, MHD_HTTP_METHOD_NOT_ALLOWED, url, "only GET and HEAD are supported");
    if (strcmp(url, "/healthz") == 0)
        return reply(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n");
    int is_index = strcmp(url, "/") == 0;
    int is_chargeback = strcmp(url, "/reports/chargeback") == 0;
    int is_focus = strcmp(url, "/reports/focus") == 0;
    int is_spend = strcmp(url, "/reports/spend") == 0;
    if (!is_index && !is_chargeback && !is_focus && !is_spend)
        return fail(c, MHD_HTTP_NOT_FOUND, url, "not found; see / for the reports");
    cs_store *store = cs_pool_try_acquire(srv->pool);
    if (!store)
        return fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, url,
                    "busy: every database connection of the report server is in use; retry");
    scope sc = {0};
    unsigned st = authenticate(c, store, &sc);
    enum MHD_Result ret;
    if (st == MHD_HTTP_UNAUTHORIZED)
        ret = fail(c, st, url, "a valid token is required (Authorization: Bearer <token>)");
    else if (st)
        ret = fail(c, st, url, "database unavailable");
    else if (slot_take(srv, sc.token_id) < 0)
        ret = fail(c, MHD_HTTP_SERVICE_UNAVAILABLE, url,
                   "busy: this token has as many downloads running as it may (serve.max_requests_per_token); retry");
    else if (is_index || is_spend) {
        ret = is_index ? serve_index(c, store, &sc) : serve_spend(srv, c, store, &sc);
        slot_give(srv, sc.token_id);
    } else {
        ret = serve_report(srv, c, url, &store, &sc, is_focus);
        if (store) /* not handed to a stream */
            slot_give(srv, sc.token_id);
    }
    cs_pool_release(srv->pool, store); /* NULL when a stream took it */
    return ret;
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

int cs_serve_run(const cs_config *cfg, volatile sig_atomic_t *stop)
{
    server srv = {cfg, NULL, PTHREAD_MUTEX_INITIALIZER, NULL, {NULL, cfg}};
    struct sockaddr_in sa;
    char *cert = NULL, *key = NULL, session[160], port[24];
    struct MHD_Daemon *d = NULL;
    cs_guard *g = NULL;
    int r;

    if ((r = listen_addr(cfg, &sa)) < 0 || (r = load_tls(cfg, &cert, &key)) < 0 ||
        (r = check_plaintext(cfg, &sa, cert != NULL)) < 0)
        goto out;
    srv.services.rules = load_services_rules(cfg);
    /* Report transactions may not run or stall for ever: a client that
     * stops reading ends its download, and the connection returns. */
    snprintf(session, sizeof(session),
             "SET statement_timeout = %d; SET idle_in_transaction_session_timeout = %d",
             cfg->serve_statement_timeout_ms, cfg->serve_idle_tx_timeout_ms);
    srv.pool = cs_pool_new(cfg->postgres, (size_t)cfg->serve_db_pool, session);
    srv.slots = calloc((size_t)cfg->serve_db_pool, sizeof(*srv.slots));
    if (!srv.pool || !srv.slots) {
        r = -ENOMEM;
        goto out;
    }
    /* A few threads serve every connection (epoll): a client that sends
     * slowly costs a socket, not a thread, and is dropped when idle, or
     * when its headers are not complete in time (guard.h). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (cert ? MHD_USE_TLS : 0);
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &sa},
        {MHD_OPTION_THREAD_POOL_SIZE, cfg->serve_threads, NULL},
        {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL}};
    cs_guard_limits lim = {(unsigned)cfg->serve_max_connections,
                           cs_guard_reserve((unsigned)cfg->serve_max_connections),
                           (unsigned)cfg->serve_per_ip, (unsigned)cfg->serve_header_timeout_s,
                           (unsigned)cfg->serve_client_timeout_s};
    g = cs_guard_start(flags, &lim, handle, &srv, opts);
    if (!g) {
        cs_log(CS_LOG_ERROR, cert ? "cannot listen with TLS (is the certificate and key PEM, and"
                                    " do they match?)"
                                  : "cannot listen",
               "listen", cfg->serve_listen, "error", strerror(errno), NULL);
        r = -EIO;
        goto out;
    }
    d = cs_guard_daemon(g);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(port, sizeof(port), "#%d", info ? info->port : 0);
    cs_log(CS_LOG_INFO, "serving reports", "listen", cfg->serve_listen, "port", port, "tls",
           cert ? "on" : "off", NULL);
    while (!*stop)
        usleep(100000);
    cs_guard_stats st;
    cs_guard_stats_get(g, &st);
    cs_guard_stop(g);
    char shut_n[24], evicted_n[24];
    snprintf(shut_n, sizeof(shut_n), "#%llu", (unsigned long long)st.timed_out);
    snprintf(evicted_n, sizeof(evicted_n), "#%llu", (unsigned long long)st.evicted);
    cs_log(CS_LOG_INFO, "report server stopped", "header_timeouts", shut_n, "evicted", evicted_n,
           NULL);
out:
    cs_pool_free(srv.pool);
    free(srv.slots);
    free(cert);
    free(key);
    cs_rules_free((cs_rules *)srv.services.rules);
    return r;
}
