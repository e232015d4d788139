/* store_settle.c - settlement of metric samples, shard by shard (see
 * store.h, sql/0004_metric_streams.sql, sql/0006_metric_settlement.sql,
 * sql/0016_metric_sample_blocks.sql and docs/metric-streams.md).
 *
 * One call settles one shard of the group's series in one transaction: it
 * takes the shard's advisory lock (another worker holding it means that
 * worker is settling the shard: skip), reads the group's watermark, reads
 * the shard's blocks of pending samples (pending.h) that hold a sample
 * below it, and the rows an earlier version left in metric_samples_pending,
 * sorts those samples into settlement order, fetches their series' states,
 * lets the pure cs_series_settle() apply them series by series, stages the
 * costs into usage_cost and the new states into metric_series, replaces
 * the blocks read by one block of their samples at or above the watermark,
 * and forgets idle series: gauges after evict_usec, counters only after
 * counter_retention_usec, so a counter that comes back after an outage is
 * charged across the gap. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "hex.h"
#include "pending.h"
#include "series.h"
#include "store_internal.h"
#include "timestamp.h"

typedef struct settled_series {
    const unsigned char *id; /* 32 bytes */
    const char *series;
    const char *kind; /* "counter" or "gauge" */
    cs_series_state st;
} settled_series;

typedef struct series_list {
    settled_series *items;
    size_t n, cap;
} series_list;

/* What one shard's settlement reads: the samples below the watermark
 * (pointing into the decoded blocks, the legacy rows' result and
 * legacy_ids), the ids of the blocks read, and a writer holding their
 * samples at or above the watermark. */
typedef struct settle_input {
    const cs_batch_sample **items; /* into the blocks and legacy */
    size_t n, cap;
    cs_pending_block **blocks;
    size_t nblocks, capblocks, nchosen;
    cs_buf block_ids; /* "{id,id,...}": the blocks chosen */
    cs_pending_writer *rest;
    PGresult *legacy;
    cs_batch_sample *legacy_samples;
    unsigned char *legacy_ids;
} settle_input;

static void input_free(settle_input *in)
{
    for (size_t i = 0; i < in->nblocks; i++)
        cs_pending_block_free(in->blocks[i]);
    free(in->blocks);
    free(in->items);
    cs_buf_free(&in->block_ids);
    cs_pending_writer_free(in->rest);
    PQclear(in->legacy);
    free(in->legacy_samples);
    free(in->legacy_ids);
}

static int push_sample(settle_input *in, const cs_batch_sample *x)
{
    if (cs_array_reserve(&in->items, &in->cap, in->n + 1, sizeof(*in->items)) < 0)
        return -ENOMEM;
    in->items[in->n++] = x;
    return 0;
}

/* Chooses the shard's blocks holding a sample below *wm, oldest first,
 * until about max samples (0: all); when it stops early, *wm is lowered to
 * the oldest sample time of the first block left, so that every sample
 * below it is in a block chosen.  Blocks sharing their oldest time are
 * taken together, so that each settlement moves on.  The ids chosen go to
 * in->block_ids.  0, -ENOMEM or an error class. */
static int choose_blocks(cs_store *s, const char *const *p, uint64_t max, int64_t *wm,
                         settle_input *in, char *err, size_t errsize)
{
    PGresult *res;
    int r = cs__store_exec_params(s,
                                  "SELECT id, (extract(epoch FROM min_ts) * 1000000)::bigint,"
                                  " samples FROM metric_sample_blocks"
                                  " WHERE group_id = $1 AND shard = $3::smallint"
                                  " AND min_ts < $2::timestamptz ORDER BY min_ts, id",
                                  3, p, NULL, NULL, "metric_sample_blocks", &res, err, errsize);
    if (r < 0)
        return r;
    uint64_t total = 0;
    int64_t last = INT64_MIN;
    cs_buf_puts(&in->block_ids, "{");
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t min_us = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        uint64_t n = strtoull(PQgetvalue(res, i, 2), NULL, 10);
        if (max && i > 0 && min_us > last && total + n > max) {
            *wm = min_us;
            break;
        }
        cs_buf_printf(&in->block_ids, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
        in->nchosen++;
        total += n;
        last = min_us;
    }
    cs_buf_puts(&in->block_ids, "}");
    PQclear(res);
    return in->block_ids.failed ? -ENOMEM : 0;
}

/* Reads the blocks chosen: their samples below wm go to in->items, the
 * others to in->rest.  0, -EINVAL (a block does not decode), -ENOMEM or
 * an error class. */
static int read_blocks(cs_store *s, int64_t wm, settle_input *in, char *err, size_t errsize)
{
    PGresult *res;
    const char *p[1] = {in->block_ids.data};
    int r = cs__store_query_binary(s,
                                   "SELECT data FROM metric_sample_blocks"
                                   " WHERE id = ANY($1::bigint[]) ORDER BY id",
                                   1, p, "metric_sample_blocks", &res, err, errsize);
    if (r < 0)
        return r;
    for (int i = 0; i < PQntuples(res) && r == 0; i++) {
        cs_pending_block *b;
        if ((r = cs_array_reserve(&in->blocks, &in->capblocks, in->nblocks + 1,
                                  sizeof(*in->blocks))) < 0 ||
            (r = cs_pending_decode(PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0), &b)) <
                0)
            break;
        in->blocks[in->nblocks++] = b;
        size_t n;
        const cs_batch_sample *x = cs_pending_block_samples(b, &n);
        for (size_t k = 0; k < n && r == 0; k++)
            r = x[k].time_usec < wm ? push_sample(in, &x[k]) : cs_pending_writer_add(in->rest, &x[k]);
    }
    PQclear(res);
    return r;
}

/* ---- samples left in metric_samples_pending by an earlier version ---- */

enum {
    COL_SERIES_HEX, COL_SERIES, COL_T_US, COL_VALUE, COL_SPECIAL, COL_KIND, COL_DIVISOR,
    COL_MAX_GAP_US, COL_CUSTOMER, COL_PLAN, COL_PRODUCT, COL_METER, COL_RULE_ID,
    COL_RULES_VERSION, COL_CURRENCY, COL_UNIT, COL_UNIT_PRICE, COL_DISCOUNT_RATE, COL_TOPIC,
    COL_PARTITION, COL_OFFSET, COL__COUNT
};

static const char legacy_sql[] =
    "DELETE FROM metric_samples_pending WHERE group_id = $1"
    " AND get_byte(series_id, 0) % 16 = $3::int AND ts < $2::timestamptz"
    " RETURNING encode(series_id, 'hex'), series,"
    " (extract(epoch FROM ts) * 1000000)::bigint, value::text, special, kind, unit_divisor,"
    " max_gap_us, customer, plan, product, meter, rule_id, rules_version, currency, unit,"
    " unit_price::text, discount_rate::text, topic, partition, \"offset\"";

static int hex_id(const char *hex, unsigned char *out)
{
    return cs_hex_decode(hex, CS_BATCH_SERIES_ID_LEN, out) < 0 ? -EINVAL : 0;
}

static int legacy_dec(PGresult *r, int row, int c, cs_dec *ret)
{
    const char *v = PQgetvalue(r, row, c);
    return cs_dec_parse(v, strlen(v), ret) < 0 ? -EINVAL : 0;
}

/* Row i of the legacy rows as a sample (strings borrowed from the result). */
static int legacy_sample(PGresult *r, int i, unsigned char *id, cs_batch_sample *x)
{
    const char *special = PQgetisnull(r, i, COL_SPECIAL) ? NULL : PQgetvalue(r, i, COL_SPECIAL);
    *x = (cs_batch_sample){
        .series_id = id, .series = PQgetvalue(r, i, COL_SERIES),
        .time_usec = strtoll(PQgetvalue(r, i, COL_T_US), NULL, 10), .special = special,
        .kind = PQgetvalue(r, i, COL_KIND),
        .unit_divisor = strtoll(PQgetvalue(r, i, COL_DIVISOR), NULL, 10),
        .max_gap_usec = strtoll(PQgetvalue(r, i, COL_MAX_GAP_US), NULL, 10),
        .customer = PQgetvalue(r, i, COL_CUSTOMER), .plan = PQgetvalue(r, i, COL_PLAN),
        .product = PQgetvalue(r, i, COL_PRODUCT), .meter = PQgetvalue(r, i, COL_METER),
        .rule_id = PQgetvalue(r, i, COL_RULE_ID),
        .rules_version = PQgetvalue(r, i, COL_RULES_VERSION),
        .currency = PQgetvalue(r, i, COL_CURRENCY), .unit = PQgetvalue(r, i, COL_UNIT),
        .topic = PQgetvalue(r, i, COL_TOPIC),
        .partition = (int32_t)strtol(PQgetvalue(r, i, COL_PARTITION), NULL, 10),
        .offset = strtoll(PQgetvalue(r, i, COL_OFFSET), NULL, 10)};
    if (hex_id(PQgetvalue(r, i, COL_SERIES_HEX), id) < 0 ||
        legacy_dec(r, i, COL_UNIT_PRICE, &x->unit_price) < 0 ||
        legacy_dec(r, i, COL_DISCOUNT_RATE, &x->discount_rate) < 0 ||
        (!special && legacy_dec(r, i, COL_VALUE, &x->value) < 0))
        return -EINVAL;
    return 0;
}

/* Takes the shard's legacy rows below the watermark into in->items. */
static int read_legacy(cs_store *s, const char *const *p, settle_input *in, char *err,
                       size_t errsize)
{
    int r = cs__store_exec_params(s, legacy_sql, 3, p, NULL, NULL, "metric_samples_pending",
                                  &in->legacy, err, errsize);
    int n = r == 0 ? PQntuples(in->legacy) : 0;
    if (r < 0 || n == 0)
        return r;
    if (PQnfields(in->legacy) != COL__COUNT)
        return -EINVAL;
    if (!(in->legacy_ids = malloc((size_t)n * CS_BATCH_SERIES_ID_LEN)) ||
        !(in->legacy_samples = malloc((size_t)n * sizeof(*in->legacy_samples))))
        return -ENOMEM;
    for (int i = 0; i < n && r == 0; i++)
        if ((r = legacy_sample(in->legacy, i, in->legacy_ids + (size_t)i * CS_BATCH_SERIES_ID_LEN,
                               &in->legacy_samples[i])) == 0)
            r = push_sample(in, &in->legacy_samples[i]);
    return r;
}

/* ---- settlement proper ---- */

/* Settlement order: series, then time, topic, partition, offset. */
static int settle_order(const void *a, const void *b)
{
    const cs_batch_sample *x = *(const cs_batch_sample *const *)a,
                          *y = *(const cs_batch_sample *const *)b;
    int c = memcmp(x->series_id, y->series_id, CS_BATCH_SERIES_ID_LEN);
    if (c)
        return c;
    if (x->time_usec != y->time_usec)
        return x->time_usec < y->time_usec ? -1 : 1;
    if ((c = strcmp(x->topic, y->topic)))
        return c;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The stored states of the series in in->items (sorted), in series id
 * order: columns id (hex), last time (µs), last value (NULL: none). */
static int read_states(cs_store *s, const char *group, const settle_input *in,
                       PGresult **ret_res, char *err, size_t errsize)
{
    cs_buf ids = {0};
    for (size_t i = 0; i < in->n; i++)
        if (i == 0 || memcmp(in->items[i]->series_id, in->items[i - 1]->series_id,
                             CS_BATCH_SERIES_ID_LEN) != 0)
            cs_buf_append(&ids, (const char *)in->items[i]->series_id, CS_BATCH_SERIES_ID_LEN);
    if (ids.failed)
        return -ENOMEM;
    const char *p[2] = {group, ids.data ? ids.data : ""};
    int lengths[2] = {0, (int)ids.len}, formats[2] = {0, 1};
    int r = cs__store_exec_params(
        s,
        "SELECT encode(m.series_id, 'hex'), (extract(epoch FROM m.last_ts) * 1000000)::bigint,"
        " m.last_value::text FROM metric_series m"
        " JOIN (SELECT substring($2::bytea FROM i * 32 + 1 FOR 32) AS id"
        "       FROM generate_series(0, length($2::bytea) / 32 - 1) AS i) k"
        " ON m.group_id = $1 AND m.series_id = k.id ORDER BY m.series_id",
        2, p, lengths, formats, "metric_series", ret_res, err, errsize);
    cs_buf_free(&ids);
    return r;
}

/* The stored state of series id, advancing *row through the states
 * (sorted like the samples). */
static int find_state(PGresult *states, int *row, const unsigned char *id, cs_series_state *st)
{
    *st = (cs_series_state){0};
    for (; *row < PQntuples(states); ++*row) {
        unsigned char sid[CS_BATCH_SERIES_ID_LEN];
        if (hex_id(PQgetvalue(states, *row, 0), sid) < 0)
            return -EINVAL;
        int c = memcmp(sid, id, CS_BATCH_SERIES_ID_LEN);
        if (c > 0)
            return 0;
        if (c < 0)
            continue;
        st->exists = true;
        st->last_usec = strtoll(PQgetvalue(states, *row, 1), NULL, 10);
        st->has_value = !PQgetisnull(states, *row, 2);
        return st->has_value ? legacy_dec(states, *row, 2, &st->last_value) : 0;
    }
    return 0;
}

/* A stored sample as cs_series_settle() takes it. */
static int typed_sample(const cs_batch_sample *x, cs_series_sample *out)
{
    *out = (cs_series_sample){
        .time_usec = x->time_usec,
        .special = !x->special                      ? CS_SAMPLE_FINITE
                   : strcmp(x->special, "NaN") == 0 ? CS_SAMPLE_NAN
                   : x->special[0] == '-'           ? CS_SAMPLE_NEG_INF
                                                    : CS_SAMPLE_POS_INF,
        .value = x->special ? cs_dec_zero() : x->value,
        .kind = strcmp(x->kind, "gauge") == 0 ? CS_METRIC_KIND_GAUGE : CS_METRIC_KIND_COUNTER,
        .unit_divisor = x->unit_divisor, .max_gap_usec = x->max_gap_usec,
        .customer = x->customer, .plan = x->plan, .product = x->product, .meter = x->meter,
        .rule_id = x->rule_id, .rules_version = x->rules_version, .currency = x->currency,
        .unit = x->unit, .unit_price = x->unit_price, .discount_rate = x->discount_rate};
    return x->unit_divisor > 0 ? 0 : -EINVAL;
}

/* Settles in->items (sorted) series by series against their states: the
 * costs go to agg, each series' new state to out.  0, -EINVAL, -ERANGE or
 * -ENOMEM. */
static int apply_samples(const settle_input *in, PGresult *states, cs_agg *agg,
                         series_list *out, cs_settle_result *ret)
{
    cs_series_sample *buf = NULL;
    size_t cap = 0;
    int r = 0, row = 0;
    for (size_t i = 0, j; i < in->n && r == 0; i = j) {
        const unsigned char *id = in->items[i]->series_id;
        for (j = i; j < in->n && memcmp(in->items[j]->series_id, id, CS_BATCH_SERIES_ID_LEN) == 0;
             j++)
            ;
        settled_series cur = {.id = id, .series = in->items[i]->series,
                              .kind = in->items[j - 1]->kind};
        if ((r = cs_array_reserve(&buf, &cap, j - i, sizeof(*buf))) < 0 ||
            (r = find_state(states, &row, id, &cur.st)) < 0)
            break;
        for (size_t k = i; k < j && r == 0; k++)
            r = typed_sample(in->items[k], &buf[k - i]);
        if (r < 0 || (r = cs_series_settle(&cur.st, buf, j - i, agg, ret->outcomes)) < 0)
            break;
        ret->samples += (uint64_t)(j - i);
        if (!cur.st.exists)
            continue; /* only NaN so far: nothing to remember */
        if ((r = cs_array_reserve(&out->items, &out->cap, out->n + 1, sizeof(*out->items))) < 0)
            break;
        out->items[out->n++] = cur;
    }
    free(buf);
    return r;
}

static int series_row(const void *ctx, size_t i, const char **cols, char (*num)[CS__STORE_CELL])
{
    const settled_series *x = &((const series_list *)ctx)->items[i];
    num[0][0] = '\\';
    num[0][1] = 'x';
    cs_hex_encode(x->id, CS_BATCH_SERIES_ID_LEN, num[0] + 2);
    cs_timestamp_format(x->st.last_usec, num[1], CS__STORE_CELL);
    cs_dec_format(x->st.last_value, 12, num[2], CS__STORE_CELL);
    cols[0] = num[0];
    cols[1] = x->series;
    cols[2] = num[1];
    cols[3] = x->st.has_value ? num[2] : NULL;
    cols[4] = x->kind;
    return 1;
}

/* Deletes the blocks read and writes their samples at or above the
 * watermark back as one block. */
static int replace_blocks(cs_store *s, const char *group, int shard, settle_input *in,
                          char *err, size_t errsize)
{
    const char *p[1] = {in->block_ids.data};
    int r = cs__store_exec_params(s, "DELETE FROM metric_sample_blocks WHERE id = ANY($1::bigint[])",
                                  1, p, NULL, NULL, "metric_sample_blocks", NULL, err, errsize);
    if (r < 0 || cs_pending_writer_count(in->rest) == 0)
        return r;
    cs_buf block = {0};
    char sh[12], n[24], lo[CS_TIMESTAMP_STRLEN], hi[CS_TIMESTAMP_STRLEN];
    cs_pending_writer_finish(in->rest, &block);
    if (block.failed) {
        cs_buf_free(&block);
        return -ENOMEM;
    }
    snprintf(sh, sizeof(sh), "%d", shard);
    snprintf(n, sizeof(n), "%zu", cs_pending_writer_count(in->rest));
    cs_timestamp_format(cs_pending_writer_min_usec(in->rest), lo, sizeof(lo));
    cs_timestamp_format(cs_pending_writer_max_usec(in->rest), hi, sizeof(hi));
    const char *v[6] = {group, sh, lo, hi, n, block.data};
    int lengths[6] = {0, 0, 0, 0, 0, (int)block.len}, formats[6] = {0, 0, 0, 0, 0, 1};
    r = cs__store_exec_params(s,
                              "INSERT INTO metric_sample_blocks (group_id, shard, min_ts, max_ts,"
                              " samples, data) VALUES ($1, $2, $3, $4, $5, $6)",
                              6, v, lengths, formats, "metric_sample_blocks", NULL, err, errsize);
    cs_buf_free(&block);
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

/* Reads the shard's samples below wm (blocks, then legacy rows; wm is
 * lowered when the blocks below it hold more than o->max_samples), sorts
 * them, settles them against their series' states, and writes the costs,
 * the new states and the blocks' remainder. */
static int settle_shard(cs_store *s, const char *group, int shard, const cs_settle_options *o,
                        int64_t *wm, cs_agg *agg, settle_input *in, series_list *states,
                        cs_settle_result *ret, char *err, size_t errsize)
{
    char w_text[CS_TIMESTAMP_STRLEN], sh[12];
    cs_timestamp_format(*wm, w_text, sizeof(w_text));
    snprintf(sh, sizeof(sh), "%d", shard);
    const char *p[3] = {group, w_text, sh};
    PGresult *st = NULL;
    int r;
    if ((r = choose_blocks(s, p, o->max_samples, wm, in, err, errsize)) < 0 ||
        (in->nchosen > 0 && (r = read_blocks(s, *wm, in, err, errsize)) < 0))
        return r;
    cs_timestamp_format(*wm, w_text, sizeof(w_text)); /* lowered, perhaps */
    if ((r = read_legacy(s, p, in, err, errsize)) < 0)
        return r;
    if (in->n > 1) /* items is NULL when there are none */
        qsort(in->items, in->n, sizeof(*in->items), settle_order);
    if (in->n > 0 && (r = read_states(s, group, in, &st, err, errsize)) < 0)
        return r;
    r = in->n > 0 ? apply_samples(in, st, agg, states, ret) : 0;
    PQclear(st);
    if (r < 0)
        return r;
    if ((in->nchosen > 0 && (r = replace_blocks(s, group, shard, in, err, errsize)) < 0) ||
        (cs_agg_count(agg) > 0 && (r = cs__store_stage_aggregates(s, agg, err, errsize)) < 0) ||
        (states->n > 0 && (r = write_states(s, group, states, err, errsize)) < 0))
        return r;
    return 0;
}

int cs_store_settle(cs_store *s, const char *group, const cs_settle_options *o, int shard,
                    cs_agg *agg, cs_settle_result *ret, char *err, size_t errsize)
{
    int r, go;
    int64_t wm;
    series_list states = {0};
    settle_input in = {0};
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
    if (!(in.rest = cs_pending_writer_new())) {
        r = -ENOMEM;
        goto local;
    }
    r = settle_shard(s, group, shard, o, &wm, agg, &in, &states, ret, err, errsize);
    if (r == -EINVAL || r == -ENOMEM || r == -ERANGE)
        goto local;
    if (r < 0 || (r = evict(s, group, shard, o, wm, ret, err, errsize)) < 0 ||
        (r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize)) < 0)
        goto fail;
    input_free(&in);
    free(states.items);
    ret->settled = 1;
    return 0;
local:
    snprintf(err, errsize, "settle: %s",
             r == -ERANGE   ? "a cost exceeds 38 digits"
             : r == -EINVAL ? "a stored sample does not read back"
                            : "out of memory");
fail:
    input_free(&in);
    free(states.items);
    cs__store_rollback(s);
    if (s->conn && PQstatus(s->conn) != CONNECTION_OK)
        cs__store_disconnect(s);
    return r < 0 ? r : -EIO;
}
