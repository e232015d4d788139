/* store.c - PostgreSQL persistence (see store.h).
 *
 * Aggregates go through COPY into a session-local staging table and one
 * INSERT ... ON CONFLICT DO UPDATE that adds them to usage_cost, which costs
 * two round trips per flush whatever the number of rows.  Rejected events are
 * inserted with binary parameters (their raw bytes may be anything).
 * Offsets are advanced last, by compare-and-set; any mismatch rolls the whole
 * transaction back.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "dedup.h"
#include "migrations.h"
#include "pricing.h"
#include "series.h"
#include "store_internal.h"
#include "timestamp.h"
#include "utf8.h"

struct cs_store {
    char *conninfo;
    char *on_connect; /* session settings run after every connect, or NULL */
    PGconn *conn;
    unsigned long connects;
    char sqlstate[6]; /* of the last failure, "" when none was given */
};

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
    free(s);
}

int cs_store_on_connect(cs_store *s, const char *sql)
{
    free(s->on_connect);
    s->on_connect = sql ? strdup(sql) : NULL;
    return !sql || s->on_connect ? 0 : -ENOMEM;
}

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t size, const char *fmt, ...)
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

static void disconnect(cs_store *s)
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
    {"08", -EIO},     /* connection exception */
    {"40", -EIO},     /* serialization failure, deadlock */
    {"53", -EIO},     /* insufficient resources */
    {"55", -EIO},     /* object not in prerequisite state (lock not available) */
    {"57", -EIO},     /* operator intervention: shutdown, cancel, timeouts */
    {"58", -EIO},     /* system error (I/O) */
    {"25", -EIO},     /* invalid transaction state */
    {"28", -EACCES},  /* invalid authorization */
    {"42501", -EACCES}, /* insufficient privilege */
    {"3D", -ENXIO},   /* no such database */
    {"3F", -ENOENT},  /* no such schema */
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
static int fail_res(cs_store *s, const PGresult *res, const char *what, char *err,
                    size_t errsize)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", st ? st : "");
    set_err(err, errsize, "postgres: %s: %s%s%s%s", what,
            s->conn ? PQerrorMessage(s->conn) : "no connection", st ? " (SQLSTATE " : "",
            st ? st : "", st ? ")" : "");
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        disconnect(s);
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
        {"role \"", -EACCES}, /* role "x" does not exist */
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
    disconnect(s);
    s->conn = PQconnectdb(s->conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        const char *msg = s->conn ? PQerrorMessage(s->conn) : "out of memory";
        int r = classify_connect(msg);
        s->sqlstate[0] = '\0';
        set_err(err, errsize, "postgres: connect: %s", msg);
        disconnect(s);
        return r;
    }
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
    if (s->on_connect) {
        PGresult *res = PQexec(s->conn, s->on_connect);
        int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail_res(s, res, "session", err, errsize);
        PQclear(res);
        if (r < 0) {
            disconnect(s);
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
        set_err(err, errsize, "postgres: %s", PQerrorMessage(s->conn));
        PQclear(res);
        if (PQstatus(s->conn) != CONNECTION_OK)
            disconnect(s);
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
    return query_rows(s,
                      "SELECT customer, currency, sum(cost)::text FROM usage_cost"
                      " WHERE hour >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                      " GROUP BY 1, 2",
                      NULL, mtd_row, &c, err, errsize);
}

int cs_store_top_customers(cs_store *s, int limit, void (*row)(void *opaque, const char *customer),
                           void *opaque, char *err, size_t errsize)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit);
    mtd_ctx c = {.top = row, .opaque = opaque};
    return query_rows(s,
                      "SELECT customer FROM usage_cost"
                      " WHERE hour >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                      " GROUP BY 1 ORDER BY sum(cost) DESC, customer LIMIT $1::int",
                      lim, top_row, &c, err, errsize);
}

/* Runs sql expecting status; on failure fills err and returns -EIO.  A
 * broken connection is dropped so that the next call reconnects. */
static int exec_ok(cs_store *s, const char *sql, ExecStatusType want, char *err, size_t errsize)
{
    PGresult *res = PQexec(s->conn, sql);
    int r = PQresultStatus(res) == want ? 0 : fail_res(s, res, "command", err, errsize);
    PQclear(res);
    return r;
}

static void rollback(cs_store *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* Runs a parameterised command (text results); on failure names `what`
 * in err and returns -EIO.  *ret_res (may be NULL) receives the result on
 * success, for the caller to read and PQclear. */
static int exec_params(cs_store *s, const char *sql, int n, const char *const *values,
                       const int *lengths, const int *formats, const char *what,
                       PGresult **ret_res, char *err, size_t errsize)
{
    if (ret_res)
        *ret_res = NULL;
    PGresult *res = PQexecParams(s->conn, sql, n, NULL, values, lengths, formats, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int r = fail_res(s, res, what, err, errsize);
        PQclear(res);
        return r;
    }
    if (ret_res)
        *ret_res = res;
    else
        PQclear(res);
    return 0;
}

int cs_store_migrate(cs_store *s, unsigned *ret_applied, char *err, size_t errsize)
{
    int r;
    *ret_applied = 0;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    if ((r = exec_ok(s,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version text PRIMARY KEY,"
                     " applied_at timestamptz NOT NULL DEFAULT now())",
                     PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    for (unsigned i = 0; i < cs_migrations_count; i++) {
        const cs_migration *m = &cs_migrations[i];
        if ((r = exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0 ||
            (r = exec_ok(s, "SELECT pg_advisory_xact_lock(7461228)", PGRES_TUPLES_OK, err,
                         errsize)) < 0)
            return r;
        const char *params[1] = {m->version};
        PGresult *res = PQexecParams(s->conn,
                                     "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
                                     NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            set_err(err, errsize, "postgres: %s", PQerrorMessage(s->conn));
            PQclear(res);
            rollback(s);
            return -EIO;
        }
        int done = PQntuples(res) > 0;
        PQclear(res);
        if (done) {
            rollback(s);
            continue;
        }
        if ((r = exec_ok(s, m->sql, PGRES_COMMAND_OK, err, errsize)) < 0) {
            char inner[512];
            snprintf(inner, sizeof(inner), "%s", err);
            set_err(err, errsize, "migration %s: %s", m->version, inner);
            rollback(s);
            return r;
        }
        res = PQexecParams(s->conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1,
                           NULL, params, NULL, NULL, 0);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok || (r = exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0) {
            set_err(err, errsize, "migration %s: %s", m->version, PQerrorMessage(s->conn));
            rollback(s);
            return -EIO;
        }
        (*ret_applied)++;
    }
    return 0;
}

int cs_store_check_schema(cs_store *s, char *err, size_t errsize)
{
    int r;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    PGresult *res = PQexec(s->conn, "SELECT version FROM schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        r = fail_res(s, res, "schema_migrations", err, errsize);
        PQclear(res);
        if (r == -ENOENT)
            set_err(err, errsize, "the database has no costream schema: run `costream migrate`");
        return r;
    }
    unsigned missing = 0;
    const char *first = NULL;
    for (unsigned i = 0; i < cs_migrations_count; i++) {
        int found = 0;
        for (int row = 0; row < PQntuples(res) && !found; row++)
            found = strcmp(PQgetvalue(res, row, 0), cs_migrations[i].version) == 0;
        if (!found && !missing++)
            first = cs_migrations[i].version;
    }
    PQclear(res);
    if (missing) {
        set_err(err, errsize,
                "the database lacks %u of costream's %u migrations (first: %s):"
                " run `costream migrate`", missing, cs_migrations_count, first);
        return -ENOENT;
    }
    return 0;
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
        set_err(err, errsize, "postgres: %s", PQerrorMessage(s->conn));
        PQclear(res);
        if (PQstatus(s->conn) != CONNECTION_OK)
            disconnect(s);
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
        case '\\': (*buf)[(*len)++] = '\\'; (*buf)[(*len)++] = '\\'; break;
        case '\t': (*buf)[(*len)++] = '\\'; (*buf)[(*len)++] = 't'; break;
        case '\n': (*buf)[(*len)++] = '\\'; (*buf)[(*len)++] = 'n'; break;
        case '\r': (*buf)[(*len)++] = '\\'; (*buf)[(*len)++] = 'r'; break;
        default: (*buf)[(*len)++] = *s;
        }
    }
}

/* Sends rows of columns to a COPY ... FROM STDIN in progress and ends it.
 * row(i, cols) fills the ncols column texts of row i, or returns 0 to skip
 * it.  Returns 0, -ENOMEM or -EIO. */
#define COPY_CELL 96 /* scratch per column: numbers, timestamps, hex ids */
typedef int (*row_fn)(const void *ctx, size_t i, const char **cols, char (*scratch)[COPY_CELL]);

static int copy_rows(cs_store *s, size_t nrows, size_t ncols, row_fn row, const void *ctx,
                     char *err, size_t errsize)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    const char *cols[24];
    char scratch[24][COPY_CELL];
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
    /* end the COPY in every case, so the connection is usable for ROLLBACK */
    if (PQputCopyEnd(s->conn, r == 0 ? NULL : "costream: aborted") != 1 && r == 0)
        r = -EIO;
    PGresult *res;
    int sent = r;
    while ((res = PQgetResult(s->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0)
            r = fail_res(s, res, "COPY", err, errsize);
        PQclear(res);
    }
    if (sent == -EIO)
        r = fail_res(s, NULL, "COPY", err, errsize);
    return r;
}

static int agg_row(const void *ctx, size_t i, const char **cols, char (*num)[COPY_CELL])
{
    const cs_agg_row *row = cs_agg_row_at(ctx, i);
    if (row->events == 0)
        return 0; /* every event of it was a duplicate */
    cs_timestamp_format(row->key.hour_usec, num[0], CS_DEC_STRLEN);
    cs_dec_format(row->key.unit_price, 12, num[1], CS_DEC_STRLEN);
    cs_dec_format(row->key.discount_rate, 12, num[2], CS_DEC_STRLEN);
    cs_dec_format(row->quantity, 12, num[3], CS_DEC_STRLEN);
    cs_dec_format(row->list_cost, 12, num[4], CS_DEC_STRLEN);
    cs_dec_format(row->discount, 12, num[5], CS_DEC_STRLEN);
    cs_dec_format(row->cost, 12, num[6], CS_DEC_STRLEN);
    snprintf(num[7], CS_DEC_STRLEN, "%" PRId64, row->events);
    const char *c[] = {num[0], row->key.customer, row->key.product, row->key.meter,
                       row->key.rule_id, row->key.rules_version, row->key.plan,
                       row->key.currency, row->key.unit, num[1], num[2], num[3], num[4],
                       num[5], num[6], num[7]};
    memcpy(cols, c, sizeof(c));
    return 1;
}

/* Creates the session's temporary table (create_sql, once per session;
 * its rows vanish at commit) and COPYs rows into it. */
static int stage_rows(cs_store *s, const char *create_sql, const char *copy_sql, size_t nrows,
                      size_t ncols, row_fn row, const void *ctx, char *err, size_t errsize)
{
    int r;
    if ((r = exec_ok(s, create_sql, PGRES_COMMAND_OK, err, errsize)) < 0 ||
        (r = exec_ok(s, copy_sql, PGRES_COPY_IN, err, errsize)) < 0)
        return r;
    return copy_rows(s, nrows, ncols, row, ctx, err, errsize);
}

static int stage_aggregates(cs_store *s, const cs_agg *agg, char *err, size_t errsize)
{
    int r = stage_rows(s,
                       "CREATE TEMP TABLE IF NOT EXISTS cs_stage ("
                       " hour timestamptz, customer text, product text, meter text,"
                       " rule_id text, rules_version text, plan text, currency char(3),"
                       " unit text, unit_price numeric, discount_rate numeric,"
                       " quantity numeric, list_cost numeric, discount numeric,"
                       " cost numeric, events bigint) ON COMMIT DELETE ROWS",
                       "COPY cs_stage FROM STDIN", cs_agg_count(agg), 16, agg_row, agg, err,
                       errsize);
    if (r < 0)
        return r;
    return exec_ok(s,
                   "INSERT INTO usage_cost AS u (billing_period, hour, customer, product, meter,"
                   " rule_id, rules_version, plan, currency, unit, unit_price, discount_rate,"
                   " quantity, list_cost, discount, cost, events)"
                   " SELECT cs_billing_period(hour), hour, customer, product, meter, rule_id,"
                   " rules_version, plan, currency, unit, unit_price, discount_rate, quantity,"
                   " list_cost, discount, cost, events FROM cs_stage"
                   /* one lock order for every worker: no deadlock between flushes */
                   " ORDER BY hour, customer, product, meter, rule_id, rules_version, plan"
                   " ON CONFLICT (billing_period, hour, customer, product, meter, rule_id,"
                   " rules_version, plan)"
                   " DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity,"
                   " list_cost = u.list_cost + EXCLUDED.list_cost,"
                   " discount = u.discount + EXCLUDED.discount,"
                   " cost = u.cost + EXCLUDED.cost,"
                   " events = u.events + EXCLUDED.events, updated_at = now()",
                   PGRES_COMMAND_OK, err, errsize);
}

/* ---- de-duplication fingerprints (sql/0005) ------------------------------ */

static void hour_text(int64_t hour, char *buf, size_t size)
{
    if (hour == CS_DEDUP_ANY_HOUR)
        snprintf(buf, size, "-infinity");
    else
        cs_timestamp_format(hour, buf, size);
}

static int64_t be64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)p[i];
    return (int64_t)v;
}

/* Reads the fingerprint rows of (group, hour) with seq > after, binary. */
static int read_fps(cs_store *s, const char *group, int64_t hour, int64_t after,
                    int (*seen)(void *, const unsigned char *, size_t, int64_t), void *opaque,
                    int64_t *ret_seq, char *err, size_t errsize)
{
    char h[CS_TIMESTAMP_STRLEN], a[24];
    hour_text(hour, h, sizeof(h));
    snprintf(a, sizeof(a), "%" PRId64, after);
    const char *values[3] = {group, h, a};
    PGresult *res = PQexecParams(s->conn,
                                 "SELECT seq, fps FROM event_fingerprints WHERE group_id = $1"
                                 " AND hour = $2::timestamptz AND seq > $3::bigint ORDER BY seq",
                                 3, NULL, values, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int r = fail_res(s, res, "event_fingerprints", err, errsize);
        PQclear(res);
        return r;
    }
    int r = 0;
    *ret_seq = after;
    for (int i = 0; r == 0 && i < PQntuples(res); i++) {
        int64_t seq = be64(PQgetvalue(res, i, 0));
        size_t len = (size_t)PQgetlength(res, i, 1);
        r = seen(opaque, (const unsigned char *)PQgetvalue(res, i, 1), len / CS_DEDUP_FP_LEN, seq);
        *ret_seq = seq;
    }
    PQclear(res);
    return r;
}

int cs_store_dedup_load(cs_store *s, const char *group, int64_t hour, int64_t after,
                        int (*seen)(void *opaque, const unsigned char *fps, size_t n, int64_t seq),
                        void *opaque, int64_t *ret_seq, char *err, size_t errsize)
{
    int r;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    return read_fps(s, group, hour, after, seen, opaque, ret_seq, err, errsize);
}

typedef struct seen_ctx {
    const cs_store_dedup *d;
    int64_t hour;
} seen_ctx;

static int seen_in_flush(void *opaque, const unsigned char *fps, size_t n, int64_t seq)
{
    seen_ctx *c = opaque;
    return c->d->seen(c->d->opaque, c->hour, fps, n, seq);
}

/* Per event hour, under the group's lock for it: takes in what other
 * workers stored since, then stores this batch's new fingerprints. */
static int dedup_flush(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    const cs_store_dedup *d = b->dedup;
    for (size_t i = 0; i < d->nhours; i++) {
        char h[CS_TIMESTAMP_STRLEN], key[24];
        int64_t last;
        int r;
        hour_text(d->hours[i], h, sizeof(h));
        /* hours since the epoch: the lock's second key (int4 until year 247,000) */
        snprintf(key, sizeof(key), "%" PRId64, d->hours[i] / CS_USEC_PER_HOUR);
        const char *lk[2] = {b->group, key};
        seen_ctx c = {d, d->hours[i]};
        if ((r = exec_params(s, "SELECT pg_advisory_xact_lock(hashtext($1), $2::int)", 2, lk,
                             NULL, NULL, "event_fingerprints lock", NULL, err, errsize)) < 0 ||
            (r = read_fps(s, b->group, d->hours[i], d->seen_seq[i], seen_in_flush, &c, &last,
                          err, errsize)) < 0)
            return r;
        const unsigned char *fps;
        size_t n;
        if ((r = d->fresh(d->opaque, d->hours[i], &fps, &n)) < 0)
            return r;
        d->ret_seq[i] = last;
        if (n == 0)
            continue;
        const char *values[3] = {b->group, h, (const char *)fps};
        int lengths[3] = {0, 0, (int)(n * CS_DEDUP_FP_LEN)}, formats[3] = {0, 0, 1};
        PGresult *res;
        if ((r = exec_params(s,
                             "INSERT INTO event_fingerprints (group_id, hour, fps)"
                             " VALUES ($1, $2::timestamptz, $3) RETURNING seq",
                             3, values, lengths, formats, "event_fingerprints", &res, err,
                             errsize)) < 0)
            return r;
        d->ret_seq[i] = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    return 0;
}

int cs_store_dedup_prune(cs_store *s, const char *group, int window_hours, long *ret_deleted,
                         char *err, size_t errsize)
{
    char hours[16];
    int r;
    *ret_deleted = 0;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    snprintf(hours, sizeof(hours), "%d", window_hours);
    const char *params[2] = {group, hours};
    PGresult *res;
    if ((r = exec_params(s,
                         "DELETE FROM event_fingerprints WHERE group_id = $1"
                         " AND created_at < now() - make_interval(hours => $2::int)",
                         2, params, NULL, NULL, "event_fingerprints", &res, err, errsize)) < 0)
        return r;
    *ret_deleted = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static int customer_row(const void *ctx, size_t i, const char **cols, char (*num)[COPY_CELL])
{
    const cs_store_customer *c = &((const cs_store_batch *)ctx)->customers[i];
    (void)num;
    cols[0] = c->id;
    cols[1] = c->name;
    cols[2] = c->plan;
    cols[3] = c->cost_center;
    return 1;
}

static int upsert_customers(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    int r = stage_rows(s,
                       "CREATE TEMP TABLE IF NOT EXISTS cs_customers (id text, name text,"
                       " plan text, cost_center text) ON COMMIT DELETE ROWS",
                       "COPY cs_customers FROM STDIN", b->ncustomers, 4, customer_row, b, err,
                       errsize);
    if (r < 0)
        return r;
    return exec_ok(s,
                   "INSERT INTO customers AS c (id, name, plan, cost_center)"
                   " SELECT DISTINCT ON (id) id, nullif(name, ''), nullif(plan, ''),"
                   " nullif(cost_center, '') FROM cs_customers ORDER BY id"
                   " ON CONFLICT (id) DO UPDATE SET name = coalesce(EXCLUDED.name, c.name),"
                   " plan = coalesce(EXCLUDED.plan, c.plan),"
                   " cost_center = coalesce(EXCLUDED.cost_center, c.cost_center), updated_at = now()"
                   " WHERE (c.name, c.plan, c.cost_center) IS DISTINCT FROM"
                   " (coalesce(EXCLUDED.name, c.name), coalesce(EXCLUDED.plan, c.plan),"
                   " coalesce(EXCLUDED.cost_center, c.cost_center))",
                   PGRES_COMMAND_OK, err, errsize);
}

static void hex32(const unsigned char *id, char *out)
{
    static const char d[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    for (int i = 0; i < 32; i++) {
        out[2 + 2 * i] = d[id[i] >> 4];
        out[3 + 2 * i] = d[id[i] & 15];
    }
    out[66] = '\0';
}

typedef struct sample_ctx {
    const cs_store_batch *b;
} sample_ctx;

static int sample_row(const void *ctx, size_t i, const char **cols, char (*num)[COPY_CELL])
{
    const cs_store_batch *b = ((const sample_ctx *)ctx)->b;
    const cs_store_sample *x = &b->samples[i];
    hex32(x->series_id, num[0]);
    cs_timestamp_format(x->time_usec, num[1], COPY_CELL);
    snprintf(num[2], COPY_CELL, "%" PRId64, x->unit_divisor);
    snprintf(num[3], COPY_CELL, "%" PRId64, x->max_gap_usec);
    cs_dec_format(x->unit_price, 12, num[4], COPY_CELL);
    cs_dec_format(x->discount_rate, 12, num[5], COPY_CELL);
    snprintf(num[6], COPY_CELL, "%" PRId32, x->partition);
    snprintf(num[7], COPY_CELL, "%" PRId64, x->offset);
    const char *c[] = {b->group, num[0], x->series, num[1], x->value, x->special, x->kind, num[2],
                       num[3], x->customer, x->plan, x->product, x->meter, x->rule_id,
                       x->rules_version, x->currency, x->unit, num[4], num[5], x->topic, num[6],
                       num[7]};
    memcpy(cols, c, sizeof(c));
    return 1;
}

/* Stores the batch's metric samples as pending, and advances the watermarks. */
static int insert_samples(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    int r;
    sample_ctx sc = {b};
    if (b->nsamples > 0 &&
        ((r = exec_ok(s,
                      "COPY metric_samples_pending (group_id, series_id, series, ts, value, special,"
                      " kind, unit_divisor, max_gap_us, customer, plan, product, meter, rule_id,"
                      " rules_version, currency, unit, unit_price, discount_rate, topic, partition,"
                      " \"offset\") FROM STDIN",
                      PGRES_COPY_IN, err, errsize)) < 0 ||
         (r = copy_rows(s, b->nsamples, 22, sample_row, &sc, err, errsize)) < 0))
        return r;
    for (size_t i = 0; i < b->nwatermarks; i++) {
        const cs_store_watermark *w = &b->watermarks[i];
        char part[16], ts[CS_TIMESTAMP_STRLEN];
        snprintf(part, sizeof(part), "%" PRId32, w->partition);
        if (w->max_usec >= 0)
            cs_timestamp_format(w->max_usec, ts, sizeof(ts));
        const char *values[4] = {b->group, w->topic, part, w->max_usec >= 0 ? ts : NULL};
        if ((r = exec_params(s,
                             "INSERT INTO metric_watermarks AS w (group_id, topic, partition, max_ts)"
                             " VALUES ($1, $2, $3, $4)"
                             " ON CONFLICT (group_id, topic, partition) DO UPDATE"
                             " SET max_ts = GREATEST(w.max_ts, EXCLUDED.max_ts),"
                             " advanced_at = CASE WHEN EXCLUDED.max_ts > coalesce(w.max_ts, '-infinity')"
                             " THEN now() ELSE w.advanced_at END",
                             4, values, NULL, NULL, "metric_watermarks", NULL, err, errsize)) < 0)
            return r;
    }
    return 0;
}

static int insert_rejects(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    for (size_t i = 0; i < b->nrejects; i++) {
        const cs_store_reject *rj = &b->rejects[i];
        char part[16], off[24], detail[1024];
        cs_utf8_escape(detail, sizeof(detail), rj->detail, strlen(rj->detail), NULL);
        snprintf(part, sizeof(part), "%" PRId32, rj->partition);
        snprintf(off, sizeof(off), "%" PRId64, rj->offset);
        const char *values[8] = {b->group, rj->topic, part, off, rj->reason, detail,
                                 rj->raw, rj->key};
        int lengths[8] = {0, 0, 0, 0, 0, 0, (int)rj->raw_len, (int)rj->key_len};
        int formats[8] = {0, 0, 0, 0, 0, 0, 1, 1};
        int r = exec_params(s,
                            "INSERT INTO rejected_events (group_id, topic, partition,"
                            " \"offset\", reason, detail, raw, msg_key)"
                            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                            8, values, lengths, formats, "rejected_events", NULL, err, errsize);
        if (r < 0)
            return r;
    }
    return 0;
}

static int advance_offsets(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    for (size_t i = 0; i < b->noffsets; i++) {
        const cs_store_offset *o = &b->offsets[i];
        char part[16], next[24], exp[24];
        snprintf(part, sizeof(part), "%" PRId32, o->partition);
        snprintf(next, sizeof(next), "%" PRId64, o->next);
        snprintf(exp, sizeof(exp), "%" PRId64, o->expected);
        const char *values[5] = {b->group, o->topic, part, next, exp};
        PGresult *res;
        int r = o->expected < 0
                    ? exec_params(s,
                                  "INSERT INTO consumer_offsets (group_id, topic, partition,"
                                  " next_offset) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                                  4, values, NULL, NULL, "consumer_offsets", &res, err, errsize)
                    : exec_params(s,
                                  "UPDATE consumer_offsets SET next_offset = $4,"
                                  " updated_at = now() WHERE group_id = $1 AND topic = $2"
                                  " AND partition = $3 AND next_offset = $5",
                                  5, values, NULL, NULL, "consumer_offsets", &res, err, errsize);
        if (r < 0)
            return r;
        int changed = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (!changed) {
            set_err(err, errsize,
                    "fenced: %s [%" PRId32 "] is no longer at offset %" PRId64
                    " in the store (another worker owns it now)",
                    o->topic, o->partition, o->expected);
            return -ESTALE;
        }
    }
    return 0;
}

int cs_store_flush(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    int r;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    if ((r = exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    /* Offsets first: a fenced worker learns it before doing the work, and
     * the row locks serialise two workers racing for one partition. */
    if ((r = advance_offsets(s, b, err, errsize)) < 0 ||
        (b->dedup && b->dedup->nhours > 0 && (r = dedup_flush(s, b, err, errsize)) < 0) ||
        (cs_agg_count(b->agg) > 0 && (r = stage_aggregates(s, b->agg, err, errsize)) < 0) ||
        (b->ncustomers > 0 && (r = upsert_customers(s, b, err, errsize)) < 0) ||
        ((b->nsamples > 0 || b->nwatermarks > 0) && (r = insert_samples(s, b, err, errsize)) < 0) ||
        (r = insert_rejects(s, b, err, errsize)) < 0) {
        rollback(s);
        if (r != -ESTALE && s->conn && PQstatus(s->conn) != CONNECTION_OK)
            disconnect(s);
        return r;
    }
    if ((r = exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    return 0;
}

/* ---- settlement of metric samples --------------------------------------- */

typedef struct settled_series {
    const char *hex;    /* series id, hex digits (inside the query result) */
    const char *series;
    cs_series_state st;
} settled_series;

typedef struct series_list {
    settled_series *items;
    size_t n, cap;
} series_list;

static int series_row(const void *ctx, size_t i, const char **cols, char (*num)[COPY_CELL])
{
    const settled_series *x = &((const series_list *)ctx)->items[i];
    snprintf(num[0], COPY_CELL, "\\x%s", x->hex);
    cs_timestamp_format(x->st.last_usec, num[1], COPY_CELL);
    cs_dec_format(x->st.last_value, 12, num[2], COPY_CELL);
    cols[0] = num[0];
    cols[1] = x->series;
    cols[2] = num[1];
    cols[3] = x->st.has_value ? num[2] : NULL;
    return 1;
}

static int64_t col_i64(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static cs_dec col_dec(PGresult *r, int row, int col)
{
    cs_dec d = cs_dec_zero();
    const char *v = PQgetvalue(r, row, col);
    cs_dec_parse(v, strlen(v), &d);
    return d;
}

/* Applies the settled samples (sorted by series, time) to their series'
 * states, pricing what they charge into agg. */
static int apply_samples(PGresult *res, cs_agg *agg, series_list *out, cs_settle_result *ret)
{
    int n = PQntuples(res);
    for (int i = 0; i < n;) {
        const char *hex = PQgetvalue(res, i, 0);
        settled_series cur = {.hex = hex, .series = PQgetvalue(res, i, 1)};
        if (PQgetvalue(res, i, 18)[0] == 't') {
            cur.st.exists = true;
            cur.st.last_usec = col_i64(res, i, 19);
            cur.st.has_value = !PQgetisnull(res, i, 20);
            if (cur.st.has_value)
                cur.st.last_value = col_dec(res, i, 20);
        }
        for (; i < n && strcmp(PQgetvalue(res, i, 0), hex) == 0; i++) {
            const char *special = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
            cs_sample_special sp = !special                      ? CS_SAMPLE_FINITE
                                   : strcmp(special, "NaN") == 0 ? CS_SAMPLE_NAN
                                   : special[0] == '-'           ? CS_SAMPLE_NEG_INF
                                                                 : CS_SAMPLE_POS_INF;
            cs_metric_kind kind = strcmp(PQgetvalue(res, i, 5), "gauge") == 0
                                      ? CS_METRIC_KIND_GAUGE
                                      : CS_METRIC_KIND_COUNTER;
            int64_t t = col_i64(res, i, 2);
            cs_dec usage, qty;
            cs_series_outcome o = cs_series_apply(&cur.st, kind, col_i64(res, i, 7), t, sp,
                                                  sp == CS_SAMPLE_FINITE ? col_dec(res, i, 3)
                                                                         : cs_dec_zero(),
                                                  &usage);
            ret->outcomes[o]++;
            ret->samples++;
            if (o != CS_SERIES_CHARGED && o != CS_SERIES_RESET)
                continue;
            cs_price p;
            if (cs_dec_div_int(usage, col_i64(res, i, 6), &qty) < 0 ||
                cs_pricing_cost(qty, col_dec(res, i, 16), col_dec(res, i, 17), &p) < 0)
                return -ERANGE;
            cs_agg_key k = {.hour_usec = cs_timestamp_hour(t), .customer = PQgetvalue(res, i, 8),
                            .plan = PQgetvalue(res, i, 9), .product = PQgetvalue(res, i, 10),
                            .meter = PQgetvalue(res, i, 11), .rule_id = PQgetvalue(res, i, 12),
                            .rules_version = PQgetvalue(res, i, 13),
                            .currency = PQgetvalue(res, i, 14), .unit = PQgetvalue(res, i, 15),
                            .unit_price = col_dec(res, i, 16),
                            .discount_rate = p.discount_rate};
            int r = cs_agg_add(agg, &k, qty, p.list_cost, p.discount, p.cost, NULL);
            if (r < 0)
                return r;
        }
        if (cur.st.exists) {
            if (cs_array_reserve(&out->items, &out->cap, out->n + 1, sizeof(*out->items)) < 0)
                return -ENOMEM;
            out->items[out->n++] = cur;
        }
    }
    return 0;
}

int cs_store_settle(cs_store *s, const char *group, const cs_settle_options *o, cs_agg *agg,
                    cs_settle_result *ret, char *err, size_t errsize)
{
    int r;
    PGresult *res = NULL;
    series_list states = {0};
    memset(ret, 0, sizeof(*ret));
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    if ((r = exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    char idle[32], w_text[CS_TIMESTAMP_STRLEN], evict_text[CS_TIMESTAMP_STRLEN];
    snprintf(idle, sizeof(idle), "%.6f", (double)o->idle_usec / 1e6);
    const char *p1[2] = {group, idle};
    if ((r = exec_params(s,
                         "SELECT pg_try_advisory_xact_lock(hashtext('costream-settle:' || $1)),"
                         " (SELECT count(*) FILTER (WHERE max_ts IS NULL) FROM metric_watermarks"
                         "  WHERE group_id = $1"
                         "  AND advanced_at > now() - make_interval(secs => $2::double precision)),"
                         " (SELECT (extract(epoch FROM min(max_ts)) * 1000000)::bigint"
                         "  FROM metric_watermarks WHERE group_id = $1"
                         "  AND advanced_at > now() - make_interval(secs => $2::double precision))",
                         2, p1, NULL, NULL, "settle", &res, err, errsize)) < 0)
        goto fail;
    int locked = PQgetvalue(res, 0, 0)[0] == 't';
    int waiting = atoi(PQgetvalue(res, 0, 1));
    int no_wm = PQgetisnull(res, 0, 2);
    int64_t wm = no_wm ? 0 : col_i64(res, 0, 2) - o->lateness_usec;
    PQclear(res);
    res = NULL;
    if (!locked || waiting > 0 || no_wm) { /* another worker settles, or a partition lags */
        rollback(s);
        return 0;
    }
    ret->watermark_usec = wm;
    cs_timestamp_format(wm, w_text, sizeof(w_text));
    const char *p2[2] = {group, w_text};
    r = exec_params(
        s,
        "WITH d AS (DELETE FROM metric_samples_pending WHERE group_id = $1"
        "           AND ts < $2::timestamptz RETURNING *)"
        " SELECT encode(d.series_id, 'hex'), d.series,"
        " (extract(epoch FROM d.ts) * 1000000)::bigint, d.value::text, d.special, d.kind,"
        " d.unit_divisor, d.max_gap_us, d.customer, d.plan, d.product, d.meter, d.rule_id,"
        " d.rules_version, d.currency, d.unit, d.unit_price::text, d.discount_rate::text,"
        " s.series_id IS NOT NULL, (extract(epoch FROM s.last_ts) * 1000000)::bigint,"
        " s.last_value::text"
        " FROM d LEFT JOIN metric_series s ON s.group_id = d.group_id"
        " AND s.series_id = d.series_id"
        " ORDER BY d.series_id, d.ts, d.topic, d.partition, d.\"offset\"",
        2, p2, NULL, NULL, "settle", &res, err, errsize);
    if (r < 0)
        goto fail;
    if ((r = apply_samples(res, agg, &states, ret)) < 0) {
        snprintf(err, errsize, "settle: %s", r == -ERANGE ? "a cost exceeds 38 digits" : "out of memory");
        goto fail;
    }
    if (cs_agg_count(agg) > 0 && (r = stage_aggregates(s, agg, err, errsize)) < 0)
        goto fail;
    if (states.n > 0) {
        r = stage_rows(s,
                       "CREATE TEMP TABLE IF NOT EXISTS cs_series (series_id bytea, series text,"
                       " last_ts timestamptz, last_value numeric) ON COMMIT DELETE ROWS",
                       "COPY cs_series FROM STDIN", states.n, 4, series_row, &states, err,
                       errsize);
        if (r < 0)
            goto fail;
        const char *p3[1] = {group};
        if ((r = exec_params(s,
                             "INSERT INTO metric_series AS m (group_id, series_id, series,"
                             " last_ts, last_value)"
                             " SELECT $1, series_id, series, last_ts, last_value FROM cs_series"
                             " ON CONFLICT (group_id, series_id) DO UPDATE"
                             " SET last_ts = EXCLUDED.last_ts, last_value = EXCLUDED.last_value,"
                             " updated_at = now()",
                             1, p3, NULL, NULL, "metric_series", NULL, err, errsize)) < 0)
            goto fail;
    }
    /* idle series are forgotten: their next sample is a new baseline */
    cs_timestamp_format(wm - o->evict_usec > 0 ? wm - o->evict_usec : 0, evict_text,
                        sizeof(evict_text));
    const char *p4[2] = {group, evict_text};
    PGresult *e;
    if ((r = exec_params(s,
                         "DELETE FROM metric_series WHERE group_id = $1"
                         " AND last_ts < $2::timestamptz",
                         2, p4, NULL, NULL, "metric_series", &e, err, errsize)) < 0)
        goto fail;
    ret->evicted = strtoull(PQcmdTuples(e), NULL, 10);
    PQclear(e);
    if ((r = exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0)
        goto fail;
    PQclear(res);
    free(states.items);
    ret->settled = 1;
    return 0;
fail:
    PQclear(res);
    free(states.items);
    rollback(s);
    if (s->conn && PQstatus(s->conn) != CONNECTION_OK)
        disconnect(s);
    return r < 0 ? r : -EIO;
}
