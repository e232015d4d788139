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

#include "migrations.h"
#include "store_internal.h"
#include "timestamp.h"

struct cs_store {
    char *conninfo;
    PGconn *conn;
    unsigned long connects;
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
    free(s);
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

int cs_store_connect(cs_store *s, char *err, size_t errsize)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    disconnect(s);
    s->conn = PQconnectdb(s->conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        set_err(err, errsize, "postgres: connect: %s", PQerrorMessage(s->conn));
        disconnect(s);
        return -EIO;
    }
    PQclear(PQexec(s->conn, "SET client_min_messages = warning"));
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
    int ok = PQresultStatus(res) == want;
    if (!ok) {
        set_err(err, errsize, "postgres: %s", PQerrorMessage(s->conn));
        if (PQstatus(s->conn) != CONNECTION_OK)
            disconnect(s);
    }
    PQclear(res);
    return ok ? 0 : -EIO;
}

static void rollback(cs_store *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        PQclear(PQexec(s->conn, "ROLLBACK"));
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
 * the column separator sep.  Returns 0 or -ENOMEM. */
static int copy_text(char **buf, size_t *len, size_t *cap, const char *s, char sep)
{
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
typedef int (*row_fn)(const void *ctx, size_t i, const char **cols, char (*scratch)[CS_DEC_STRLEN]);

static int copy_rows(cs_store *s, size_t nrows, size_t ncols, row_fn row, const void *ctx,
                     char *err, size_t errsize)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    const char *cols[24];
    char scratch[24][CS_DEC_STRLEN];
    int r = buf ? 0 : -ENOMEM;

    for (size_t i = 0; r == 0 && i < nrows; i++) {
        if (!row(ctx, i, cols, scratch))
            continue;
        for (size_t c = 0; r == 0 && c < ncols; c++)
            r = copy_text(&buf, &len, &cap, cols[c], c + 1 < ncols ? '\t' : '\n');
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
    while ((res = PQgetResult(s->conn))) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && r == 0)
            r = -EIO;
        PQclear(res);
    }
    if (r == -EIO)
        set_err(err, errsize, "postgres: COPY: %s", PQerrorMessage(s->conn));
    return r;
}

static int agg_row(const void *ctx, size_t i, const char **cols, char (*num)[CS_DEC_STRLEN])
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
                   " ON CONFLICT (billing_period, hour, customer, product, meter, rule_id,"
                   " rules_version, plan)"
                   " DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity,"
                   " list_cost = u.list_cost + EXCLUDED.list_cost,"
                   " discount = u.discount + EXCLUDED.discount,"
                   " cost = u.cost + EXCLUDED.cost,"
                   " events = u.events + EXCLUDED.events, updated_at = now()",
                   PGRES_COMMAND_OK, err, errsize);
}

static int id_row(const void *ctx, size_t i, const char **cols, char (*num)[CS_DEC_STRLEN])
{
    const cs_store_batch *b = ctx;
    snprintf(num[0], CS_DEC_STRLEN, "%zu", i);
    cols[0] = num[0];
    cols[1] = b->ids[i].source;
    cols[2] = b->ids[i].id;
    return 1;
}

/* Records the batch's event ids; tells the caller which are duplicates. */
static int dedup_ids(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    int r = stage_rows(s,
                       "CREATE TEMP TABLE IF NOT EXISTS cs_ids (ord integer, source text, id text)"
                       " ON COMMIT DELETE ROWS",
                       "COPY cs_ids FROM STDIN", b->nids, 3, id_row, b, err, errsize);
    if (r < 0)
        return r;
    PGresult *res;
    const char *params[1] = {b->group};
    res = PQexecParams(s->conn,
                       "WITH firsts AS (SELECT DISTINCT ON (source, id) ord, source, id FROM cs_ids"
                       "                ORDER BY source, id, ord),"
                       " fresh AS (INSERT INTO event_ids (group_id, source, id)"
                       "           SELECT $1, source, id FROM firsts ON CONFLICT DO NOTHING"
                       "           RETURNING source, id)"
                       " SELECT f.ord FROM firsts f JOIN fresh USING (source, id)",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "postgres: event_ids: %s", PQerrorMessage(s->conn));
        PQclear(res);
        return -EIO;
    }
    unsigned char *accepted = calloc(b->nids + 1, 1);
    if (!accepted) {
        PQclear(res);
        return -ENOMEM;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        size_t ord = strtoul(PQgetvalue(res, i, 0), NULL, 10);
        if (ord < b->nids)
            accepted[ord] = 1;
    }
    PQclear(res);
    b->on_dedup(b->opaque, accepted, b->nids);
    free(accepted);
    return 0;
}

int cs_store_prune_event_ids(cs_store *s, const char *group, int window_hours,
                             long *ret_deleted, char *err, size_t errsize)
{
    char hours[16];
    int r;
    *ret_deleted = 0;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    snprintf(hours, sizeof(hours), "%d", window_hours);
    const char *params[2] = {group, hours};
    PGresult *res = PQexecParams(s->conn,
                                 "DELETE FROM event_ids WHERE group_id = $1"
                                 " AND seen_at < now() - make_interval(hours => $2::int)",
                                 2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (ok)
        *ret_deleted = strtol(PQcmdTuples(res), NULL, 10);
    else
        set_err(err, errsize, "postgres: event_ids: %s", PQerrorMessage(s->conn));
    PQclear(res);
    return ok ? 0 : -EIO;
}

static int customer_row(const void *ctx, size_t i, const char **cols, char (*num)[CS_DEC_STRLEN])
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
                   " nullif(cost_center, '') FROM cs_customers"
                   " ON CONFLICT (id) DO UPDATE SET name = coalesce(EXCLUDED.name, c.name),"
                   " plan = coalesce(EXCLUDED.plan, c.plan),"
                   " cost_center = coalesce(EXCLUDED.cost_center, c.cost_center), updated_at = now()"
                   " WHERE (c.name, c.plan, c.cost_center) IS DISTINCT FROM"
                   " (coalesce(EXCLUDED.name, c.name), coalesce(EXCLUDED.plan, c.plan),"
                   " coalesce(EXCLUDED.cost_center, c.cost_center))",
                   PGRES_COMMAND_OK, err, errsize);
}

static int insert_rejects(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    for (size_t i = 0; i < b->nrejects; i++) {
        const cs_store_reject *rj = &b->rejects[i];
        char part[16], off[24];
        snprintf(part, sizeof(part), "%" PRId32, rj->partition);
        snprintf(off, sizeof(off), "%" PRId64, rj->offset);
        const char *values[8] = {b->group, rj->topic, part, off, rj->reason, rj->detail,
                                 rj->raw, rj->key};
        int lengths[8] = {0, 0, 0, 0, 0, 0, (int)rj->raw_len, (int)rj->key_len};
        int formats[8] = {0, 0, 0, 0, 0, 0, 1, 1};
        PGresult *res = PQexecParams(s->conn,
                                     "INSERT INTO rejected_events (group_id, topic, partition,"
                                     " \"offset\", reason, detail, raw, msg_key)"
                                     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                     8, NULL, values, lengths, formats, 0);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            set_err(err, errsize, "postgres: rejected_events: %s", PQerrorMessage(s->conn));
            return -EIO;
        }
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
        if (o->expected < 0)
            res = PQexecParams(s->conn,
                               "INSERT INTO consumer_offsets (group_id, topic, partition,"
                               " next_offset) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                               4, NULL, values, NULL, NULL, 0);
        else
            res = PQexecParams(s->conn,
                               "UPDATE consumer_offsets SET next_offset = $4, updated_at = now()"
                               " WHERE group_id = $1 AND topic = $2 AND partition = $3"
                               " AND next_offset = $5",
                               5, NULL, values, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            set_err(err, errsize, "postgres: consumer_offsets: %s", PQerrorMessage(s->conn));
            PQclear(res);
            return -EIO;
        }
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
        (b->nids > 0 && b->on_dedup && (r = dedup_ids(s, b, err, errsize)) < 0) ||
        (cs_agg_count(b->agg) > 0 && (r = stage_aggregates(s, b->agg, err, errsize)) < 0) ||
        (b->ncustomers > 0 && (r = upsert_customers(s, b, err, errsize)) < 0) ||
        (r = insert_rejects(s, b, err, errsize)) < 0) {
        rollback(s);
        if (r != -ESTALE && s->conn && PQstatus(s->conn) != CONNECTION_OK)
            disconnect(s);
        return r == -ESTALE ? r : -EIO;
    }
    if ((r = exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    return 0;
}
