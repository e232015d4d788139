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

#include "array.h"
#include "store_internal.h"
#include "timestamp.h"

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
    char lines[24], rejected[24], id[24];
    snprintf(lines, sizeof(lines), "%zu", ret->lines);
    snprintf(rejected, sizeof(rejected), "%zu", ret->rejected);
    const char *v[5] = {source, file_name, (const char *)sha, lines, rejected};
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
