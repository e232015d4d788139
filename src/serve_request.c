/* serve_request.c - one report-server request's work, on a job thread
 * (see serve_internal.h for its life, docs/reports.md for the routes).
 * Everything a request reads was copied into it before it was queued; a
 * download is made whole into a spool before its first byte is sent, so
 * nothing here outlives the job but the reply. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "finance.h"
#include "log.h"
#include "period.h"
#include "reportdb.h"
#include "serve_internal.h"
#include "spool.h"
#include "timestamp.h"
#include "utf8.h"

typedef struct scope {
    int finance;
    int sees_spend; /* a customer token that may read its infrastructure spend */
    char customer[260];
    char token_id[CS_TOKEN_ID_LEN + 1];
} scope;

static void add_common_headers(struct MHD_Response *r, unsigned status)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"costream reports\"");
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"costream reports (token as password)\"");
    }
}

void serve_request_reply(serve_request *rq, unsigned status, const char *type, const char *body)
{
    if (status >= 400) {
        char code[16];
        snprintf(code, sizeof(code), "#%u", status);
        cs_log(status >= 500 ? CS_LOG_ERROR : CS_LOG_INFO, "request refused", "path", rq->path,
               "status", code, "reason", body, NULL);
    }
    char text[1024];
    snprintf(text, sizeof(text), status >= 400 ? "%s\n" : "%s", body);
    const char *b = status >= 400 ? text : body;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(b), (void *)b, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    add_common_headers(r, status);
    rq->status = status;
    rq->resp = r;
}

/* A plain-text refusal left in rq.  -1, for the caller to return. */
static int refuse(serve_request *rq, unsigned status, const char *msg)
{
    serve_request_reply(rq, status, "text/plain; charset=utf-8", msg);
    return -1;
}

const char *serve_request_arg(const serve_request *rq, const char *key)
{
    for (int i = 0; i < rq->nargs; i++)
        if (strcmp(rq->args[i].key, key) == 0)
            return rq->args[i].value;
    return NULL;
}

/* 0 authenticated (*ret filled), 401/503 otherwise. */
static unsigned authenticate(serve_request *rq, cs_store *store, scope *ret)
{
    unsigned char hash[CS_TOKEN_HASH_LEN], stored[CS_TOKEN_HASH_LEN];
    char kind[16], customer[sizeof(ret->customer)], err[256];
    if (!rq->token || cs_token_parse(rq->token, ret->token_id, hash) < 0)
        return MHD_HTTP_UNAUTHORIZED;
    int r = cs_reportdb_token_get(store, ret->token_id, stored, kind, sizeof(kind), customer,
                                  sizeof(customer), &ret->sees_spend, err, sizeof(err));
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
static int serve_index(serve_request *rq, cs_store *store, const scope *sc)
{
    cs_finance_page page = {0};
    cs_buf b = {0};
    char err[256], month[32];
    const char *customer = sc->finance ? NULL : sc->customer;
    const char *period = serve_request_arg(rq, "period");
    const char *pg = serve_request_arg(rq, "page");
    int64_t a, z;
    char *end = NULL;
    long n = pg ? strtol(pg, &end, 10) : 1;
    if ((period && (strlen(period) != 7 || cs_timestamp_month(period, &a, &z) < 0)) ||
        (pg && (!*pg || *end || n < 1 || n > 1000000)))
        return refuse(rq, MHD_HTTP_BAD_REQUEST,
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
    page.hide_spend = !sc->finance && !sc->sees_spend;
    if (r == 0)
        cs_finance_render(&b, &page);
    if (r < 0) {
        cs_log(CS_LOG_ERROR, "finance page failed", "error", err, NULL);
        refuse(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    } else if (!b.failed) {
        serve_request_reply(rq, MHD_HTTP_OK, "text/html; charset=utf-8", b.data);
    }
    cs_buf_free(&b);
    cs_finance_page_clear(&page);
    return 0;
}

/* The FOCUS version asked for: 1.4 unless "1.2". */
static cs_focus_version focus_version(const char *v)
{
    return v && strcmp(v, "1.2") == 0 ? CS_FOCUS_1_2 : CS_FOCUS_1_4;
}

static void attach(struct MHD_Response *r, cs_report_format fmt, const char *disposition)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, cs_report_content_type(fmt));
    if (disposition)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disposition);
    add_common_headers(r, MHD_HTTP_OK);
}

/* /reports/spend?period=YYYY-MM&format=csv|json|table|focus: the allocated
 * infrastructure spend (docs/spend.md), a customer token's own rows only.
 * Bounded by customers x products x pools, so built in memory. */
static int serve_spend(serve_request *rq, cs_store *store, const scope *sc)
{
    serve_server *srv = rq->srv;
    const char *period = serve_request_arg(rq, "period");
    const char *format = serve_request_arg(rq, "format");
    const char *version = serve_request_arg(rq, "version");
    const char *excel = serve_request_arg(rq, "excel");
    cs_report_format fmt = CS_REPORT_CSV;
    int64_t a, z;
    if (!sc->finance && !sc->sees_spend)
        return refuse(rq, MHD_HTTP_FORBIDDEN,
                      "this token reads its customer's billing, not the platform's infrastructure"
                      " cost (token create --with-spend allows it)");
    if (!period || strlen(period) != 7 || cs_timestamp_month(period, &a, &z) < 0)
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "period: give a month such as 2026-11");
    if (format && cs_report_format_parse(format, &fmt) < 0)
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "format: expected csv, json, table or focus");
    if (version && (fmt != CS_REPORT_FOCUS || (strcmp(version, "1.4") && strcmp(version, "1.2"))))
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "version: with format=focus, 1.4 (default) or 1.2");
    if (excel && strcmp(excel, "1") != 0 && strcmp(excel, "0") != 0)
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "excel: 1 (a UTF-8 byte-order mark for Excel) or 0");
    bool bom = excel && strcmp(excel, "1") == 0;
    cs_buf b = {0};
    if (bom && fmt == CS_REPORT_CSV)
        cs_buf_puts(&b, CS_REPORT_BOM);
    char err[256];
    cs_report_meta meta = {.period = period, .from_usec = a, .to_usec = z,
                           .provider = srv->cfg->report_provider,
                           .issuer = srv->cfg->report_issuer, .service = cs_chargeback_service,
                           .opaque = &srv->services, .excel = bom,
                           .focus_version = focus_version(version)};
    int r = cs_reportdb_spend_report(store, period, sc->finance ? NULL : sc->customer, fmt, &meta,
                                     &b, err, sizeof(err));
    if (r < 0 || b.failed) {
        cs_log(CS_LOG_ERROR, "spend report failed", "error", r < 0 ? err : "out of memory", NULL);
        refuse(rq, r == -EIO ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
               r == -EIO ? "database unavailable" : "the report could not be made");
    } else {
        char disp[96];
        snprintf(disp, sizeof(disp), "attachment; filename=\"costream-spend-%s.%s\"", period,
                 cs_report_extension(fmt));
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
        if (resp) {
            attach(resp, fmt, disp);
            rq->status = MHD_HTTP_OK;
            rq->resp = resp;
        }
    }
    cs_buf_free(&b);
    return 0;
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

/* A report's query, checked: 0, or a refusal left in rq. */
typedef struct report_req {
    cs_report_format fmt;
    int64_t from, to;
    cs_report_query q;
    char from_buf[CS_TIMESTAMP_STRLEN], label[80];
} report_req;

static int report_check_format(serve_request *rq, int focus, report_req *rr)
{
    const char *format = serve_request_arg(rq, "format");
    const char *version = serve_request_arg(rq, "version");
    const char *excel = serve_request_arg(rq, "excel");
    rr->fmt = focus ? CS_REPORT_FOCUS : CS_REPORT_CSV;
    if (format && focus && strcmp(format, "csv") != 0)
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "format: the FOCUS export is CSV only");
    if (format && !focus && (cs_report_format_parse(format, &rr->fmt) < 0 || rr->fmt == CS_REPORT_FOCUS))
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "format: expected csv, json or table");
    if (version && (!focus || (strcmp(version, "1.4") != 0 && strcmp(version, "1.2") != 0)))
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "version: the FOCUS export is 1.4 (default) or 1.2");
    if (excel && strcmp(excel, "1") != 0 && strcmp(excel, "0") != 0)
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "excel: 1 (a UTF-8 byte-order mark for Excel) or 0");
    return 0;
}

static int report_check_range(serve_request *rq, report_req *rr)
{
    const char *period = serve_request_arg(rq, "period");
    const char *from = serve_request_arg(rq, "from"), *to = serve_request_arg(rq, "to");
    char msg[256];
    if (period) {
        if (from || to)
            return refuse(rq, MHD_HTTP_BAD_REQUEST, "give either period or from and to, not both");
        if (cs_timestamp_month(period, &rr->from, &rr->to) < 0) {
            snprintf(msg, sizeof(msg), "period: \"%.*s\" is not a month such as 2026-11",
                     cs_utf8_prefix(period, strlen(period), 20), period);
            return refuse(rq, MHD_HTTP_BAD_REQUEST, msg);
        }
        cs_timestamp_format(rr->from, rr->from_buf, sizeof(rr->from_buf));
        snprintf(rr->label, sizeof(rr->label), "%s", period);
        return 0;
    }
    if (!from || !to)
        return refuse(rq, MHD_HTTP_BAD_REQUEST,
                      "missing period: give period=YYYY-MM, or from and to (RFC 3339)");
    if (cs_timestamp_parse(from, strlen(from), &rr->from) < 0 ||
        cs_timestamp_parse(to, strlen(to), &rr->to) < 0)
        return refuse(rq, MHD_HTTP_BAD_REQUEST,
                      "from/to: expected RFC 3339 times such as 2026-11-01T00:00:00Z");
    if (rr->from >= rr->to)
        return refuse(rq, MHD_HTTP_BAD_REQUEST, "from must be earlier than to");
    snprintf(rr->label, sizeof(rr->label), "%s/%s", from, to);
    return 0;
}

/* Writes the whole report into a spool.  The spool's descriptor, or a
 * negative errno with err filled (-EFBIG past serve.max_report_bytes). */
static int spool_report(serve_request *rq, cs_store *store, const report_req *rr,
                        const cs_report_meta *meta, uint64_t *ret_size, char *err,
                        size_t errsize)
{
    cs_chargeback *report = NULL;
    cs_spool sp;
    char buf[65536];
    int r = cs_spool_open(&sp, rq->srv->spool_dir, (uint64_t)rq->srv->cfg->serve_max_report_mb << 20);
    if (r < 0) {
        snprintf(err, errsize, "cannot open a spool file in %s: %s", rq->srv->spool_dir, strerror(-r));
        goto out;
    }
    if ((r = cs_chargeback_open(store, &rr->q, rr->fmt, meta, &report, err, errsize)) < 0)
        goto out;
    for (;;) {
        ssize_t n = cs_chargeback_read(report, buf, sizeof(buf), err, errsize);
        if (n <= 0) {
            r = (int)n;
            break;
        }
        if ((r = cs_spool_write(&sp, buf, (size_t)n)) < 0) {
            snprintf(err, errsize, r == -EFBIG ? "the report is larger than serve.max_report_mb"
                                               : "cannot write the spool file: %s", strerror(-r));
            break;
        }
    }
    *ret_size = sp.size;
    if (r == 0)
        r = cs_spool_take(&sp);
out:
    cs_chargeback_close(report);
    cs_spool_done(&sp);
    return r;
}

static void report_reply(serve_request *rq, const report_req *rr, int fd, uint64_t size,
                         const char *customer)
{
    char fname[256], cust[80] = "", per[80];
    int focus = rq->route == ROUTE_FOCUS;
    struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);
    if (!resp) {
        close(fd);
        return;
    }
    safe_name(per, sizeof(per), rr->label);
    if (customer) {
        cust[0] = '-';
        safe_name(cust + 1, sizeof(cust) - 1, customer);
    }
    snprintf(fname, sizeof(fname), "attachment; filename=\"costream-%s-%s%s.%s\"",
             focus ? "focus" : "chargeback", per, cust, cs_report_extension(rr->fmt));
    attach(resp, rr->fmt, rr->fmt != CS_REPORT_TABLE ? fname : NULL);
    rq->status = MHD_HTTP_OK;
    rq->resp = resp;
}

/* /reports/chargeback and /reports/focus: made whole into a spool, then
 * sent with its length. */
static int serve_report(serve_request *rq, cs_store *store, const scope *sc)
{
    serve_server *srv = rq->srv;
    int focus = rq->route == ROUTE_FOCUS;
    report_req rr = {0};
    char msg[512];
    if (report_check_format(rq, focus, &rr) < 0 || report_check_range(rq, &rr) < 0)
        return -1;
    const char *customer = serve_request_arg(rq, "customer");
    if (!sc->finance) {
        if (customer && strcmp(customer, sc->customer) != 0)
            return refuse(rq, MHD_HTTP_FORBIDDEN, "this token may only read its own customer's lines");
        customer = sc->customer;
    }
    const char *period = serve_request_arg(rq, "period"), *version = serve_request_arg(rq, "version");
    const char *excel = serve_request_arg(rq, "excel");
    rr.q = (cs_report_query){.period = period, .from = serve_request_arg(rq, "from"),
                             .to = serve_request_arg(rq, "to"), .customer = customer,
                             .product = serve_request_arg(rq, "product"),
                             .plan = serve_request_arg(rq, "plan")};
    cs_report_meta meta = {.period = period ? period : rr.label, .from_usec = rr.from,
                           .to_usec = rr.to, .provider = srv->cfg->report_provider,
                           .issuer = srv->cfg->report_issuer, .service = cs_chargeback_service,
                           .opaque = &srv->services, .focus_version = focus_version(version),
                           .excel = excel && strcmp(excel, "1") == 0};
    char who[96];
    uint64_t size = 0;
    snprintf(who, sizeof(who), "token:%s", sc->token_id);
    int r = focus && period ? cs_period_record_export(store, period, who, msg, sizeof(msg)) : 0;
    if (r == 0) /* a month whose export was handed out is not reopened lightly (period.h) */
        r = spool_report(rq, store, &rr, &meta, &size, msg, sizeof(msg));
    if (r < 0) {
        cs_log(CS_LOG_ERROR, "report failed", "path", rq->path, "error", msg, NULL);
        return refuse(rq, r == -EFBIG  ? MHD_HTTP_INSUFFICIENT_STORAGE
                          : r == -EIO ? MHD_HTTP_SERVICE_UNAVAILABLE
                                      : MHD_HTTP_INTERNAL_SERVER_ERROR,
                      r == -EFBIG ? "the report is larger than this server sends"
                                    " (serve.max_report_mb): narrow it with from/to, customer or product"
                      : r == -EIO ? "database unavailable"
                                  : "the report could not be made");
    }
    report_reply(rq, &rr, r, size, customer);
    cs_log(CS_LOG_INFO, "report", "path", rq->path, "period", meta.period, "scope",
           sc->finance ? "finance" : "customer", "token_id", sc->token_id, NULL);
    return 0;
}

/* Takes the request's slots: its token's, and its customer's for a
 * customer token.  0, or a refusal left in rq. */
static int take_slots(serve_request *rq, const scope *sc)
{
    serve_server *srv = rq->srv;
    char key[sizeof(rq->token_key)];
    if (serve_slot_take(srv, sc->token_id, (unsigned)srv->cfg->serve_per_token) < 0)
        return refuse(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "busy: this token has as many requests running as it may"
                      " (serve.max_requests_per_token); retry");
    snprintf(rq->token_key, sizeof(rq->token_key), "%s", sc->token_id);
    if (sc->finance)
        return 0;
    snprintf(key, sizeof(key), "c:%s", sc->customer);
    if (serve_slot_take(srv, key, (unsigned)srv->cfg->serve_per_customer) < 0)
        return refuse(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "busy: this customer has as many requests running as it may"
                      " (serve.max_requests_per_customer); retry");
    snprintf(rq->customer_key, sizeof(rq->customer_key), "%s", key);
    return 0;
}

/* Customer tokens leave serve.db_pool_finance_reserve connections free. */
static int customer_may_use_pool(const serve_server *srv)
{
    size_t size = (size_t)srv->cfg->serve_db_pool, reserve = (size_t)srv->cfg->serve_finance_reserve;
    return reserve >= size || cs_pool_in_use(srv->pool) <= size - reserve;
}

void serve_request_run(serve_request *rq)
{
    serve_server *srv = rq->srv;
    cs_store *store = cs_pool_try_acquire(srv->pool);
    scope sc = {0};
    if (!store) {
        refuse(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
               "busy: every database connection of the report server is in use; retry");
        return;
    }
    unsigned st = authenticate(rq, store, &sc);
    if (st == MHD_HTTP_UNAUTHORIZED)
        refuse(rq, st, "a valid token is required (Authorization: Bearer <token>)");
    else if (st)
        refuse(rq, st, "database unavailable");
    else if (!sc.finance && !customer_may_use_pool(srv))
        refuse(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
               "busy: the database connections customers may use are in use; retry");
    else if (take_slots(rq, &sc) == 0) {
        if (rq->route == ROUTE_INDEX)
            serve_index(rq, store, &sc);
        else if (rq->route == ROUTE_SPEND)
            serve_spend(rq, store, &sc);
        else
            serve_report(rq, store, &sc);
    }
    cs_pool_release(srv->pool, store);
}
