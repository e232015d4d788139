/* store.c - PostgreSQL persistence (see store.h): the connection, error
 * classification by SQLSTATE, the parameterised-command and COPY helpers
 * the other store_*.c files share (store_internal.h), the month-to-date
 * queries and stored offsets.  The flush is store_flush.c, migrations
 * store_migrate.c, settlement store_settle.c.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "utf8.h"

cs_store *cs_store_new(const char *conninfo)
{
    cs_store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->conninfo = strdup(conninfo);
    if (!s->conninfo) {
        free(s);
        return NULL;
    }
    return s;
}

void cs_store_free(cs_store *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    free(s->conninfo);
    free(s->on_connect);
    cs_buf_free(&s->copy);
    free(s);
}

int cs_store_on_connect(cs_store *s, const char *sql)
{
    free(s->on_connect);
    s->on_connect = sql ? strdup(sql) : NULL;
    return !sql || s->on_connect ? 0 : -ENOMEM;
}

void cs__store_set_err(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (!err || !size)
        return;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    size_t n = strlen(err);
    while (n && err[n - 1] == '\n')
        err[--n] = '\0';
}

void cs__store_disconnect(cs_store *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
}

/* SQLSTATE classes and what they mean for the caller (store.h): retry
 * later, fix the configuration, or isolate the data.  Anything not listed
 * depends on the data. */
static const struct {
    const char *prefix;
    int code;
} sqlstate_classes[] = {
    {"08", -EIO},       /* connection exception */
    {"40", -EIO},       /* serialization failure, deadlock */
    {"53", -EIO},       /* insufficient resources */
    {"55", -EIO},       /* object not in prerequisite state (lock not available) */
    {"57", -EIO},       /* operator intervention: shutdown, cancel, timeouts */
    {"58", -EIO},       /* system error (I/O) */
    {"25", -EIO},       /* invalid transaction state */
    {"28", -EACCES},    /* invalid authorization */
    {"42501", -EACCES}, /* insufficient privilege */
    {"3D", -ENXIO},     /* no such database */
    {"3F", -ENOENT},    /* no such schema */
    {"42P01", -ENOENT}, /* undefined table: not migrated */
    {"42703", -ENOENT}, /* undefined column: not migrated */
    {"42883", -ENOENT}, /* undefined function: not migrated */
};

int cs_store_classify(const char *sqlstate)
{
    if (!sqlstate || !*sqlstate)
        return -EIO;
    int best = -EBADMSG;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof(sqlstate_classes) / sizeof(sqlstate_classes[0]); i++) {
        size_t n = strlen(sqlstate_classes[i].prefix);
        if (n > best_len && strncmp(sqlstate, sqlstate_classes[i].prefix, n) == 0) {
            best = sqlstate_classes[i].code;
            best_len = n;
        }
    }
    return best;
}

/* Records a failed command: err gets "postgres: what: message (SQLSTATE
 * x)", a broken connection is dropped, and the result is the class of the
 * error (cs_store_classify). */
int cs__store_fail(cs_store *s, const PGresult *res, const char *what, char *err, size_t errsize)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", st ? st : "");
    cs__store_set_err(err, errsize, "postgres: %s: %s%s%s%s", what,
                      s->conn ? PQerrorMessage(s->conn) : "no connection", st ? " (SQLSTATE " : "",
                      st ? st : "", st ? ")" : "");
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        cs__store_disconnect(s);
        return -EIO;
    }
    return cs_store_classify(st);
}

const char *cs_store_sqlstate(const cs_store *s)
{
    return s->sqlstate;
}

/* A failed connection attempt carries no SQLSTATE in libpq; the server's
 * FATAL message tells a permanent refusal from a passing one. */
static int classify_connect(const char *msg)
{
    static const struct {
        const char *text;
        int code;
    } permanent[] = {
        {"password authentication failed", -EACCES},
        {"authentication failed", -EACCES},
        {"no pg_hba.conf entry", -EACCES},
        {"no password supplied", -EACCES},
        {"role \"", -EACCES},    /* role "x" does not exist */
        {"database \"", -ENXIO}, /* database "x" does not exist */
        {"invalid connection option", -EINVAL},
        {"invalid URI", -EINVAL},
        {"missing \"=\" after", -EINVAL},
    };
    for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
        if (strstr(msg, permanent[i].text))
            return permanent[i].code;
    return -EIO;
}

int cs_store_connect(cs_store *s, char *err, size_t errsize)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    cs__store_disconnect(s);
    s->conn = PQconnectdb(s->conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        const char *msg = s->conn ? PQerrorMessage(s->conn) : "out of memory";
        int r = classify_connect(msg);
        s->sqlstate[0] = '\0';
        cs__store_set_err(err, errsize, "postgres: connect: %s", msg);
        cs__store_disconnect(s);
        return r;
    }
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
    if (s->on_connect) {
        PGresult *res = PQexec(s->conn, s->on_connect);
        int r = PQresultStatus(res) == PGRES_COMMAND_OK
                    ? 0
                    : cs__store_fail(s, res, "session", err, errsize);
        PQclear(res);
        if (r < 0) {
            cs__store_disconnect(s);
            return r;
        }
    }
    s->connects++;
    return 0;
}

PGconn *cs_store_conn(cs_store *s, char *err, size_t errsize)
{
    return cs_store_connect(s, err, errsize) == 0 ? s->conn : NULL;
}

unsigned long cs_store_reconnects(const cs_store *s)
{
    return s->connects ? s->connects - 1 : 0;
}

/* Runs a parameterless query and hands each row's text columns to fn. */
static int query_rows(cs_store *s, const char *sql, const char *param,
                      void (*fn)(void *ctx, PGresult *res, int row), void *ctx, char *err,
                      size_t errsize)
{
    int r;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    const char *params[1] = {param};
    PGresult *res = PQexecParams(s->conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cs__store_set_err(err, errsize, "postgres: %s", PQerrorMessage(s->conn));
        PQclear(res);
        if (PQstatus(s->conn) != CONNECTION_OK)
            cs__store_disconnect(s);
        return -EIO;
    }
    for (int i = 0; i < PQntuples(res); i++)
        fn(ctx, res, i);
    PQclear(res);
    return 0;
}

typedef struct mtd_ctx {
    void (*row)(void *, const char *, const char *, const char *);
    void (*top)(void *, const char *);
    void *opaque;
} mtd_ctx;

static void mtd_row(void *ctx, PGresult *res, int i)
{
    mtd_ctx *c = ctx;
    c->row(c->opaque, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
}

static void top_row(void *ctx, PGresult *res, int i)
{
    mtd_ctx *c = ctx;
    c->top(c->opaque, PQgetvalue(res, i, 0));
}

int cs_store_month_to_date(cs_store *s,
                           void (*row)(void *opaque, const char *customer, const char *currency,
                                       const char *cost),
                           void *opaque, char *err, size_t errsize)
{
    mtd_ctx c = {.row = row, .opaque = opaque};
    return query_rows(
        s,
        "SELECT customer, currency, sum(cost)::text FROM usage_cost"
        " WHERE hour >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        " GROUP BY 1, 2",
        NULL, mtd_row, &c, err, errsize);
}

int cs_store_spend_totals(cs_store *s,
                          void (*row)(void *opaque, const char *customer, const char *currency,
                                      const char *cost),
                          void *opaque, char *err, size_t errsize)
{
    mtd_ctx c = {.row = row, .opaque = opaque};
    return query_rows(s,
                      "SELECT customer, currency, sum(amount)::text FROM spend_allocations"
                      " GROUP BY 1, 2",
                      NULL, mtd_row, &c, err, errsize);
}

int cs_store_top_customers(cs_store *s, int limit, void (*row)(void *opaque, const char *customer),
                           void *opaque, char *err, size_t errsize)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    mtd_ctx c = {.top = row, .opaque = opaque};
    return query_rows(
        s,
        "SELECT customer FROM usage_cost"
        " WHERE hour >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        " GROUP BY 1 ORDER BY sum(cost) DESC, customer LIMIT $1::int",
        lim, top_row, &c, err, errsize);
}

/* Runs sql expecting status; on failure fills err and returns -EIO.  A
 * broken connection is dropped so that the next call reconnects. */
int cs__store_exec_ok(cs_store *s, const char *sql, ExecStatusType want, char *err, size_t errsize)
{
    PGresult *res = PQexec(s->conn, sql);
    int r = PQresultStatus(res) == want ? 0 : cs__store_fail(s, res, "command", err, errsize);
    PQclear(res);
    return r;
}

void cs__store_rollback(cs_store *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* Runs a parameterised command (text results); on failure names `what`
 * in err and returns -EIO.  *ret_res (may be NULL) receives the result on
 * success, for the caller to read and PQclear. */
static int exec_params(cs_store *s, const char *sql, int n, const char *const *values,
                       const int *lengths, const int *formats, int result_format,
                       const char *what, PGresult **ret_res, char *err, size_t errsize)
{
    if (ret_res)
        *ret_res = NULL;
    PGresult *res = PQexecParams(s->conn, sql, n, NULL, values, lengths, formats, result_format);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int r = cs__store_fail(s, res, what, err, errsize);
        PQclear(res);
        return r;
    }
    if (ret_res)
        *ret_res = res;
    else
        PQclear(res);
    return 0;
}

int cs__store_exec_params(cs_store *s, const char *sql, int n, const char *const *values,
                          const int *lengths, const int *formats, const char *what,
                          PGresult **ret_res, char *err, size_t errsize)
{
    return exec_params(s, sql, n, values, lengths, formats, 0, what, ret_res, err, errsize);
}

int cs__store_query_binary(cs_store *s, const char *sql, int n, const char *const *values,
                           const char *what, PGresult **ret_res, char *err, size_t errsize)
{
    return exec_params(s, sql, n, values, NULL, NULL, 1, what, ret_res, err, errsize);
}

int cs_store_load_offsets(cs_store *s, const char *group, const char *topic,
                          const int32_t *partitions, size_t n, int64_t *ret_offsets, char *err,
                          size_t errsize)
{
    int r;
    for (size_t i = 0; i < n; i++)
        ret_offsets[i] = -1;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    const char *params[2] = {group, topic};
    PGresult *res = PQexecParams(s->conn,
                                 "SELECT partition, next_offset FROM consumer_offsets"
                                 " WHERE group_id = $1 AND topic = $2",
                                 2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cs__store_set_err(err, errsize, "postgres: %s", PQerrorMessage(s->conn));
        PQclear(res);
        if (PQstatus(s->conn) != CONNECTION_OK)
            cs__store_disconnect(s);
        return -EIO;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        int32_t p = (int32_t)strtol(PQgetvalue(res, row, 0), NULL, 10);
        int64_t off = strtoll(PQgetvalue(res, row, 1), NULL, 10);
        for (size_t i = 0; i < n; i++)
            if (partitions[i] == p)
                ret_offsets[i] = off;
    }
    PQclear(res);
    return 0;
}

/* Appends s to buf in COPY text format (backslash escapes), followed by
 * the column separator sep.  Text that is not valid UTF-8 is written in
 * its escaped form (utf8.h), so that no value can make PostgreSQL refuse
 * the batch.  Returns 0 or -ENOMEM. */
static int copy_text(char **buf, size_t *len, size_t *cap, const char *s, char sep)
{
    size_t n = strlen(s);
    if (!cs_utf8_valid(s, n)) {
        char *fixed = malloc(4 * n + 1);
        if (!fixed)
            return -ENOMEM;
        cs_utf8_escape(fixed, 4 * n + 1, s, n, NULL);
        int r = copy_text(buf, len, cap, fixed, sep);
        free(fixed);
        return r;
    }
    for (;; s++) {
        if (*len + 3 > *cap) {
            size_t ncap = *cap * 2 + 64;
            char *nb = realloc(*buf, ncap);
            if (!nb)
                return -ENOMEM;
            *buf = nb;
            *cap = ncap;
        }
        if (!*s) {
            (*buf)[(*len)++] = sep;
            return 0;
        }
        switch (*s) {
        case '\\':
            (*buf)[(*len)++] = '\\';
            (*buf)[(*len)++] = '\\';
            break;
        case '\t':
            (*buf)[(*len)++] = '\\';
            (*buf)[(*len)++] = 't';
            break;
        case '\n':
            (*buf)[(*len)++] = '\\';
            (*buf)[(*len)++] = 'n';
            break;
        case '\r':
            (*buf)[(*len)++] = '\\';
            (*buf)[(*len)++] = 'r';
            break;
        default: (*buf)[(*len)++] = *s;
        }
    }
}

/* Sends rows of columns to a COPY ... FROM STDIN in progress and ends it.
 * row(i, cols) fills the ncols column texts of row i, or returns 0 to skip
 * it.  Returns 0, -ENOMEM or -EIO. */
#define CS__STORE_CELL 96 /* scratch per column: numbers, timestamps, hex ids */
typedef int (*cs__store_row_fn)(const void *ctx, size_t i, const char **cols,
                                char (*scratch)[CS__STORE_CELL]);

static int copy_end(cs_store *s, int r, char *err, size_t errsize);

int cs__store_copy_rows(cs_store *s, size_t nrows, size_t ncols, cs__store_row_fn row,
                        const void *ctx, char *err, size_t errsize)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    const char *cols[24];
    char scratch[24][CS__STORE_CELL];
    int r = buf ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < nrows; i++) {
        if (!row(ctx, i, cols, scratch))
            continue;
        for (size_t c = 0; r == 0 && c < ncols; c++) {
            char sep = c + 1 < ncols ? '\t' : '\n';
            if (cols[c]) {
                r = copy_text(&buf, &len, &cap, cols[c], sep);
            } else if ((r = copy_text(&buf, &len, &cap, "", '\\')) == 0) {
                /* NULL is \N: the backslash came as the "separator" above */
                r = copy_text(&buf, &len, &cap, "N", sep);
            }
        }
        if (r == 0 && len > (1 << 20)) {
            if (PQputCopyData(s->conn, buf, (int)len) != 1)
                r = -EIO;
            len = 0;
        }
    }
    if (r == 0 && len > 0 && PQputCopyData(s->conn, buf, (int)len) != 1)
        r = -EIO;
    free(buf);
    return copy_end(s, r, err, errsize);
}

int cs__store_copy_data(cs_store *s, const char *data, size_t len, char *err, size_t errsize)
{
    int r = 0;
    for (size_t o = 0; r == 0 && o < len; o += 1 << 20) {
        size_t n = len - o < (1u << 20) ? len - o : 1u << 20;
        if (PQputCopyData(s->conn, data + o, (int)n) != 1)
            r = -EIO;
    }
    return copy_end(s, r, err, errsize);
}

/* Ends a COPY FROM STDIN whose data went with result r so far (aborting
 * it when r < 0, so the connection is usable for ROLLBACK) and collects the
 * server's verdict.  0 or an error class. */
static int copy_end(cs_store *s, int r, char *err, size_t errsize)
{
    if (PQputCopyEnd(s->conn, r == 0 ? NULL : "costream: aborted") != 1 && r == 0)
        r = -EIO;
    PGresult *res;
    int sent = r;
    while ((res = PQgetResult(s->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0)
            r = cs__store_fail(s, res, "COPY", err, errsize);
        PQclear(res);
    }
    if (sent == -EIO)
        r = cs__store_fail(s, NULL, "COPY", err, errsize);
    return r;
}

/* Creates the session's temporary table (create_sql, once per session;
 * its rows vanish at commit) and COPYs rows into it. */
int cs__store_stage_rows(cs_store *s, const char *create_sql, const char *copy_sql, size_t nrows,
                         size_t ncols, cs__store_row_fn row, const void *ctx, char *err,
                         size_t errsize)
{
    int r;
    if ((r = cs__store_exec_ok(s, create_sql, PGRES_COMMAND_OK, err, errsize)) < 0 ||
        (r = cs__store_exec_ok(s, copy_sql, PGRES_COPY_IN, err, errsize)) < 0)
        return r;
    return cs__store_copy_rows(s, nrows, ncols, row, ctx, err, errsize);
}

cs_dec cs__store_dec(const PGresult *r, int row, int col)
{
    cs_dec d = cs_dec_zero();
    if (!PQgetisnull(r, row, col)) {
        const char *v = PQgetvalue(r, row, col);
        cs_dec_parse(v, strlen(v), &d);
    }
    return d;
}

int64_t cs__store_i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}
