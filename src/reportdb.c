/* reportdb.c - report queries over libpq (see reportdb.h). */
#include "reportdb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spendreport.h"
#include "store_internal.h"
#include "timestamp.h"

#define FETCH 2000

struct cs_report_cursor {
    PGconn *conn;
    int focus;
    PGresult *block;
    int row, nrows;
    int done;
    char *params[6]; /* owned copies: the query outlives its caller's strings */
    PGresult *totals;
    cs_report_stored *stored;
    size_t nstored;
};

static void set_err(char *err, size_t size, const char *what, PGconn *conn)
{
    snprintf(err, size, "postgres: %s: %s", what, conn ? PQerrorMessage(conn) : "no connection");
    size_t n = strlen(err);
    while (n && err[n - 1] == '\n')
        err[--n] = '\0';
}

static int exec_cmd(PGconn *conn, const char *sql, char *err, size_t errsize)
{
    PGresult *r = PQexec(conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        set_err(err, errsize, sql, conn);
    PQclear(r);
    return ok ? 0 : -EIO;
}

static const char where_clause[] =
    " WHERE ($1::date IS NULL OR u.billing_period = $1::date)"
    " AND ($2::timestamptz IS NULL OR u.hour >= $2::timestamptz)"
    " AND ($3::timestamptz IS NULL OR u.hour < $3::timestamptz)"
    " AND ($4::text IS NULL OR u.customer = $4)"
    " AND ($5::text IS NULL OR u.product = $5)"
    " AND ($6::text IS NULL OR u.plan = $6)";

/* Customer attributes: frozen for closed months, current otherwise. */
#define CUSTOMER_JOIN \
    " FROM usage_cost u LEFT JOIN customers c ON c.id = u.customer" \
    " LEFT JOIN closed_periods cp ON cp.period = u.billing_period" \
    " LEFT JOIN closed_period_customers pc ON pc.period = u.billing_period" \
    " AND pc.customer = u.customer"
#define CUSTOMER_NAME \
    "coalesce(CASE WHEN cp.period IS NULL THEN c.name ELSE pc.name END, u.customer)"
#define COST_CENTER \
    "coalesce(CASE WHEN cp.period IS NULL THEN c.cost_center ELSE pc.cost_center END, '')"

/* Copies the query's filters into the cursor, which owns them: a stream's
 * next block is fetched long after the request that opened it returned. */
static int params_copy(cs_report_cursor *c, const cs_report_query *q)
{
    const char *src[6] = {NULL, q->period ? NULL : q->from, q->period ? NULL : q->to,
                          q->customer, q->product, q->plan};
    if (q->period) {
        size_t n = strlen(q->period) + sizeof("-01");
        if (!(c->params[0] = malloc(n)))
            return -ENOMEM;
        snprintf(c->params[0], n, "%s-01", q->period);
    }
    for (int i = 1; i < 6; i++)
        if (src[i] && !(c->params[i] = strdup(src[i])))
            return -ENOMEM;
    return 0;
}

static void cursor_free(cs_report_cursor *c)
{
    for (int i = 0; i < 6; i++)
        free(c->params[i]);
    free(c);
}

#define CORRECTION \
    "CASE WHEN date_trunc('month', u.hour AT TIME ZONE 'UTC')::date <> u.billing_period" \
    " THEN to_char(u.hour AT TIME ZONE 'UTC', 'YYYY-MM') END"

int cs_reportdb_open(cs_store *s, const cs_report_query *q, cs_report_cursor **ret, char *err,
                     size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    cs_report_cursor *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->conn = conn;
    c->focus = q->focus;
    if (params_copy(c, q) < 0) {
        cursor_free(c);
        return -ENOMEM;
    }
    char sql[4096];
    if (q->focus)
        snprintf(sql, sizeof(sql),
                 "DECLARE cs_report NO SCROLL CURSOR FOR"
                 " SELECT u.customer, " CUSTOMER_NAME ", " COST_CENTER ", u.product,"
                 " u.meter, u.unit, u.currency, u.plan, u.rule_id, u.rules_version,"
                 " " CORRECTION ", extract(epoch FROM u.hour)::bigint,"
                 " extract(epoch FROM u.billing_period::timestamp AT TIME ZONE 'UTC')::bigint,"
                 " u.unit_price, u.discount_rate, u.quantity, u.list_cost, u.discount, u.cost,"
                 " u.events" CUSTOMER_JOIN "%s"
                 " ORDER BY u.hour, u.customer, u.product, u.meter, u.rule_id, u.rules_version,"
                 " u.plan",
                 where_clause);
    else
        snprintf(sql, sizeof(sql),
                 "DECLARE cs_report NO SCROLL CURSOR FOR"
                 " SELECT u.customer, " CUSTOMER_NAME ", '', u.product, u.meter,"
                 " u.unit, u.currency, u.plan, NULL, NULL, " CORRECTION " AS corr, 0, 0,"
                 " u.unit_price, u.discount_rate, sum(u.quantity), sum(u.list_cost),"
                 " sum(u.discount), sum(u.cost), sum(u.events)" CUSTOMER_JOIN "%s"
                 " GROUP BY u.customer, 2, u.product, u.meter, u.unit, u.currency, u.plan, corr,"
                 " u.unit_price, u.discount_rate"
                 " ORDER BY u.customer, u.product, u.meter, corr NULLS FIRST, u.unit_price,"
                 " u.plan, u.discount_rate, u.currency",
                 where_clause);
    if (exec_cmd(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errsize) < 0) {
        cursor_free(c);
        return -EIO;
    }
    PGresult *r = PQexecParams(conn, sql, 6, NULL, (const char *const *)c->params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        set_err(err, errsize, "report", conn);
        PQclear(r);
        PQclear(PQexec(conn, "ROLLBACK"));
        cursor_free(c);
        return -EIO;
    }
    PQclear(r);
    *ret = c;
    return 0;
}

static int dec(PGresult *r, int row, int col, cs_dec *ret)
{
    const char *v = PQgetvalue(r, row, col);
    return cs_dec_parse(v, strlen(v), ret);
}

int cs_reportdb_next(cs_report_cursor *c, cs_report_row *ret, char *err, size_t errsize)
{
    if (!c->block || c->row >= c->nrows) {
        if (c->done)
            return 0;
        PQclear(c->block);
        c->block = PQexec(c->conn, "FETCH " "2000" " FROM cs_report");
        if (PQresultStatus(c->block) != PGRES_TUPLES_OK) {
            set_err(err, errsize, "FETCH", c->conn);
            return -EIO;
        }
        c->row = 0;
        c->nrows = PQntuples(c->block);
        if (c->nrows < FETCH)
            c->done = 1;
        if (c->nrows == 0)
            return 0;
    }
    PGresult *b = c->block;
    int i = c->row++;
    memset(ret, 0, sizeof(*ret));
    ret->customer = PQgetvalue(b, i, 0);
    ret->customer_name = PQgetvalue(b, i, 1);
    ret->cost_center = PQgetvalue(b, i, 2);
    ret->product = PQgetvalue(b, i, 3);
    ret->meter = PQgetvalue(b, i, 4);
    ret->unit = PQgetvalue(b, i, 5);
    ret->currency = PQgetvalue(b, i, 6);
    ret->plan = PQgetvalue(b, i, 7);
    ret->rule_id = PQgetisnull(b, i, 8) ? NULL : PQgetvalue(b, i, 8);
    ret->rules_version = PQgetisnull(b, i, 9) ? NULL : PQgetvalue(b, i, 9);
    ret->correction_of = PQgetisnull(b, i, 10) ? NULL : PQgetvalue(b, i, 10);
    ret->hour_usec = strtoll(PQgetvalue(b, i, 11), NULL, 10) * CS_USEC_PER_SEC;
    ret->billing_period_usec = strtoll(PQgetvalue(b, i, 12), NULL, 10) * CS_USEC_PER_SEC;
    ret->events = strtoll(PQgetvalue(b, i, 19), NULL, 10);
    if (dec(b, i, 13, &ret->unit_price) < 0 || dec(b, i, 14, &ret->discount_rate) < 0 ||
        dec(b, i, 15, &ret->quantity) < 0 || dec(b, i, 16, &ret->list_cost) < 0 ||
        dec(b, i, 17, &ret->discount) < 0 || dec(b, i, 18, &ret->cost) < 0) {
        snprintf(err, errsize, "report: a stored amount is out of the decimal range");
        return -EIO;
    }
    return 1;
}

int cs_reportdb_totals(cs_report_cursor *c, const cs_report_stored **ret, size_t *ret_n,
                       char *err, size_t errsize)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT u.currency, sum(u.cost) FROM usage_cost u%s GROUP BY 1 ORDER BY 1",
             where_clause);
    PQclear(c->totals);
    free(c->stored);
    c->stored = NULL;
    c->totals = PQexecParams(c->conn, sql, 6, NULL, (const char *const *)c->params, NULL, NULL, 0);
    if (PQresultStatus(c->totals) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "report totals", c->conn);
        return -EIO;
    }
    c->nstored = (size_t)PQntuples(c->totals);
    c->stored = calloc(c->nstored + 1, sizeof(*c->stored));
    if (!c->stored)
        return -ENOMEM;
    for (size_t i = 0; i < c->nstored; i++) {
        c->stored[i].currency = PQgetvalue(c->totals, (int)i, 0);
        if (dec(c->totals, (int)i, 1, &c->stored[i].cost) < 0)
            return -EIO;
    }
    *ret = c->stored;
    *ret_n = c->nstored;
    return 0;
}

int cs_reportdb_base(cs_report_cursor *c,
                     int (*fn)(void *opaque, const cs_report_subtotal *items, size_t n),
                     void *opaque, char *err, size_t errsize)
{
    char sql[1024];
    const char *params[6];
    memcpy(params, c->params, sizeof(params));
    params[3] = NULL; /* every customer: the same cents whoever asks */
    snprintf(sql, sizeof(sql),
             "SELECT u.customer, u.currency, sum(u.cost), sum(u.discount) FROM usage_cost u%s"
             " GROUP BY 1, 2 ORDER BY 1, 2",
             where_clause);
    PGresult *res = PQexecParams(c->conn, sql, 6, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "report base", c->conn);
        PQclear(res);
        return -EIO;
    }
    size_t n = (size_t)PQntuples(res);
    cs_report_subtotal *items = calloc(n + 1, sizeof(*items));
    int r = items ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++) {
        items[i].customer = PQgetvalue(res, (int)i, 0);
        items[i].currency = PQgetvalue(res, (int)i, 1);
        if (dec(res, (int)i, 2, &items[i].cost) < 0 || dec(res, (int)i, 3, &items[i].discount) < 0) {
            snprintf(err, errsize, "report base: a stored amount is out of the decimal range");
            r = -EIO;
        }
    }
    if (r == 0)
        r = fn(opaque, items, n);
    free(items);
    PQclear(res);
    return r;
}

void cs_reportdb_close(cs_report_cursor *c)
{
    if (!c)
        return;
    PQclear(c->block);
    PQclear(c->totals);
    free(c->stored);
    PQclear(PQexec(c->conn, "COMMIT"));
    cursor_free(c);
}

int cs_reportdb_periods(cs_store *s, const char *customer,
                        void (*fn)(void *opaque, const char *period, int closed), void *opaque,
                        char *err, size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    const char *params[1] = {customer};
    PGresult *r = PQexecParams(conn,
                               /* one index probe per month with usage (the
                                * primary key, or the customer's index), not a
                                * scan of every row: a skip scan by recursion */
                               "WITH RECURSIVE m AS (SELECT (SELECT min(billing_period)"
                               " FROM usage_cost WHERE $1::text IS NULL OR customer = $1) AS p"
                               " UNION ALL SELECT (SELECT min(billing_period) FROM usage_cost"
                               " WHERE billing_period > m.p AND ($1::text IS NULL OR customer = $1))"
                               " FROM m WHERE m.p IS NOT NULL)"
                               " SELECT to_char(p, 'YYYY-MM'), bool_or(closed) FROM ("
                               " SELECT p, false AS closed FROM m WHERE p IS NOT NULL"
                               " UNION ALL SELECT period, true FROM closed_periods) x"
                               " GROUP BY p HAVING $1::text IS NULL OR bool_or(NOT closed)"
                               " ORDER BY p DESC",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "periods", conn);
        PQclear(r);
        return -EIO;
    }
    for (int i = 0; i < PQntuples(r); i++)
        fn(opaque, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)[0] == 't');
    PQclear(r);
    return 0;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", in[i]);
}

int cs_reportdb_token_add(cs_store *s, const char *id, const unsigned char *hash,
                          const char *scope, const char *customer, const char *name,
                          int sees_spend, char *err, size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    char h[2 * CS_TOKEN_HASH_LEN + 3] = "\\x";
    hex(hash, CS_TOKEN_HASH_LEN, h + 2);
    const char *params[6] = {id, h, scope, customer, name, sees_spend ? "t" : "f"};
    PGresult *r = PQexecParams(conn,
                               "INSERT INTO api_tokens (id, secret_hash, scope, customer, name,"
                               " sees_spend) VALUES ($1, $2::bytea, $3, $4, $5, $6)",
                               6, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        set_err(err, errsize, "api_tokens", conn);
    PQclear(r);
    return ok ? 0 : -EIO;
}

int cs_reportdb_token_get(cs_store *s, const char *id, unsigned char *ret_hash,
                          char *ret_scope, size_t scope_size, char *ret_customer,
                          size_t customer_size, int *ret_sees_spend, char *err, size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    const char *params[1] = {id};
    PGresult *r = PQexecParams(conn,
                               "SELECT secret_hash, scope, coalesce(customer, ''), sees_spend"
                               " FROM api_tokens WHERE id = $1 AND revoked_at IS NULL",
                               1, NULL, params, NULL, NULL, 1 /* binary */);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "api_tokens", conn);
        PQclear(r);
        return -EIO;
    }
    int found = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == CS_TOKEN_HASH_LEN;
    if (found) {
        memcpy(ret_hash, PQgetvalue(r, 0, 0), CS_TOKEN_HASH_LEN);
        snprintf(ret_scope, scope_size, "%.*s", PQgetlength(r, 0, 1), PQgetvalue(r, 0, 1));
        snprintf(ret_customer, customer_size, "%.*s", PQgetlength(r, 0, 2), PQgetvalue(r, 0, 2));
        *ret_sees_spend = PQgetlength(r, 0, 3) == 1 && PQgetvalue(r, 0, 3)[0] == 1; /* binary bool */
    }
    PQclear(r);
    return found;
}

int cs_reportdb_token_revoke(cs_store *s, const char *id, char *err, size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    const char *params[1] = {id};
    PGresult *r = PQexecParams(conn,
                               "UPDATE api_tokens SET revoked_at = now()"
                               " WHERE id = $1 AND revoked_at IS NULL",
                               1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    int changed = ok && strcmp(PQcmdTuples(r), "1") == 0;
    if (!ok)
        set_err(err, errsize, "api_tokens", conn);
    PQclear(r);
    return !ok ? -EIO : changed ? 0 : -ENOENT;
}

int cs_reportdb_token_touch(cs_store *s, const char *id, char *err, size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    const char *params[1] = {id};
    PGresult *r = PQexecParams(conn, "UPDATE api_tokens SET last_used_at = now() WHERE id = $1", 1,
                               NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        set_err(err, errsize, "api_tokens", conn);
    PQclear(r);
    return ok ? 0 : -EIO;
}

int cs_reportdb_token_list(cs_store *s, void (*row)(void *opaque, const char *const *cols),
                           void *opaque, char *err, size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    PGresult *r = PQexec(conn,
                         "SELECT id, scope, coalesce(customer, ''), name,"
                         " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                         " coalesce(to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
                         " coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
                         " CASE WHEN scope = 'finance' OR sees_spend THEN 'yes' ELSE 'no' END"
                         " FROM api_tokens ORDER BY created_at, id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "api_tokens", conn);
        PQclear(r);
        return -EIO;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *cols[8];
        for (int c = 0; c < 8; c++)
            cols[c] = PQgetvalue(r, i, c);
        row(opaque, cols);
    }
    PQclear(r);
    return 0;
}

int cs_reportdb_customer_known(cs_store *s, const char *customer, char *err, size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    const char *params[1] = {customer};
    PGresult *r = PQexecParams(conn,
                               "SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)"
                               " OR EXISTS (SELECT 1 FROM usage_cost WHERE customer = $1)",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "customers", conn);
        PQclear(r);
        return -EIO;
    }
    int known = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return known;
}

/* ---- the finance page (its figures: reportdb_finance.c) ----------------- */

static void finance_period(void *opaque, const char *period, int closed)
{
    cs_finance_page_add_period(opaque, period, closed != 0);
}

int cs_reportdb_finance_periods(cs_store *s, const char *customer, cs_finance_page *p, char *err,
                                size_t errsize)
{
    return cs_reportdb_periods(s, customer, finance_period, p, err, errsize);
}

int cs_reportdb_spend(cs_store *s, const char *period, const char *customer,
                      int (*row)(void *opaque, const char *const *cols), void *opaque, char *err,
                      size_t errsize)
{
    PGconn *conn = cs_store_conn(s, err, errsize);
    if (!conn)
        return -EIO;
    const char *params[2] = {period, customer};
    PGresult *r = PQexecParams(conn,
                               "SELECT customer, product, pool, kind, currency, amount::text,"
                               " lines, rules_version, CASE WHEN correction_of = '-infinity'"
                               " THEN '' ELSE to_char(correction_of, 'YYYY-MM') END"
                               " FROM spend_allocations WHERE billing_period = to_date($1, 'YYYY-MM')"
                               " AND ($2::text IS NULL OR customer = $2)"
                               " ORDER BY customer COLLATE \"C\", product COLLATE \"C\","
                               " pool COLLATE \"C\", kind",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errsize, "spend_allocations", conn);
        PQclear(r);
        return -EIO;
    }
    int ret = 0;
    for (int i = 0; i < PQntuples(r) && ret == 0; i++) {
        const char *cols[9];
        for (int c = 0; c < 9; c++)
            cols[c] = PQgetvalue(r, i, c);
        ret = row(opaque, cols);
    }
    PQclear(r);
    return ret;
}

typedef struct spend_rows {
    cs_spendreport_row *rows;
    size_t n, cap;
} spend_rows;

static int collect_spend(void *opaque, const char *const *c)
{
    spend_rows *l = opaque;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 64;
        cs_spendreport_row *nr = realloc(l->rows, ncap * sizeof(*nr));
        if (!nr)
            return -ENOMEM;
        l->rows = nr;
        l->cap = ncap;
    }
    cs_spendreport_row *r = &l->rows[l->n++];
    *r = (cs_spendreport_row){strdup(c[0]), strdup(c[1]), strdup(c[2]), strdup(c[3]),
                              strdup(c[4]), cs_dec_zero(), strtoll(c[6], NULL, 10), strdup(c[7]),
                              *c[8] ? strdup(c[8]) : NULL};
    cs_dec_parse(c[5], strlen(c[5]), &r->amount);
    return r->customer && r->product && r->pool && r->kind && r->currency && r->rules_version &&
                   (!*c[8] || r->correction_of)
               ? 0
               : -ENOMEM;
}

int cs_reportdb_spend_report(cs_store *s, const char *period, const char *customer,
                             cs_report_format fmt, const cs_report_meta *meta, cs_buf *out,
                             char *err, size_t errsize)
{
    spend_rows l = {0};
    int r = cs_reportdb_spend(s, period, customer, collect_spend, &l, err, errsize);
    if (r == -ENOMEM)
        snprintf(err, errsize, "out of memory");
    if (r == 0 && fmt == CS_REPORT_FOCUS)
        r = cs_spendreport_focus(out, meta, period, l.rows, l.n);
    else if (r == 0)
        r = cs_spendreport_write(out, fmt, period, l.rows, l.n);
    if (r < 0 && r != -EIO && r != -ENOMEM)
        snprintf(err, errsize, "%s",
                 r == -EINVAL ? "the allocation holds several currencies" : "a total overflows");
    for (size_t i = 0; i < l.n; i++) {
        free((char *)l.rows[i].rules_version);
        free((char *)l.rows[i].correction_of);
        free((char *)l.rows[i].customer);
        free((char *)l.rows[i].product);
        free((char *)l.rows[i].pool);
        free((char *)l.rows[i].kind);
        free((char *)l.rows[i].currency);
    }
    free(l.rows);
    return r;
}
