/* spend.c - the bill import (see spend.h).
 *
 * Two passes over the file in memory: the first validates every line (and
 * decides, without touching the database, whether anything is stored); the
 * second streams the good lines into a staging table with COPY while the
 * transaction is open, then versions and lines are inserted by two
 * statements and the bad lines (with keep_bad) one by one. */
#include "spend.h"

#include <errno.h>
#include <libpq-fe.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocate.h"
#include "array.h"
#include "store_internal.h"

#define SPEND_LOCK "7466218855" /* the advisory lock of allocation: "spend" */
#include "timestamp.h"
#include "utf8.h"

typedef struct reject {
    size_t line;
    char column[64], reason[256];
    char *raw;
    size_t raw_len;
} reject;

typedef struct stage_ctx {
    cs_bill *bill;
    reject *rejects;
    size_t nrejects, cap;
    int failed; /* -ENOMEM while reading */
} stage_ctx;

static void keep_reject(stage_ctx *c, const cs_bill_error *e)
{
    const char *raw;
    size_t len;
    cs_bill_raw(c->bill, &raw, &len);
    if (cs_array_reserve(&c->rejects, &c->cap, c->nrejects + 1, sizeof(*c->rejects)) < 0) {
        c->failed = -ENOMEM;
        return;
    }
    reject *x = &c->rejects[c->nrejects];
    x->line = e->line;
    memcpy(x->column, e->column, sizeof(x->column));
    memcpy(x->reason, e->reason, sizeof(x->reason));
    if (len > CS_SPEND_MAX_RAW) { /* a line of a gigabyte is kept as its start */
        len = CS_SPEND_MAX_RAW;
        snprintf(x->reason + strlen(x->reason), sizeof(x->reason) - strlen(x->reason),
                 " (line of more than %u bytes: its first %u kept)", CS_SPEND_MAX_RAW,
                 CS_SPEND_MAX_RAW);
    }
    x->raw = malloc(len + 1);
    if (!x->raw) {
        c->failed = -ENOMEM;
        return;
    }
    memcpy(x->raw, raw, len);
    x->raw_len = len;
    c->nrejects++;
}

/* COPY row i: the next record of the file; a bad one is kept aside. */
static int stage_row(const void *ctx, size_t i, const char **cols, char (*num)[CS__STORE_CELL])
{
    stage_ctx *c = (stage_ctx *)ctx;
    cs_bill_line l;
    cs_bill_error e;
    (void)i;
    int r = cs_bill_next(c->bill, &l, &e);
    if (r == -EINVAL)
        keep_reject(c, &e);
    if (r == -ENOMEM)
        c->failed = r;
    if (r != 1)
        return 0;
    snprintf(num[0], CS__STORE_CELL, "%zu", l.line);
    cs_timestamp_format(l.period_usec, num[1], CS__STORE_CELL);
    num[1][10] = '\0'; /* the date */
    cs_timestamp_format(l.start_usec, num[2], CS__STORE_CELL);
    cs_timestamp_format(l.end_usec, num[3], CS__STORE_CELL);
    cs_dec_format(l.billed, 12, num[4], CS__STORE_CELL);
    cs_dec_format(l.effective, 12, num[5], CS__STORE_CELL);
    cs_dec_format(l.list, 12, num[6], CS__STORE_CELL);
    const char *text[] = {num[0], num[1], num[2], num[3], num[4], num[5], num[6],
                          l.currency, l.category, l.charge_class, l.service, l.service_category,
                          l.resource_id, l.resource_name, l.region, l.provider, l.account,
                          l.sub_account, l.tags_json, l.columns_json};
    memcpy(cols, text, sizeof(text));
    return 1;
}

/* Pass 1: counts good and bad lines, reporting the bad.  0, -EBADMSG (bad
 * header) or -ENOMEM. */
static int validate(const char *data, size_t len, void (*on_error)(void *, const cs_bill_error *),
                    void *opaque, cs_spend_import_result *ret)
{
    cs_bill *b;
    cs_bill_error e;
    cs_bill_line l;
    int r = cs_bill_open(data, len, &b, &e);
    if (r < 0) {
        if (r == -EINVAL)
            on_error(opaque, &e);
        return r == -EINVAL ? -EBADMSG : r;
    }
    while ((r = cs_bill_next(b, &l, &e)) != 0 && r != -ENOMEM) {
        if (r < 0) {
            ret->rejected++;
            on_error(opaque, &e);
        } else {
            ret->lines++;
        }
    }
    cs_bill_free(b);
    return r;
}

/* Finds an earlier import of the same file.  1 found, 0 not, or an error. */
static int find_import(cs_store *s, const char *source, const unsigned char *sha, long *ret_id,
                       char *err, size_t errsize)
{
    const char *v[2] = {source, (const char *)sha};
    int lens[2] = {0, SHA256_DIGEST_LENGTH}, fmts[2] = {0, 1};
    PGresult *res;
    int r = cs__store_exec_params(s, "SELECT id FROM bill_imports WHERE source = $1 AND sha256 = $2",
                                  2, v, lens, fmts, "bill_imports", &res, err, errsize);
    if (r < 0)
        return r;
    int found = PQntuples(res) > 0;
    if (found)
        *ret_id = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return found;
}

static int insert_rejects(cs_store *s, const stage_ctx *c, const char *id, char *err,
                          size_t errsize)
{
    for (size_t i = 0; i < c->nrejects; i++) {
        char line[24];
        snprintf(line, sizeof(line), "%zu", c->rejects[i].line);
        const char *v[5] = {id, line, c->rejects[i].column, c->rejects[i].reason,
                            c->rejects[i].raw};
        int lens[5] = {0, 0, 0, 0, (int)c->rejects[i].raw_len}, fmts[5] = {0, 0, 0, 0, 1};
        int r = cs__store_exec_params(s,
                                      "INSERT INTO bill_rejects (import_id, line, column_name,"
                                      " reason, raw) VALUES ($1, $2, $3, $4, $5)",
                                      5, v, lens, fmts, "bill_rejects", NULL, err, errsize);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Pass 2, inside the transaction: the import row, the staged lines, the
 * versions, the lines, the rejects. */
static int store(cs_store *s, const char *source, const char *file_name, const unsigned char *sha,
                 const char *data, size_t len, cs_spend_import_result *ret, stage_ctx *c,
                 char *err, size_t errsize)
{
    char lines[24], rejected[24], id[24], name[1024];
    snprintf(lines, sizeof(lines), "%zu", ret->lines);
    snprintf(rejected, sizeof(rejected), "%zu", ret->rejected);
    /* a file name is any bytes: kept as valid UTF-8 (utf8.h), cut between characters */
    cs_utf8_escape(name, sizeof(name), file_name, strlen(file_name), NULL);
    const char *v[5] = {source, name, (const char *)sha, lines, rejected};
    int lens[5] = {0, 0, SHA256_DIGEST_LENGTH, 0, 0}, fmts[5] = {0, 0, 1, 0, 0};
    PGresult *res;
    int r = cs__store_exec_params(s,
                                  "INSERT INTO bill_imports (source, file_name, sha256, lines, rejected)"
                                  " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                                  5, v, lens, fmts, "bill_imports", &res, err, errsize);
    if (r < 0)
        return r;
    ret->import_id = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(id, sizeof(id), "%ld", ret->import_id);
    PQclear(res);
    cs_bill_error e;
    if ((r = cs_bill_open(data, len, &c->bill, &e)) < 0)
        return r;
    r = cs__store_stage_rows(
        s,
        "CREATE TEMP TABLE IF NOT EXISTS cs_bill_stage (line int, billing_period date,"
        " start_ts timestamptz, end_ts timestamptz, billed numeric, effective numeric,"
        " list numeric, currency text, category text, class text, service text,"
        " service_category text, resource_id text, resource_name text, region text,"
        " provider text, account text, sub_account text, tags jsonb, columns jsonb)"
        " ON COMMIT DELETE ROWS",
        "COPY cs_bill_stage FROM STDIN", ret->lines + ret->rejected, 20, stage_row, c, err,
        errsize);
    if (r == 0 && c->failed)
        r = c->failed;
    const char *p[2] = {source, id};
    if (r == 0)
        r = cs__store_exec_params(
            s,
            "INSERT INTO bill_versions (source, billing_period, version, import_id)"
            " SELECT $1, d.p, coalesce((SELECT max(version) FROM bill_versions v"
            "  WHERE v.source = $1 AND v.billing_period = d.p), 0) + 1, $2::bigint"
            " FROM (SELECT DISTINCT billing_period AS p FROM cs_bill_stage) d ORDER BY d.p",
            2, p, NULL, NULL, "bill_versions", &res, err, errsize);
    if (r == 0) {
        ret->periods = strtoul(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        r = cs__store_exec_params(
            s,
            "INSERT INTO bill_lines SELECT $2::bigint, s.line, $1, s.billing_period, v.version,"
            " s.start_ts, s.end_ts, s.billed, s.effective, s.list, s.currency, s.category,"
            " s.class, s.service, s.service_category, s.resource_id, s.resource_name, s.region,"
            " s.provider, s.account, s.sub_account, s.tags, s.columns"
            " FROM cs_bill_stage s JOIN bill_versions v ON v.source = $1"
            " AND v.import_id = $2::bigint AND v.billing_period = s.billing_period",
            2, p, NULL, NULL, "bill_lines", NULL, err, errsize);
    }
    if (r == 0)
        r = insert_rejects(s, c, id, err, errsize);
    return r;
}

int cs_spend_import(cs_store *s, const char *source, const char *file_name, const char *data,
                    size_t len, bool keep_bad,
                    void (*on_error)(void *opaque, const cs_bill_error *e), void *opaque,
                    cs_spend_import_result *ret, char *err, size_t errsize)
{
    unsigned char sha[SHA256_DIGEST_LENGTH];
    stage_ctx c = {0};
    memset(ret, 0, sizeof(*ret));
    if (!*source || !cs_utf8_valid(source, strlen(source))) {
        snprintf(err, errsize, "the source name must be non-empty UTF-8 text");
        return -EINVAL;
    }
    int r = validate(data, len, on_error, opaque, ret);
    if (r < 0)
        return r;
    if (ret->rejected && !keep_bad)
        return -EBADMSG;
    SHA256((const unsigned char *)data, len, sha);
    const char *lk[1] = {source};
    if ((r = cs_store_connect(s, err, errsize)) < 0 ||
        (r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    if ((r = cs__store_exec_params(s, "SELECT pg_advisory_xact_lock(hashtext('costream-bill:' || $1))",
                                   1, lk, NULL, NULL, "bill lock", NULL, err, errsize)) < 0 ||
        (r = find_import(s, source, sha, &ret->import_id, err, errsize)) < 0)
        goto out;
    if (r == 1) {
        ret->already = true;
        ret->lines = ret->rejected = 0;
        r = 0;
        goto out;
    }
    r = store(s, source, file_name, sha, data, len, ret, &c, err, errsize);
    if (r == 0)
        r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize);
out:
    if (r < 0 || ret->already)
        cs__store_rollback(s);
    cs_bill_free(c.bill);
    for (size_t i = 0; i < c.nrejects; i++)
        free(c.rejects[i].raw);
    free(c.rejects);
    return r;
}

/* ---- allocation ------------------------------------------------------------ */

void cs_spend_allocate_result_free(cs_spend_allocate_result *r)
{
    free(r->pools);
    r->pools = NULL;
    r->npools = 0;
}

/* The usage of the hours [from, to), sorted as allocate.h wants it; the
 * strings stay in *ret_res. */
static int read_usage(cs_store *s, int64_t from, int64_t to, PGresult **ret_res,
                      cs_allocate_usage **ret, size_t *ret_n, char *err, size_t errsize)
{
    char a[CS_TIMESTAMP_STRLEN], b[CS_TIMESTAMP_STRLEN];
    cs_timestamp_format(from, a, sizeof(a));
    cs_timestamp_format(to, b, sizeof(b));
    const char *p[2] = {a, b};
    int r = cs__store_exec_params(
        s,
        "SELECT product, meter, customer, (extract(epoch FROM hour) * 1000000)::bigint,"
        " sum(quantity)::text FROM usage_cost WHERE hour >= $1::timestamptz AND hour < $2::timestamptz"
        " GROUP BY product, meter, customer, hour ORDER BY product COLLATE \"C\","
        " meter COLLATE \"C\", hour, customer COLLATE \"C\"",
        2, p, NULL, NULL, "usage_cost", ret_res, err, errsize);
    if (r < 0)
        return r;
    int n = PQntuples(*ret_res);
    cs_allocate_usage *u = calloc((size_t)n + 1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    for (int i = 0; i < n; i++)
        u[i] = (cs_allocate_usage){PQgetvalue(*ret_res, i, 0), PQgetvalue(*ret_res, i, 1),
                                   PQgetvalue(*ret_res, i, 2), cs__store_i64(*ret_res, i, 3),
                                   cs__store_dec(*ret_res, i, 4)};
    *ret = u;
    *ret_n = (size_t)n;
    return 0;
}

enum { L_START, L_END, L_COST, L_CURRENCY, L_SERVICE, L_SERVICE_CATEGORY, L_RESOURCE_ID,
       L_RESOURCE_NAME, L_REGION, L_PROVIDER, L_CATEGORY, L_CLASS, L_ACCOUNT, L_SUB_ACCOUNT,
       L_TAGS };

static int read_lines(cs_store *s, const char *period, PGresult **ret, char *err, size_t errsize)
{
    const char *p[1] = {period};
    return cs__store_exec_params(
        s,
        "SELECT (extract(epoch FROM charge_period_start) * 1000000)::bigint,"
        " (extract(epoch FROM charge_period_end) * 1000000)::bigint, effective_cost::text,"
        " currency, service_name, service_category, resource_id, resource_name, region_id,"
        " provider_name, charge_category, charge_class, billing_account_id, sub_account_id,"
        " tags::text FROM bill_lines_current WHERE billing_period = to_date($1, 'YYYY-MM')"
        " ORDER BY source, import_id, line",
        1, p, NULL, NULL, "bill_lines", ret, err, errsize);
}

/* Per pool: lines, cost and currency; every pool one currency. */
static int pool_totals(const cs_rules *rules, PGresult *lines, const int *pool_of,
                       cs_spend_allocate_result *ret, char *err, size_t errsize)
{
    ret->pools = calloc(rules->npools + 1, sizeof(*ret->pools));
    char (*cur)[4] = calloc(rules->npools + 1, sizeof(*cur));
    if (!ret->pools || !cur) {
        free(cur);
        return -ENOMEM;
    }
    ret->npools = rules->npools + 1;
    for (int i = 0; i < PQntuples(lines); i++) {
        size_t k = pool_of[i] < 0 ? rules->npools : (size_t)pool_of[i];
        cs_spend_pool_total *t = &ret->pools[k];
        const char *c = PQgetvalue(lines, i, L_CURRENCY);
        t->pool = k < rules->npools ? rules->pools[k].id : "";
        if (cur[k][0] && strcmp(cur[k], c) != 0) {
            snprintf(err, errsize, "pool \"%s\" holds lines in %s and %s: a pool is allocated in"
                                   " one currency (split it by BillingCurrency)", t->pool, cur[k], c);
            free(cur);
            return -EINVAL;
        }
        snprintf(cur[k], 4, "%s", c);
        snprintf(ret->currency, sizeof(ret->currency), "%s", c);
        t->lines++;
        if (cs_dec_add(t->cost, cs__store_dec(lines, i, L_COST), &t->cost) < 0) {
            free(cur);
            return -ERANGE;
        }
    }
    free(cur);
    return 0;
}

static int allocation_row(const void *ctx, size_t i, const char **cols,
                          char (*num)[CS__STORE_CELL])
{
    const void *const *c = ctx;
    const cs_allocate *a = c[0];
    const char *currency = c[1];
    const cs_allocate_row *r = cs_allocate_row_at(a, i);
    cs_dec_format(r->amount, 12, num[0], CS__STORE_CELL);
    snprintf(num[1], CS__STORE_CELL, "%ld", r->lines);
    const char *v[7] = {r->pool ? r->pool : "", r->customer, r->product,
                        cs_allocate_kind_name(r->kind), currency, num[0], num[1]};
    memcpy(cols, v, sizeof(v));
    return 1;
}

/* An open period: its rows (not the corrections it carries) are replaced. */
static const char replace_delete_sql[] =
    "DELETE FROM spend_allocations WHERE billing_period = $1::date AND correction_of = '-infinity'";
static const char replace_sql[] =
    "INSERT INTO spend_allocations (billing_period, pool, customer, product, kind, currency,"
    " amount, lines, rules_version)"
    " SELECT $1::date, pool, customer, product, kind, currency, amount, lines, $2 FROM cs_spend_fresh";

/* A closed period $1: the difference between the fresh allocation and what
 * is counted for it (its rows, and its corrections elsewhere than $3, the
 * first open period after it) goes to $3, replacing its correction there. */
static const char correct_delete_sql[] =
    "DELETE FROM spend_allocations WHERE billing_period = $3::date AND correction_of = $1::date"
    " AND $2::text IS NOT NULL";
static const char correct_sql[] =
    "WITH counted AS (SELECT pool, customer, product, kind, currency, sum(amount) AS amount"
    "  FROM spend_allocations WHERE (billing_period = $1::date AND correction_of = '-infinity')"
    "  OR (correction_of = $1::date AND billing_period <> $3::date)"
    "  GROUP BY pool, customer, product, kind, currency)"
    " INSERT INTO spend_allocations (billing_period, pool, customer, product, kind, currency,"
    " amount, lines, rules_version, correction_of)"
    " SELECT $3::date, pool, customer, product, kind, currency,"
    " coalesce(f.amount, 0) - coalesce(c.amount, 0), coalesce(f.lines, 0), $2, $1::date"
    " FROM cs_spend_fresh f FULL JOIN counted c USING (pool, customer, product, kind, currency)"
    " WHERE coalesce(f.amount, 0) <> coalesce(c.amount, 0)";

/* The idle part of each bill line (row index into the lines, amount). */
typedef struct line_idle {
    int line;
    cs_dec idle;
} line_idle;

typedef struct idle_ctx {
    PGresult *lines;
    const line_idle *items;
    const char *currency, *const *pool_names;
    const int *pool_of;
} idle_ctx;

static int idle_row(const void *ctx, size_t i, const char **cols, char (*num)[CS__STORE_CELL])
{
    const idle_ctx *c = ctx;
    int l = c->items[i].line;
    cs_dec_format(c->items[i].idle, 12, num[0], CS__STORE_CELL);
    const char *v[5] = {c->pool_of[l] >= 0 ? c->pool_names[c->pool_of[l]] : "",
                        PQgetvalue(c->lines, l, L_RESOURCE_ID),
                        PQgetvalue(c->lines, l, L_RESOURCE_NAME), c->currency, num[0]};
    memcpy(cols, v, sizeof(v));
    return 1;
}

/* Replaces the period's idle per resource (an open period only: a closed
 * one keeps what it showed). */
static int store_idle(cs_store *s, const cs_rules *rules, const char *date, PGresult *lines,
                      const int *pool_of, const line_idle *items, size_t n, const char *currency,
                      char *err, size_t errsize)
{
    const char **names = calloc(rules->npools + 1, sizeof(*names));
    if (!names)
        return -ENOMEM;
    for (size_t k = 0; k < rules->npools; k++)
        names[k] = rules->pools[k].id;
    idle_ctx ctx = {lines, items, currency, names, pool_of};
    const char *p[1] = {date};
    int r = cs__store_stage_rows(s,
                                 "CREATE TEMP TABLE IF NOT EXISTS cs_spend_idle (pool text,"
                                 " resource_id text, resource_name text, currency char(3),"
                                 " idle numeric) ON COMMIT DELETE ROWS",
                                 "COPY cs_spend_idle FROM STDIN", n, 5, idle_row, &ctx, err, errsize);
    if (r == 0)
        r = cs__store_exec_params(s, "DELETE FROM spend_idle_resources WHERE billing_period = $1::date",
                                  1, p, NULL, NULL, "spend_idle_resources", NULL, err, errsize);
    if (r == 0)
        r = cs__store_exec_params(s,
                                  "INSERT INTO spend_idle_resources (billing_period, pool,"
                                  " resource_id, resource_name, currency, idle, lines)"
                                  " SELECT $1::date, pool, resource_id, max(resource_name),"
                                  " currency, sum(idle), count(*) FROM cs_spend_idle"
                                  " GROUP BY pool, resource_id, currency",
                                  1, p, NULL, NULL, "spend_idle_resources", NULL, err, errsize);
    free(names);
    return r;
}

/* Runs the allocation over lines and usage and stores its rows. */
static int allocate_and_store(cs_store *s, const cs_rules *rules, const char *date,
                              PGresult *lines, const int *pool_of, const cs_allocate_usage *u,
                              size_t nu, cs_spend_allocate_result *ret, char *err, size_t errsize)
{
    cs_allocate *a = cs_allocate_new(rules, u, nu);
    if (!a)
        return -ENOMEM;
    line_idle *idle = calloc((size_t)PQntuples(lines) + 1, sizeof(*idle));
    size_t nidle = 0;
    int r = idle ? 0 : -ENOMEM;
    for (int i = 0; r == 0 && i < PQntuples(lines); i++) {
        r = cs_allocate_line(a, pool_of[i], cs__store_i64(lines, i, L_START), cs__store_i64(lines, i, L_END),
                             cs__store_dec(lines, i, L_COST));
        cs_dec x = cs_allocate_line_idle(a);
        if (r == 0 && !cs_dec_is_zero(x))
            idle[nidle++] = (line_idle){i, x};
    }
    if (r == 0)
        r = cs_allocate_finish(a);
    for (size_t i = 0; r == 0 && i < cs_allocate_count(a); i++) {
        const cs_allocate_row *row = cs_allocate_row_at(a, i);
        cs_spend_pool_total *t = NULL;
        for (size_t k = 0; k < ret->npools; k++)
            if (ret->pools[k].pool && strcmp(ret->pools[k].pool, row->pool ? row->pool : "") == 0)
                t = &ret->pools[k];
        bool un = row->kind == CS_ALLOCATE_NO_USAGE || row->kind == CS_ALLOCATE_NO_POOL;
        if (t && cs_dec_add(un ? t->unallocated : t->allocated, row->amount,
                            un ? &t->unallocated : &t->allocated) < 0)
            r = -ERANGE;
    }
    const void *ctx[2] = {a, ret->currency};
    const char *p[3] = {date, rules->version, ret->correction_in};
    if (r == 0)
        r = cs__store_stage_rows(s,
                                 "CREATE TEMP TABLE IF NOT EXISTS cs_spend_fresh (pool text,"
                                 " customer text, product text, kind text, currency char(3),"
                                 " amount numeric, lines integer) ON COMMIT DELETE ROWS",
                                 "COPY cs_spend_fresh FROM STDIN", cs_allocate_count(a), 7,
                                 allocation_row, ctx, err, errsize);
    PGresult *res = NULL;
    int corr = ret->correction_in[0] != '\0';
    if (r == 0)
        r = cs__store_exec_params(s, corr ? correct_delete_sql : replace_delete_sql, corr ? 3 : 1,
                                  p, NULL, NULL, "spend_allocations", NULL, err, errsize);
    if (r == 0)
        r = cs__store_exec_params(s, corr ? correct_sql : replace_sql,
                                  ret->correction_in[0] ? 3 : 2, p, NULL, NULL,
                                  "spend_allocations", &res, err, errsize);
    ret->rows = r == 0 ? strtoul(PQcmdTuples(res), NULL, 10) : 0;
    PQclear(res);
    if (r == 0 && !corr)
        r = store_idle(s, rules, date, lines, pool_of, idle, nidle, ret->currency, err, errsize);
    free(idle);
    cs_allocate_free(a);
    return r;
}

int cs_spend_reallocate_open(cs_store *s, const cs_rules *rules, size_t *ret_periods,
                             char *err, size_t errsize)
{
    PGresult *res = NULL;
    *ret_periods = 0;
    int r = cs_store_connect(s, err, errsize);
    if (r == 0 && (r = cs__store_exec_params(s, "SELECT pg_try_advisory_lock(" SPEND_LOCK ")", 0,
                                             NULL, NULL, NULL, "spend lock", &res, err,
                                             errsize)) == 0 &&
        PQgetvalue(res, 0, 0)[0] != 't')
        r = -EBUSY; /* another worker, or a command, is allocating */
    PQclear(res);
    res = NULL;
    if (r < 0)
        return r;
    r = cs__store_exec_params(s,
                              "SELECT to_char(b.billing_period, 'YYYY-MM') FROM"
                              " (SELECT DISTINCT billing_period FROM bill_versions) b"
                              " WHERE NOT EXISTS (SELECT 1 FROM closed_periods c"
                              " WHERE c.period = b.billing_period) ORDER BY 1",
                              0, NULL, NULL, NULL, "bill_versions", &res, err, errsize);
    for (int i = 0; r == 0 && i < PQntuples(res); i++) {
        cs_spend_allocate_result a;
        r = cs_spend_allocate(s, rules, PQgetvalue(res, i, 0), &a, err, errsize);
        cs_spend_allocate_result_free(&a);
        *ret_periods += r == 0;
    }
    PQclear(res);
    char unlock_err[256];
    cs__store_exec_ok(s, "SELECT pg_advisory_unlock(" SPEND_LOCK ")", PGRES_TUPLES_OK, unlock_err,
                      sizeof(unlock_err));
    return r;
}

int cs_spend_allocate(cs_store *s, const cs_rules *rules, const char *period,
                      cs_spend_allocate_result *ret, char *err, size_t errsize)
{
    PGresult *lines = NULL, *usage = NULL;
    cs_allocate_usage *u = NULL;
    int *pool_of = NULL;
    size_t nu = 0;
    int64_t from, to;
    char date[16];
    memset(ret, 0, sizeof(*ret));
    if (cs_timestamp_month(period, &from, &to) < 0 || strlen(period) != 7) {
        snprintf(err, errsize, "\"%s\" is not a month such as 2026-11", period);
        return -EINVAL;
    }
    if (rules->npools == 0) {
        snprintf(err, errsize, "the rules file %s has no allocation section (docs/spend.md)",
                 rules->source);
        return -EINVAL;
    }
    snprintf(date, sizeof(date), "%s-01", period);
    const char *p[1] = {date};
    PGresult *res;
    int r;
    /* one allocation at a time, whoever runs it (a command, a worker): a
     * session lock taken before the snapshot, so that the second one sees
     * what the first wrote */
    if ((r = cs_store_connect(s, err, errsize)) < 0 ||
        (r = cs__store_exec_ok(s, "SELECT pg_advisory_lock(" SPEND_LOCK ")", PGRES_TUPLES_OK, err,
                               errsize)) < 0)
        return r;
    if ((r = cs__store_exec_ok(s, "BEGIN ISOLATION LEVEL REPEATABLE READ", PGRES_COMMAND_OK, err,
                               errsize)) < 0)
        goto out;
    if ((r = cs__store_exec_params(s, "SELECT 1 FROM closed_periods WHERE period = $1::date", 1, p,
                                   NULL, NULL, "closed_periods", &res, err, errsize)) < 0)
        goto out;
    int closed = PQntuples(res) > 0;
    PQclear(res);
    if (closed) { /* the difference becomes a correction in the next open period */
        if ((r = cs__store_exec_params(s, "SELECT to_char(cs_billing_period(($1::date +"
                                          " interval '1 month')::timestamptz), 'YYYY-MM-DD')",
                                       1, p, NULL, NULL, "closed_periods", &res, err,
                                       errsize)) < 0)
            goto out;
        snprintf(ret->correction_in, sizeof(ret->correction_in), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if ((r = read_lines(s, period, &lines, err, errsize)) < 0)
        goto out;
    ret->lines = (size_t)PQntuples(lines);
    pool_of = calloc(ret->lines + 1, sizeof(*pool_of));
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; pool_of && i < ret->lines; i++) {
        cs_allocate_fields f = {
            PQgetvalue(lines, (int)i, L_SERVICE), PQgetvalue(lines, (int)i, L_SERVICE_CATEGORY),
            PQgetvalue(lines, (int)i, L_RESOURCE_ID), PQgetvalue(lines, (int)i, L_RESOURCE_NAME),
            PQgetvalue(lines, (int)i, L_REGION), PQgetvalue(lines, (int)i, L_PROVIDER),
            PQgetvalue(lines, (int)i, L_CATEGORY), PQgetvalue(lines, (int)i, L_CLASS),
            PQgetvalue(lines, (int)i, L_ACCOUNT), PQgetvalue(lines, (int)i, L_SUB_ACCOUNT),
            PQgetvalue(lines, (int)i, L_TAGS)};
        pool_of[i] = cs_allocate_pool_of(rules, &f);
        if (pool_of[i] == -EINVAL)
            pool_of[i] = CS_ALLOCATE_UNPOOLED; /* tags are JSON objects by construction */
        lo = cs__store_i64(lines, (int)i, L_START) < lo ? cs__store_i64(lines, (int)i, L_START) : lo;
        hi = cs__store_i64(lines, (int)i, L_END) > hi ? cs__store_i64(lines, (int)i, L_END) : hi;
    }
    if (!pool_of) {
        r = -ENOMEM;
        goto out;
    }
    if ((r = pool_totals(rules, lines, pool_of, ret, err, errsize)) < 0)
        goto out;
    if (ret->lines > 0 && (r = read_usage(s, lo - lo % CS_USEC_PER_HOUR, hi, &usage, &u, &nu, err,
                                          errsize)) < 0)
        goto out;
    if ((r = allocate_and_store(s, rules, date, lines, pool_of, u, nu, ret, err, errsize)) == 0)
        r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize);
out:
    if (r < 0) {
        cs__store_rollback(s);
        cs_spend_allocate_result_free(ret); /* nothing to report */
    }
    char unlock_err[256];
    cs__store_exec_ok(s, "SELECT pg_advisory_unlock(" SPEND_LOCK ")", PGRES_TUPLES_OK, unlock_err,
                      sizeof(unlock_err));
    PQclear(lines);
    PQclear(usage);
    free(u);
    free(pool_of);
    return r;
}
