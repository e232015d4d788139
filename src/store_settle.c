/* store_settle.c - settlement of metric samples, shard by shard (see
 * store.h, sql/0004_metric_streams.sql, sql/0006_metric_settlement.sql and
 * docs/metric-streams.md).
 *
 * One call settles one shard of the group's series in one transaction: it
 * takes the shard's advisory lock (another worker holding it means that
 * worker is settling the shard: skip), reads the group's watermark, deletes
 * the shard's pending samples below it (joined to their series' states),
 * converts the rows to typed samples, lets the pure cs_series_settle()
 * apply them series by series, stages the costs into usage_cost and the new
 * states into metric_series, and forgets idle series: gauges after
 * evict_usec, counters only after counter_retention_usec, so a counter that
 * comes back after an outage is charged across the gap. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "series.h"
#include "store_internal.h"
#include "timestamp.h"

typedef struct settled_series {
    const char *hex;    /* series id, hex digits (inside the query result) */
    const char *series;
    const char *kind;   /* "counter" or "gauge" */
    cs_series_state st;
} settled_series;

typedef struct series_list {
    settled_series *items;
    size_t n, cap;
} series_list;

/* Result columns of the settlement query, looked up by name once. */
enum {
    COL_SERIES_HEX, COL_SERIES, COL_T_US, COL_VALUE, COL_SPECIAL, COL_KIND, COL_DIVISOR,
    COL_MAX_GAP_US, COL_CUSTOMER, COL_PLAN, COL_PRODUCT, COL_METER, COL_RULE_ID,
    COL_RULES_VERSION, COL_CURRENCY, COL_UNIT, COL_UNIT_PRICE, COL_DISCOUNT_RATE,
    COL_HAS_STATE, COL_LAST_US, COL_LAST_VALUE, COL__COUNT
};
static const char *const col_names[COL__COUNT] = {
    "series_hex", "series", "t_us", "value", "special", "kind", "unit_divisor", "max_gap_us",
    "customer", "plan", "product", "meter", "rule_id", "rules_version", "currency", "unit",
    "unit_price", "discount_rate", "has_state", "last_us", "last_value"};

static const char settle_sql[] =
    "WITH d AS (DELETE FROM metric_samples_pending WHERE group_id = $1"
    "           AND get_byte(series_id, 0) % 16 = $3::int"
    "           AND ts < $2::timestamptz RETURNING *)"
    " SELECT encode(d.series_id, 'hex') AS series_hex, d.series,"
    " (extract(epoch FROM d.ts) * 1000000)::bigint AS t_us, d.value::text AS value, d.special,"
    " d.kind, d.unit_divisor, d.max_gap_us, d.customer, d.plan, d.product, d.meter, d.rule_id,"
    " d.rules_version, d.currency, d.unit, d.unit_price::text AS unit_price,"
    " d.discount_rate::text AS discount_rate, s.series_id IS NOT NULL AS has_state,"
    " (extract(epoch FROM s.last_ts) * 1000000)::bigint AS last_us,"
    " s.last_value::text AS last_value"
    " FROM d LEFT JOIN metric_series s ON s.group_id = d.group_id"
    " AND s.series_id = d.series_id"
    " ORDER BY d.series_id, d.ts, d.topic, d.partition, d.\"offset\"";

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
    cols[4] = x->kind;
    return 1;
}

static const char *cell(PGresult *r, const int *col, int row, int c)
{
    return PQgetvalue(r, row, col[c]);
}

static int64_t cell_i64(PGresult *r, const int *col, int row, int c)
{
    return strtoll(cell(r, col, row, c), NULL, 10);
}

/* A NUMERIC cell; -EINVAL if it does not parse (it always should). */
static int cell_dec(PGresult *r, const int *col, int row, int c, cs_dec *ret)
{
    const char *v = cell(r, col, row, c);
    return cs_dec_parse(v, strlen(v), ret) < 0 ? -EINVAL : 0;
}

/* Row i of the settlement query as a typed sample (strings borrowed from
 * the result).  0 or -EINVAL. */
static int read_sample(PGresult *r, const int *col, int i, cs_series_sample *x)
{
    const char *special = PQgetisnull(r, i, col[COL_SPECIAL]) ? NULL : cell(r, col, i, COL_SPECIAL);
    *x = (cs_series_sample){
        .time_usec = cell_i64(r, col, i, COL_T_US),
        .special = !special                      ? CS_SAMPLE_FINITE
                   : strcmp(special, "NaN") == 0 ? CS_SAMPLE_NAN
                   : special[0] == '-'           ? CS_SAMPLE_NEG_INF
                                                 : CS_SAMPLE_POS_INF,
        .value = cs_dec_zero(),
        .kind = strcmp(cell(r, col, i, COL_KIND), "gauge") == 0 ? CS_METRIC_KIND_GAUGE
                                                                 : CS_METRIC_KIND_COUNTER,
        .unit_divisor = cell_i64(r, col, i, COL_DIVISOR),
        .max_gap_usec = cell_i64(r, col, i, COL_MAX_GAP_US),
        .customer = cell(r, col, i, COL_CUSTOMER),
        .plan = cell(r, col, i, COL_PLAN),
        .product = cell(r, col, i, COL_PRODUCT),
        .meter = cell(r, col, i, COL_METER),
        .rule_id = cell(r, col, i, COL_RULE_ID),
        .rules_version = cell(r, col, i, COL_RULES_VERSION),
        .currency = cell(r, col, i, COL_CURRENCY),
        .unit = cell(r, col, i, COL_UNIT)};
    if (x->unit_divisor <= 0 || cell_dec(r, col, i, COL_UNIT_PRICE, &x->unit_price) < 0 ||
        cell_dec(r, col, i, COL_DISCOUNT_RATE, &x->discount_rate) < 0)
        return -EINVAL;
    if (x->special == CS_SAMPLE_FINITE && cell_dec(r, col, i, COL_VALUE, &x->value) < 0)
        return -EINVAL;
    return 0;
}

/* The stored state of the series whose first row is i. */
static int read_state(PGresult *r, const int *col, int i, cs_series_state *st)
{
    *st = (cs_series_state){0};
    if (cell(r, col, i, COL_HAS_STATE)[0] != 't')
        return 0;
    st->exists = true;
    st->last_usec = cell_i64(r, col, i, COL_LAST_US);
    st->has_value = !PQgetisnull(r, i, col[COL_LAST_VALUE]);
    return st->has_value ? cell_dec(r, col, i, COL_LAST_VALUE, &st->last_value) : 0;
}

/* Settles the rows of res (sorted by series, then settlement order): each
 * series' rows become typed samples for cs_series_settle(), and its new
 * state goes to out.  0, -EINVAL, -ERANGE or -ENOMEM. */
static int apply_samples(PGresult *res, cs_agg *agg, series_list *out, cs_settle_result *ret)
{
    int col[COL__COUNT], n = PQntuples(res), r = 0;
    for (int c = 0; c < COL__COUNT; c++)
        if ((col[c] = PQfnumber(res, col_names[c])) < 0)
            return -EINVAL;
    cs_series_sample *buf = NULL;
    size_t cap = 0;
    for (int i = 0, j; i < n && r == 0; i = j) {
        const char *hex = cell(res, col, i, COL_SERIES_HEX);
        for (j = i; j < n && strcmp(cell(res, col, j, COL_SERIES_HEX), hex) == 0; j++)
            ;
        settled_series cur = {.hex = hex, .series = cell(res, col, i, COL_SERIES)};
        if ((r = cs_array_reserve(&buf, &cap, (size_t)(j - i), sizeof(*buf))) < 0 ||
            (r = read_state(res, col, i, &cur.st)) < 0)
            break;
        for (int k = i; k < j && r == 0; k++)
            r = read_sample(res, col, k, &buf[k - i]);
        if (r < 0 || (r = cs_series_settle(&cur.st, buf, (size_t)(j - i), agg, ret->outcomes)) < 0)
            break;
        ret->samples += (uint64_t)(j - i);
        cur.kind = cell(res, col, j - 1, COL_KIND);
        if (!cur.st.exists)
            continue; /* only NaN so far: nothing to remember */
        if ((r = cs_array_reserve(&out->items, &out->cap, out->n + 1, sizeof(*out->items))) < 0)
            break;
        out->items[out->n++] = cur;
    }
    free(buf);
    return r;
}

/* Takes the shard's lock and reads the group's watermark (minus lateness).
 * *ret_go = 0 when another worker settles the shard, or a partition has
 * not reported yet, or there is no watermark. */
static int shard_begin(cs_store *s, const char *group, const cs_settle_options *o, int shard,
                       int *ret_go, int64_t *ret_wm, char *err, size_t errsize)
{
    char idle[32], sh[12];
    PGresult *res;
    snprintf(idle, sizeof(idle), "%.6f", (double)o->idle_usec / 1e6);
    snprintf(sh, sizeof(sh), "%d", shard);
    const char *p[3] = {group, idle, sh};
    int r = cs__store_exec_params(
        s,
        "SELECT pg_try_advisory_xact_lock(hashtext('costream-settle:' || $1), $3::int),"
        " (SELECT count(*) FILTER (WHERE max_ts IS NULL) FROM metric_watermarks"
        "  WHERE group_id = $1"
        "  AND advanced_at > now() - make_interval(secs => $2::double precision)),"
        " (SELECT (extract(epoch FROM min(max_ts)) * 1000000)::bigint"
        "  FROM metric_watermarks WHERE group_id = $1"
        "  AND advanced_at > now() - make_interval(secs => $2::double precision))",
        3, p, NULL, NULL, "settle", &res, err, errsize);
    if (r < 0)
        return r;
    *ret_go = PQgetvalue(res, 0, 0)[0] == 't' && atoi(PQgetvalue(res, 0, 1)) == 0 &&
              !PQgetisnull(res, 0, 2);
    *ret_wm = *ret_go ? strtoll(PQgetvalue(res, 0, 2), NULL, 10) - o->lateness_usec : 0;
    PQclear(res);
    return 0;
}

/* Writes the settled series' states. */
static int write_states(cs_store *s, const char *group, const series_list *states, char *err,
                        size_t errsize)
{
    int r = cs__store_stage_rows(
        s,
        "CREATE TEMP TABLE IF NOT EXISTS cs_series (series_id bytea, series text,"
        " last_ts timestamptz, last_value numeric, kind text) ON COMMIT DELETE ROWS",
        "COPY cs_series FROM STDIN", states->n, 5, series_row, states, err, errsize);
    if (r < 0)
        return r;
    const char *p[1] = {group};
    return cs__store_exec_params(
        s,
        "INSERT INTO metric_series AS m (group_id, series_id, series, last_ts, last_value, kind)"
        " SELECT $1, series_id, series, last_ts, last_value, kind FROM cs_series"
        " ORDER BY series_id"
        " ON CONFLICT (group_id, series_id) DO UPDATE"
        " SET last_ts = EXCLUDED.last_ts, last_value = EXCLUDED.last_value,"
        " kind = EXCLUDED.kind, updated_at = now()",
        1, p, NULL, NULL, "metric_series", NULL, err, errsize);
}

/* Forgets the shard's idle series: gauges idle for evict_usec, counters
 * for counter_retention_usec (of event time, below the watermark). */
static int evict(cs_store *s, const char *group, int shard, const cs_settle_options *o,
                 int64_t wm, cs_settle_result *ret, char *err, size_t errsize)
{
    char sh[12], gauge[CS_TIMESTAMP_STRLEN], counter[CS_TIMESTAMP_STRLEN];
    snprintf(sh, sizeof(sh), "%d", shard);
    cs_timestamp_format(wm - o->evict_usec > 0 ? wm - o->evict_usec : 0, gauge, sizeof(gauge));
    int64_t c = wm - o->counter_retention_usec;
    cs_timestamp_format(c > 0 ? c : 0, counter, sizeof(counter));
    const char *p[4] = {group, sh, gauge, counter};
    PGresult *res;
    int r = cs__store_exec_params(
        s,
        "WITH e AS (DELETE FROM metric_series WHERE group_id = $1"
        " AND get_byte(series_id, 0) % 16 = $2::int"
        " AND ((kind = 'gauge' AND last_ts < $3::timestamptz)"
        "   OR (kind = 'counter' AND last_ts < $4::timestamptz)) RETURNING kind)"
        " SELECT count(*) FILTER (WHERE kind = 'gauge'),"
        " count(*) FILTER (WHERE kind = 'counter') FROM e",
        4, p, NULL, NULL, "metric_series", &res, err, errsize);
    if (r < 0)
        return r;
    ret->evicted_gauges += strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    ret->evicted_counters += strtoull(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    return 0;
}

int cs_store_settle(cs_store *s, const char *group, const cs_settle_options *o, int shard,
                    cs_agg *agg, cs_settle_result *ret, char *err, size_t errsize)
{
    int r, go;
    int64_t wm;
    PGresult *res = NULL;
    series_list states = {0};
    memset(ret, 0, sizeof(*ret));
    if (shard < 0 || shard >= CS_STORE_SETTLE_SHARDS)
        return -EINVAL;
    if ((r = cs_store_connect(s, err, errsize)) < 0 ||
        (r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    if ((r = shard_begin(s, group, o, shard, &go, &wm, err, errsize)) < 0)
        goto fail;
    if (!go) {
        cs__store_rollback(s);
        return 0;
    }
    ret->watermark_usec = wm;
    char w_text[CS_TIMESTAMP_STRLEN], sh[12];
    cs_timestamp_format(wm, w_text, sizeof(w_text));
    snprintf(sh, sizeof(sh), "%d", shard);
    const char *p[3] = {group, w_text, sh};
    if ((r = cs__store_exec_params(s, settle_sql, 3, p, NULL, NULL, "settle", &res, err,
                                   errsize)) < 0)
        goto fail;
    if ((r = apply_samples(res, agg, &states, ret)) < 0) {
        snprintf(err, errsize, "settle: %s",
                 r == -ERANGE   ? "a cost exceeds 38 digits"
                 : r == -EINVAL ? "a stored sample does not read back"
                                : "out of memory");
        goto fail;
    }
    if ((cs_agg_count(agg) > 0 && (r = cs__store_stage_aggregates(s, agg, err, errsize)) < 0) ||
        (states.n > 0 && (r = write_states(s, group, &states, err, errsize)) < 0) ||
        (r = evict(s, group, shard, o, wm, ret, err, errsize)) < 0 ||
        (r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0)
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
