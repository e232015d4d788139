/* store_flush.c - the flush transaction (see store.h).
 *
 * Aggregates go through COPY into a session-local staging table, with the
 * billing period of their month looked up once, and one INSERT ... ON
 * CONFLICT DO UPDATE that adds them to usage_cost, in key order: four round
 * trips per flush (lock, periods, COPY, upsert) whatever the number of rows.
 * Rejected events are written by binary COPY too (their raw bytes may be
 * anything), and pending metric samples as one binary COPY row per
 * settlement shard, each a block of its samples (pending.h).  Offsets are
 * advanced first, by compare-and-set; any mismatch rolls the whole
 * transaction back.
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "buf.h"
#include "dedup.h"
#include "hex.h"
#include "pending.h"
#include "store_internal.h"
#include "timestamp.h"
#include "utf8.h"

/* ---- aggregates, in COPY's binary format --------------------------------
 *
 * PostgreSQL reads binary numerics and timestamps without parsing text,
 * which is most of what a COPY of aggregates costs it.  Layout: the
 * signature, flags and header extension, then per row the field count and
 * each field as int32 length + bytes (network order), then -1. */

static void put_be(cs_buf *b, uint64_t v, int bytes)
{
    unsigned char t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    cs_buf_append(b, (const char *)t, (size_t)bytes);
}

static void put_text(cs_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (cs_utf8_valid(s, n)) {
        put_be(b, n, 4);
        cs_buf_append(b, s, n);
        return;
    }
    char *fixed = malloc(4 * n + 1); /* as the text COPY does: escaped, never refused */
    if (!fixed) {
        b->failed = true;
        return;
    }
    cs_utf8_escape(fixed, 4 * n + 1, s, n, NULL);
    put_be(b, strlen(fixed), 4);
    cs_buf_append(b, fixed, strlen(fixed));
    free(fixed);
}

static void put_numeric(cs_buf *b, cs_dec d)
{
    unsigned char t[CS_DEC_PG_MAX];
    size_t n = cs_dec_pg_numeric(d, t);
    put_be(b, n, 4);
    cs_buf_append(b, (const char *)t, n);
}

static void put_null(cs_buf *b)
{
    put_be(b, 0xffffffff, 4);
}

static void put_int4(cs_buf *b, int32_t v)
{
    put_be(b, 4, 4);
    put_be(b, (uint32_t)v, 4);
}

static void put_int8(cs_buf *b, int64_t v)
{
    put_be(b, 8, 4);
    put_be(b, (uint64_t)v, 8);
}

/* bytea, or NULL when p is */
static void put_bytes(cs_buf *b, const void *p, size_t n)
{
    if (!p) {
        put_null(b);
        return;
    }
    put_be(b, n, 4);
    cs_buf_append(b, p, n);
}

/* text, or NULL when s is */
static void put_text_or_null(cs_buf *b, const char *s)
{
    if (s)
        put_text(b, s);
    else
        put_null(b);
}

static void put_header(cs_buf *b)
{
    cs_buf_append(b, "PGCOPY\n\377\r\n\0", 11);
    put_be(b, 0, 4); /* flags */
    put_be(b, 0, 4); /* header extension */
}

static void put_trailer(cs_buf *b)
{
    put_be(b, 0xffff, 2);
}

#define PG_EPOCH_USEC INT64_C(946684800000000) /* 2000-01-01 in Unix µs */

/* ---- billing periods ----------------------------------------------------
 *
 * A row's billing period is cs_billing_period() of its hour (sql/0003: the
 * hour's month, or the first open month after it once that one is
 * closed), which depends only on the month.  It is looked up once per
 * month of the batch and written into the staged rows: joining the staged
 * rows to the periods inside the upsert cost a quarter of the upsert. */

typedef struct month_period {
    int64_t month;  /* first instant of the UTC month (µs) */
    int32_t days;   /* its billing period, days since 2000-01-01 (binary date) */
} month_period;

typedef struct periods {
    month_period *items;
    size_t n, cap;
} periods;

static int32_t period_days(const periods *p, int64_t hour_usec)
{
    int64_t m = cs_timestamp_month_start(hour_usec);
    for (size_t i = 0; i < p->n; i++)
        if (p->items[i].month == m)
            return p->items[i].days;
    return 0; /* not reached: every month of the rows was looked up */
}

/* The months of agg's rows, each with its billing period.  usage_cost's
 * ROW EXCLUSIVE lock is taken first, so that closing a month (SHARE ROW
 * EXCLUSIVE, period.c) waits for this transaction or this one for it: a
 * flush lands wholly before or wholly after a close.  0, -ENOMEM or an
 * error class. */
static int billing_periods(cs_store *s, const cs_agg *agg, periods *p, char *err, size_t errsize)
{
    cs_buf arr = {0};
    PGresult *res = NULL;
    int r = 0;
    for (size_t i = 0; i < cs_agg_count(agg) && r == 0; i++) {
        const cs_agg_row *row = cs_agg_row_at(agg, i);
        int64_t m = cs_timestamp_month_start(row->key.hour_usec);
        size_t k = 0;
        while (k < p->n && p->items[k].month != m)
            k++;
        if (row->events == 0 || k < p->n)
            continue;
        if ((r = cs_array_reserve(&p->items, &p->cap, p->n + 1, sizeof(*p->items))) < 0)
            break;
        p->items[p->n++] = (month_period){.month = m};
        char ts[CS_TIMESTAMP_STRLEN];
        cs_timestamp_format(m, ts, sizeof(ts));
        cs_buf_printf(&arr, "%s%s", p->n > 1 ? "," : "{", ts);
    }
    if (r < 0 || p->n == 0) {
        cs_buf_free(&arr);
        return r;
    }
    cs_buf_puts(&arr, "}");
    const char *v[1] = {arr.data};
    if (arr.failed)
        r = -ENOMEM;
    else if ((r = cs__store_exec_ok(s, "LOCK TABLE usage_cost IN ROW EXCLUSIVE MODE",
                                    PGRES_COMMAND_OK, err, errsize)) == 0)
        r = cs__store_exec_params(s,
                                  "SELECT cs_billing_period(m) - date '2000-01-01'"
                                  " FROM unnest($1::timestamptz[]) WITH ORDINALITY AS t (m, i)"
                                  " ORDER BY i",
                                  1, v, NULL, NULL, "cs_billing_period", &res, err, errsize);
    for (size_t i = 0; r == 0 && i < p->n; i++)
        p->items[i].days = (int32_t)strtol(PQgetvalue(res, (int)i, 0), NULL, 10);
    PQclear(res);
    cs_buf_free(&arr);
    return r;
}

static void agg_binary(cs_buf *b, const cs_agg *agg, const periods *p)
{
    put_header(b);
    for (size_t i = 0; i < cs_agg_count(agg); i++) {
        const cs_agg_row *row = cs_agg_row_at(agg, i);
        if (row->events == 0)
            continue; /* every event of it was a duplicate */
        put_be(b, 18, 2);
        put_int4(b, period_days(p, row->key.hour_usec)); /* a date: int4 days */
        put_int8(b, row->key.hour_usec - PG_EPOCH_USEC);
        const char *texts[] = {row->key.customer, row->key.product, row->key.meter,
                               row->key.rule_id, row->key.rules_version, row->key.plan,
                               row->key.currency, row->key.unit};
        for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++)
            put_text(b, texts[t]);
        cs_dec nums[] = {row->key.unit_price, row->key.discount_rate, row->quantity,
                         row->list_cost, row->discount, row->cost};
        for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
            put_numeric(b, nums[k]);
        put_int8(b, row->events);
        put_text_or_null(b, row->key.attribution && *row->key.attribution
                                ? row->key.attribution
                                : NULL); /* NULL: attributed */
    }
    put_trailer(b);
}

/* Adds the staged rows to usage_cost (summed over attributions) and the
 * unattributed ones' breakdown to unattributed_usage, both in key order. */
/* usage_cost's columns from cs_stage: as they are, or summed over the
 * attributions of unattributed rows (several staged rows per key then). */
#define USAGE_INSERT                                                                   \
    "INSERT INTO usage_cost AS u (billing_period, hour, customer, product, meter,"     \
    " rule_id, rules_version, plan, currency, unit, unit_price, discount_rate,"        \
    " quantity, list_cost, discount, cost, events) SELECT billing_period, hour,"       \
    " customer, product, meter, rule_id, rules_version, plan, currency, unit, unit_price," \
    " discount_rate, "
#define USAGE_UPSERT                                                                   \
    /* one lock order for every worker: no deadlock between flushes */                 \
    " ORDER BY hour, customer, product, meter, rule_id, rules_version, plan"           \
    " ON CONFLICT (billing_period, hour, customer, product, meter, rule_id,"           \
    " rules_version, plan)"                                                            \
    " DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity,"                        \
    " list_cost = u.list_cost + EXCLUDED.list_cost,"                                   \
    " discount = u.discount + EXCLUDED.discount,"                                      \
    " cost = u.cost + EXCLUDED.cost,"                                                  \
    " events = u.events + EXCLUDED.events, updated_at = now()"

static const char upsert_usage[] =
    USAGE_INSERT "quantity, list_cost, discount, cost, events"
    " FROM cs_stage" USAGE_UPSERT;

static const char upsert_usage_summed[] =
    USAGE_INSERT "sum(quantity), sum(list_cost), sum(discount), sum(cost), sum(events)"
    " FROM cs_stage GROUP BY billing_period, hour, customer, product, meter,"
    " rule_id, rules_version, plan, currency, unit, unit_price, discount_rate" USAGE_UPSERT;

static const char upsert_unattributed[] =
    "INSERT INTO unattributed_usage AS u (billing_period, hour, product, meter, rule_id,"
    " rules_version, plan, attribution, currency, unit, unit_price, discount_rate, quantity,"
    " list_cost, discount, cost, events)"
    " SELECT billing_period, hour, product, meter, rule_id, rules_version, plan,"
    " attribution, currency, unit, unit_price, discount_rate, quantity, list_cost, discount,"
    " cost, events FROM cs_stage WHERE attribution IS NOT NULL"
    " ORDER BY hour, product, meter, rule_id, rules_version, plan, attribution"
    " ON CONFLICT (billing_period, hour, product, meter, rule_id, rules_version, plan,"
    " attribution) DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity,"
    " list_cost = u.list_cost + EXCLUDED.list_cost, discount = u.discount + EXCLUDED.discount,"
    " cost = u.cost + EXCLUDED.cost, events = u.events + EXCLUDED.events";

static bool any_attribution(const cs_agg *agg)
{
    for (size_t i = 0; i < cs_agg_count(agg); i++) {
        const cs_agg_row *row = cs_agg_row_at(agg, i);
        if (row->events > 0 && row->key.attribution && *row->key.attribution)
            return true;
    }
    return false;
}

/* The store's COPY buffer, emptied: its pages stay mapped from one flush
 * to the next (growing a fresh one cost a tenth of the flusher's time in
 * page faults); one grown past COPY_BUF_KEEP is let go after use. */
#define COPY_BUF_KEEP (64u << 20)

static cs_buf *copy_buf(cs_store *s)
{
    cs_buf_reset(&s->copy);
    s->copy.failed = false;
    return &s->copy;
}

static void copy_buf_done(cs_store *s)
{
    if (s->copy.cap > COPY_BUF_KEEP)
        cs_buf_free(&s->copy);
}

int cs__store_stage_aggregates(cs_store *s, const cs_agg *agg, char *err, size_t errsize)
{
    periods p = {0};
    int r = billing_periods(s, agg, &p, err, errsize);
    if (r < 0) {
        free(p.items);
        return r;
    }
    cs_buf *b = copy_buf(s);
    agg_binary(b, agg, &p);
    free(p.items);
    if (b->failed) {
        cs_buf_free(b);
        return -ENOMEM;
    }
    if ((r = cs__store_exec_ok(s,
                               "CREATE TEMP TABLE IF NOT EXISTS cs_stage (billing_period date,"
                               " hour timestamptz, customer text, product text, meter text,"
                               " rule_id text, rules_version text, plan text, currency char(3),"
                               " unit text, unit_price numeric, discount_rate numeric,"
                               " quantity numeric, list_cost numeric, discount numeric,"
                               " cost numeric, events bigint, attribution text)"
                               " ON COMMIT DELETE ROWS",
                               PGRES_COMMAND_OK, err, errsize)) < 0 ||
        (r = cs__store_exec_ok(s, "COPY cs_stage FROM STDIN (FORMAT binary)", PGRES_COPY_IN, err,
                               errsize)) < 0 ||
        (r = cs__store_copy_data(s, b->data, b->len, err, errsize)) < 0) {
        copy_buf_done(s);
        return r;
    }
    copy_buf_done(s);
    bool attributions = any_attribution(agg);
    if ((r = cs__store_exec_ok(s, attributions ? upsert_usage_summed : upsert_usage,
                               PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    return attributions ? cs__store_exec_ok(s, upsert_unattributed, PGRES_COMMAND_OK, err, errsize)
                        : 0;
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
        int r = cs__store_fail(s, res, "event_fingerprints", err, errsize);
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

/* A text array literal of d's hours ("{...}", timestamps) or, with
 * lock_keys, of their lock keys (hours since the epoch: int4 until year
 * 247,000).  NULL on ENOMEM; the caller frees. */
static char *hours_literal(const cs_store_dedup *d, int lock_keys)
{
    char *out = malloc(d->nhours * (CS_TIMESTAMP_STRLEN + 3) + 3), *p = out;
    if (!out)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < d->nhours; i++) {
        char h[CS_TIMESTAMP_STRLEN];
        if (lock_keys)
            snprintf(h, sizeof(h), "%" PRId64, d->hours[i] / CS_USEC_PER_HOUR);
        else
            hour_text(d->hours[i], h, sizeof(h));
        p += sprintf(p, "%s\"%s\"", i ? "," : "", h);
    }
    strcpy(p, "}");
    return out;
}

static char *seqs_literal(const cs_store_dedup *d, const int64_t *after)
{
    char *out = malloc(d->nhours * 22 + 3), *p = out;
    if (!out)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < d->nhours; i++)
        p += sprintf(p, "%s%" PRId64, i ? "," : "", after[i]);
    strcpy(p, "}");
    return out;
}

/* Takes the group's advisory lock of every hour, in ascending order (so
 * that two workers cannot deadlock), in one statement. */
static int dedup_lock(cs_store *s, const char *group, const cs_store_dedup *d, char *err,
                      size_t errsize)
{
    char *keys = hours_literal(d, 1);
    if (!keys)
        return -ENOMEM;
    const char *v[2] = {group, keys};
    int r = cs__store_exec_params(s,
                                  "SELECT count(pg_advisory_xact_lock(hashtext($1), k))"
                                  " FROM (SELECT k FROM unnest($2::int[]) AS k ORDER BY k) AS o",
                                  2, v, NULL, NULL, "event_fingerprints lock", NULL, err, errsize);
    free(keys);
    return r;
}

/* Hands seen() every row other workers stored for each hour after
 * after[i], in one statement; ret_seq[i] becomes the last seq read, and
 * *ret_found (may be NULL) how many of the batch's events seen() found. */
static int dedup_read(cs_store *s, const char *group, const cs_store_dedup *d,
                      const int64_t *after, size_t *ret_found, char *err, size_t errsize)
{
    char *hours = hours_literal(d, 0), *seqs = seqs_literal(d, after);
    size_t found = 0;
    int r = hours && seqs ? 0 : -ENOMEM;
    PGresult *res = NULL;
    if (r == 0) {
        const char *v[3] = {group, hours, seqs};
        res = PQexecParams(s->conn,
                           "SELECT q.i, e.seq, e.fps FROM unnest($2::timestamptz[], $3::bigint[])"
                           " WITH ORDINALITY AS q(hour, after, i)"
                           " JOIN event_fingerprints e ON e.group_id = $1 AND e.hour = q.hour"
                           " AND e.seq > q.after ORDER BY q.i, e.seq",
                           3, NULL, v, NULL, NULL, 1);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            r = cs__store_fail(s, res, "event_fingerprints", err, errsize);
    }
    for (size_t i = 0; i < d->nhours; i++)
        d->ret_seq[i] = after[i];
    for (int row = 0; r == 0 && row < PQntuples(res); row++) {
        int64_t i = be64(PQgetvalue(res, row, 0)) - 1, seq = be64(PQgetvalue(res, row, 1));
        size_t len = (size_t)PQgetlength(res, row, 2);
        if (i < 0 || (size_t)i >= d->nhours)
            continue;
        int n = d->seen(d->opaque, d->hours[i], (const unsigned char *)PQgetvalue(res, row, 2),
                        len / CS_DEDUP_FP_LEN, seq);
        r = n < 0 ? n : 0;
        found += n > 0 ? (size_t)n : 0;
        d->ret_seq[i] = seq;
    }
    PQclear(res);
    free(hours);
    free(seqs);
    if (ret_found)
        *ret_found = found;
    return r;
}

/* The batch's new fingerprints per hour, as COPY rows (i, hour, fps). */
typedef struct fps_rows {
    const cs_store_dedup *d;
    char **hex; /* per hour: "\\x..." or NULL when it has nothing new */
} fps_rows;

static int fps_row(const void *ctx, size_t i, const char **cols, char (*num)[CS__STORE_CELL])
{
    const fps_rows *f = ctx;
    if (!f->hex[i])
        return 0;
    snprintf(num[0], CS__STORE_CELL, "%zu", i);
    hour_text(f->d->hours[i], num[1], CS__STORE_CELL);
    cols[0] = num[0];
    cols[1] = num[1];
    cols[2] = f->hex[i];
    return 1;
}

/* Stores each hour's new fingerprints as one row (COPY, then one insert);
 * ret_seq[i] becomes that row's seq. */
static int dedup_write(cs_store *s, const char *group, const cs_store_dedup *d, char *err,
                       size_t errsize)
{
    fps_rows f = {d, calloc(d->nhours, sizeof(char *))};
    size_t nrows = 0;
    int r = f.hex ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < d->nhours; i++) {
        const unsigned char *fps;
        size_t n;
        if ((r = d->fresh(d->opaque, d->hours[i], &fps, &n)) < 0 || n == 0)
            continue;
        size_t len = n * CS_DEDUP_FP_LEN;
        char *h = f.hex[i] = malloc(2 * len + 3);
        if (!h) {
            r = -ENOMEM;
            break;
        }
        h[0] = '\\';
        h[1] = 'x';
        cs_hex_encode(fps, len, h + 2);
        nrows++;
    }
    if (r == 0 && nrows > 0)
        r = cs__store_stage_rows(s,
                                 "CREATE TEMP TABLE IF NOT EXISTS cs_fps (i int, hour timestamptz,"
                                 " fps bytea) ON COMMIT DELETE ROWS",
                                 "COPY cs_fps FROM STDIN", d->nhours, 3, fps_row, &f, err, errsize);
    PGresult *res = NULL;
    const char *v[1] = {group};
    if (r == 0 && nrows > 0)
        r = cs__store_exec_params(
            s,
            "WITH ins AS (INSERT INTO event_fingerprints (group_id, hour, fps)"
            " SELECT $1, hour, fps FROM cs_fps ORDER BY hour RETURNING hour, seq)"
            " SELECT c.i, ins.seq FROM ins JOIN cs_fps c USING (hour)",
            1, v, NULL, NULL, "event_fingerprints", &res, err, errsize);
    for (int row = 0; r == 0 && row < PQntuples(res); row++) {
        long i = strtol(PQgetvalue(res, row, 0), NULL, 10);
        if (i >= 0 && (size_t)i < d->nhours)
            d->ret_seq[i] = strtoll(PQgetvalue(res, row, 1), NULL, 10);
    }
    PQclear(res);
    for (size_t i = 0; f.hex && i < d->nhours; i++)
        free(f.hex[i]);
    free(f.hex);
    return r;
}

int cs_store_dedup_load_many(cs_store *s, const char *group, const cs_store_dedup *d, char *err,
                             size_t errsize)
{
    int r;
    if (d->nhours == 0)
        return 0;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    return dedup_read(s, group, d, d->seen_seq, NULL, err, errsize);
}

/* De-duplication is optimistic, so that the hours' locks are held only at
 * the end of the transaction: two workers' flushes of the same event hours
 * (every flush of live traffic) would otherwise run one after the other.
 *
 * Before the aggregates, without a lock: takes in what other workers
 * stored since the hours were loaded (their events are taken back out of
 * the batch before its aggregates are written). */
static int dedup_begin(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    return dedup_read(s, b->group, b->dedup, b->dedup->seen_seq, NULL, err, errsize);
}

/* Last, under the group's lock of every hour: reads what was stored since
 * dedup_begin.  If that holds an event of this batch (another worker
 * counted it meanwhile), the aggregates already written are wrong:
 * -EAGAIN, and the transaction is rolled back and redone (the event is
 * now taken back).  Otherwise stores this batch's new fingerprints, one
 * row per hour.  Three statements and a COPY, whatever the hours. */
static int dedup_end(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    size_t found;
    int r;
    if ((r = dedup_lock(s, b->group, b->dedup, err, errsize)) < 0 ||
        (r = dedup_read(s, b->group, b->dedup, b->dedup->ret_seq, &found, err, errsize)) < 0)
        return r;
    if (found > 0) {
        cs__store_set_err(err, errsize,
                          "another worker stored %zu of the batch's events during the flush;"
                          " flushing again without them", found);
        return -EAGAIN;
    }
    return dedup_write(s, b->group, b->dedup, err, errsize);
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
    if ((r = cs__store_exec_params(s,
                                   "DELETE FROM event_fingerprints WHERE group_id = $1"
                                   " AND created_at < now() - make_interval(hours => $2::int)",
                                   2, params, NULL, NULL, "event_fingerprints", &res, err,
                                   errsize)) < 0)
        return r;
    *ret_deleted = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static int customer_row(const void *ctx, size_t i, const char **cols, char (*num)[CS__STORE_CELL])
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
    int r = cs__store_stage_rows(s,
                                 "CREATE TEMP TABLE IF NOT EXISTS cs_customers (id text, name text,"
                                 " plan text, cost_center text) ON COMMIT DELETE ROWS",
                                 "COPY cs_customers FROM STDIN", b->ncustomers, 4, customer_row, b,
                                 err, errsize);
    if (r < 0)
        return r;
    return cs__store_exec_ok(
        s,
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

/* One row of metric_sample_blocks per shard with samples: the shard's
 * samples of the batch packed into one block (pending.h), in COPY's binary
 * format.  PostgreSQL writes a row per shard and flush, not per sample.
 * 0, -EINVAL (a sample the block cannot hold) or -ENOMEM. */
static int samples_binary(cs_buf *b, const cs_store_batch *batch)
{
    cs_pending_writer *w = cs_pending_writer_new();
    cs_buf block = {0};
    int r = w ? 0 : -ENOMEM;
    put_header(b);
    for (int shard = 0; shard < CS_STORE_SETTLE_SHARDS && r == 0; shard++) {
        cs_pending_writer_reset(w);
        for (size_t i = 0; i < batch->nsamples && r == 0; i++)
            if (batch->samples[i].series_id[0] % CS_STORE_SETTLE_SHARDS == shard)
                r = cs_pending_writer_add(w, &batch->samples[i]);
        if (r < 0 || cs_pending_writer_count(w) == 0)
            continue;
        cs_buf_reset(&block);
        cs_pending_writer_finish(w, &block);
        put_be(b, 6, 2);
        put_text(b, batch->group);
        put_be(b, 2, 4);
        put_be(b, (uint64_t)shard, 2);
        put_int8(b, cs_pending_writer_min_usec(w) - PG_EPOCH_USEC);
        put_int8(b, cs_pending_writer_max_usec(w) - PG_EPOCH_USEC);
        put_int4(b, (int32_t)cs_pending_writer_count(w));
        put_bytes(b, block.data ? block.data : "", block.len);
        if (block.failed)
            r = -ENOMEM;
    }
    put_trailer(b);
    cs_buf_free(&block);
    cs_pending_writer_free(w);
    return r < 0 ? r : b->failed ? -ENOMEM : 0;
}

/* COPY of the batch's samples into metric_sample_blocks. */
static int copy_samples(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    cs_buf *buf = copy_buf(s);
    int r = samples_binary(buf, b);
    if (r < 0)
        cs__store_set_err(err, errsize, "metric_sample_blocks: %s",
                          r == -ENOMEM ? "out of memory" : "a sample cannot be packed");
    if (r == -EINVAL)
        r = -EBADMSG; /* the data, not the database: isolated like a refused row */
    if (r == 0 &&
        (r = cs__store_exec_ok(s,
                               "COPY metric_sample_blocks (group_id, shard, min_ts, max_ts,"
                               " samples, data) FROM STDIN (FORMAT binary)",
                               PGRES_COPY_IN, err, errsize)) == 0)
        r = cs__store_copy_data(s, buf->data, buf->len, err, errsize);
    copy_buf_done(s);
    return r;
}

/* Stores the batch's metric samples as pending, and advances the watermarks. */
static int insert_samples(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    int r;
    if (b->nsamples > 0 && (r = copy_samples(s, b, err, errsize)) < 0)
        return r;
    for (size_t i = 0; i < b->nwatermarks; i++) {
        const cs_store_watermark *w = &b->watermarks[i];
        char part[16], ts[CS_TIMESTAMP_STRLEN];
        snprintf(part, sizeof(part), "%" PRId32, w->partition);
        if (w->max_usec >= 0)
            cs_timestamp_format(w->max_usec, ts, sizeof(ts));
        const char *values[4] = {b->group, w->topic, part, w->max_usec >= 0 ? ts : NULL};
        if ((r = cs__store_exec_params(
                 s,
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

/* The rejects in COPY's binary format, straight into rejected_events: their
 * raw bytes and keys go as they are, whatever they hold. */
static void rejects_binary(cs_buf *b, const cs_store_batch *batch)
{
    put_header(b);
    for (size_t i = 0; i < batch->nrejects; i++) {
        const cs_store_reject *rj = &batch->rejects[i];
        char detail[1024];
        cs_utf8_escape(detail, sizeof(detail), rj->detail, strlen(rj->detail), NULL);
        put_be(b, 8, 2);
        put_text(b, batch->group);
        put_text(b, rj->topic);
        put_int4(b, rj->partition);
        put_int8(b, rj->offset);
        put_text(b, rj->reason);
        put_text(b, detail); /* escaped and cut at 1,023 bytes, between characters */
        put_bytes(b, rj->raw ? rj->raw : "", rj->raw_len);
        put_bytes(b, rj->key, rj->key_len); /* NULL: the message had no key */
    }
    put_trailer(b);
}

static int insert_rejects(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    cs_buf *buf = copy_buf(s);
    int r;
    rejects_binary(buf, b);
    if (buf->failed) {
        cs_buf_free(buf);
        return -ENOMEM;
    }
    if ((r = cs__store_exec_ok(s,
                               "COPY rejected_events (group_id, topic, partition, \"offset\","
                               " reason, detail, raw, msg_key) FROM STDIN (FORMAT binary)",
                               PGRES_COPY_IN, err, errsize)) == 0)
        r = cs__store_copy_data(s, buf->data, buf->len, err, errsize);
    copy_buf_done(s);
    return r;
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
                    ? cs__store_exec_params(
                          s,
                          "INSERT INTO consumer_offsets (group_id, topic, partition,"
                          " next_offset) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                          4, values, NULL, NULL, "consumer_offsets", &res, err, errsize)
                    : cs__store_exec_params(s,
                                            "UPDATE consumer_offsets SET next_offset = $4,"
                                            " updated_at = now() WHERE group_id = $1 AND topic = $2"
                                            " AND partition = $3 AND next_offset = $5",
                                            5, values, NULL, NULL, "consumer_offsets", &res, err,
                                            errsize);
        if (r < 0)
            return r;
        int changed = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (!changed) {
            cs__store_set_err(err, errsize,
                              "fenced: %s [%" PRId32 "] is no longer at offset %" PRId64
                              " in the store (another worker owns it now)",
                              o->topic, o->partition, o->expected);
            return -ESTALE;
        }
    }
    return 0;
}

/* One attempt at the flush transaction. */
static int flush_once(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    int r;
    bool dedup = b->dedup && b->dedup->nhours > 0;
    if ((r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    /* Offsets first: a fenced worker learns it before doing the work, and
     * the row locks serialise two workers racing for one partition. */
    if ((r = advance_offsets(s, b, err, errsize)) < 0 ||
        (dedup && (r = dedup_begin(s, b, err, errsize)) < 0) ||
        (cs_agg_count(b->agg) > 0 &&
         (r = cs__store_stage_aggregates(s, b->agg, err, errsize)) < 0) ||
        (b->ncustomers > 0 && (r = upsert_customers(s, b, err, errsize)) < 0) ||
        ((b->nsamples > 0 || b->nwatermarks > 0) && (r = insert_samples(s, b, err, errsize)) < 0) ||
        (b->nrejects > 0 && (r = insert_rejects(s, b, err, errsize)) < 0) ||
        (dedup && (r = dedup_end(s, b, err, errsize)) < 0)) {
        cs__store_rollback(s);
        if (r != -ESTALE && s->conn && PQstatus(s->conn) != CONNECTION_OK)
            cs__store_disconnect(s);
        return r;
    }
    return cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize);
}

#define FLUSH_CONFLICT_TRIES 5 /* then -EAGAIN: the caller retries later */

int cs_store_flush(cs_store *s, const cs_store_batch *b, char *err, size_t errsize)
{
    int r;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    for (int attempt = 0; attempt < FLUSH_CONFLICT_TRIES; attempt++)
        if ((r = flush_once(s, b, err, errsize)) != -EAGAIN)
            break;
    return r;
}
