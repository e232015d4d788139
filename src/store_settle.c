/* store_settle.c - settlement of metric samples (see store.h and
 * docs/metric-streams.md). */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "pricing.h"
#include "series.h"
#include "store_internal.h"
#include "timestamp.h"

/* ---- settlement of metric samples --------------------------------------- */

typedef struct settled_series {
    const char *hex; /* series id, hex digits (inside the query result) */
    const char *series;
    cs_series_state st;
} settled_series;

typedef struct series_list {
    settled_series *items;
    size_t n, cap;
} series_list;

static int series_row(const void *ctx, size_t i, const char **cols, char (*num)[CS__STORE_CELL])
{
    const settled_series *x = &((const series_list *)ctx)->items[i];
    snprintf(num[0], CS__STORE_CELL, "\\x%s", x->hex);
    cs_timestamp_format(x->st.last_usec, num[1], CS__STORE_CELL);
    cs_dec_format(x->st.last_value, 12, num[2], CS__STORE_CELL);
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
            cs_series_outcome o = cs_series_apply(
                &cur.st, kind, col_i64(res, i, 7), t, sp,
                sp == CS_SAMPLE_FINITE ? col_dec(res, i, 3) : cs_dec_zero(), &usage);
            ret->outcomes[o]++;
            ret->samples++;
            if (o != CS_SERIES_CHARGED && o != CS_SERIES_RESET)
                continue;
            cs_price p;
            if (cs_dec_div_int(usage, col_i64(res, i, 6), &qty) < 0 ||
                cs_pricing_cost(qty, col_dec(res, i, 16), col_dec(res, i, 17), &p) < 0)
                return -ERANGE;
            cs_agg_key k = {.hour_usec = cs_timestamp_hour(t),
                            .customer = PQgetvalue(res, i, 8),
                            .plan = PQgetvalue(res, i, 9),
                            .product = PQgetvalue(res, i, 10),
                            .meter = PQgetvalue(res, i, 11),
                            .rule_id = PQgetvalue(res, i, 12),
                            .rules_version = PQgetvalue(res, i, 13),
                            .currency = PQgetvalue(res, i, 14),
                            .unit = PQgetvalue(res, i, 15),
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
    if ((r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    char idle[32], w_text[CS_TIMESTAMP_STRLEN], evict_text[CS_TIMESTAMP_STRLEN];
    snprintf(idle, sizeof(idle), "%.6f", (double)o->idle_usec / 1e6);
    const char *p1[2] = {group, idle};
    if ((r = cs__store_exec_params(
             s,
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
        cs__store_rollback(s);
        return 0;
    }
    ret->watermark_usec = wm;
    cs_timestamp_format(wm, w_text, sizeof(w_text));
    const char *p2[2] = {group, w_text};
    r = cs__store_exec_params(
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
        snprintf(err, errsize, "settle: %s",
                 r == -ERANGE ? "a cost exceeds 38 digits" : "out of memory");
        goto fail;
    }
    if (cs_agg_count(agg) > 0 && (r = cs__store_stage_aggregates(s, agg, err, errsize)) < 0)
        goto fail;
    if (states.n > 0) {
        r = cs__store_stage_rows(
            s,
            "CREATE TEMP TABLE IF NOT EXISTS cs_series (series_id bytea, series text,"
            " last_ts timestamptz, last_value numeric) ON COMMIT DELETE ROWS",
            "COPY cs_series FROM STDIN", states.n, 4, series_row, &states, err, errsize);
        if (r < 0)
            goto fail;
        const char *p3[1] = {group};
        if ((r = cs__store_exec_params(
                 s,
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
    if ((r = cs__store_exec_params(s,
                                   "DELETE FROM metric_series WHERE group_id = $1"
                                   " AND last_ts < $2::timestamptz",
                                   2, p4, NULL, NULL, "metric_series", &e, err, errsize)) < 0)
        goto fail;
    ret->evicted = strtoull(PQcmdTuples(e), NULL, 10);
    PQclear(e);
    if ((r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0)
        goto fail;
    PQclear(res);
    free(states.items);
    ret->settled = 1;
    return 0;
fail:
    PQclear(res);
    free(states.items);
    cs__store_rollback(s);
    if (s->conn && PQstatus(s->conn) != CONNECTION_OK)
        cs__store_disconnect(s);
    return r < 0 ? r : -EIO;
}
