/* Integration tests for src/store.c against a real PostgreSQL (started by
 * with_services.py): migrations are idempotent, flushes are additive and
 * atomic, compare-and-set fencing refuses a stale writer and writes nothing,
 * COPY escaping and binary raw bytes survive, de-duplication between two
 * workers (also when the other worker stores the same event while this
 * one's flush is under way: the flush is redone without it), and a dead
 * server is -EIO. */
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "batch.h"
#include "dedup.h"
#include "flight.h"
#include "hex.h"
#include "pending.h"
#include "store.h"
#include "timestamp.h"
#include "unit.h"

static const char *conninfo(void)
{
    const char *c = getenv("COSTREAM_TEST_PG");
    ck_assert_msg(c != NULL, "COSTREAM_TEST_PG is not set: run through with_services.py");
    return c;
}

static char *query1(const char *sql)
{
    static char buf[4096];
    PGconn *c = PQconnectdb(conninfo());
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    snprintf(buf, sizeof(buf), "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "(none)");
    PQclear(r);
    PQfinish(c);
    return buf;
}

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static cs_agg *one_row(const char *customer, const char *cost)
{
    cs_agg *a = cs_agg_new();
    cs_agg_key k = {.hour_usec = INT64_C(1793700000) * 1000000, .customer = customer,
                    .product = "p", .meter = "m", .rule_id = "r", .rules_version = "v1",
                    .plan = "pro", .currency = "USD", .unit = "u", .unit_price = D("0.5"),
                    .discount_rate = D("0")};
    ck_assert_int_eq(cs_agg_add(a, &k, D("2"), D(cost), D("0"), D(cost), NULL), 0);
    return a;
}

static int flush(cs_store *s, cs_agg *agg, int64_t expected, int64_t next,
                 const cs_store_reject *rejects, size_t nrejects, char *err)
{
    cs_store_offset off = {"t", 0, expected, next};
    cs_store_batch b = {.group = "g", .agg = agg, .rejects = rejects, .nrejects = nrejects,
                        .offsets = &off, .noffsets = 1};
    return cs_store_flush(s, &b, err, 512);
}

START_TEST(migrate_twice)
{
    cs_store *s = cs_store_new(conninfo());
    char err[512];
    unsigned n;
    ck_assert_int_eq(cs_store_migrate(s, &n, err, sizeof(err)), 0);
    ck_assert_int_eq(cs_store_migrate(s, &n, err, sizeof(err)), 0);
    ck_assert_int_eq((int)n, 0);
    /* every file in sql/ was applied, not merely every file the build embedded */
    char list[1024] = "";
    struct dirent **names;
    int nfiles = scandir(CS_SOURCE_ROOT "/sql", &names, NULL, alphasort);
    ck_assert_int_gt(nfiles, 0);
    for (int i = 0; i < nfiles; i++) {
        size_t l = strlen(names[i]->d_name);
        if (l > 4 && strcmp(names[i]->d_name + l - 4, ".sql") == 0)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%.*s", list[0] ? "," : "",
                     (int)(l - 4), names[i]->d_name);
        free(names[i]);
    }
    free(names);
    ck_assert_str_eq(query1("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations"),
                     list);
    cs_store_free(s);
}
END_TEST

START_TEST(additive_fenced_atomic)
{
    char err[512];
    unsigned n;
    cs_store *a = cs_store_new(conninfo()), *b = cs_store_new(conninfo());
    ck_assert_int_eq(cs_store_migrate(a, &n, err, sizeof(err)), 0);
    const char *weird = "tab\there\nnew \\ line \"q\"";
    cs_agg *agg = one_row(weird, "1.000000000001");
    unsigned char raw[] = {'{', 0, 0xff, '\n', '\\'};
    cs_store_reject rj = {"t", 0, 3, "malformed_json", "line 1: bad", raw, sizeof(raw), "k", 1};

    /* worker A: first write for the partition */
    ck_assert_int_eq(flush(a, agg, -1, 10, &rj, 1, err), 0);
    /* worker B read the same (absent) offset earlier: it is stale */
    ck_assert_int_eq(flush(b, agg, -1, 7, NULL, 0, err), -ESTALE);
    ck_assert_msg(strstr(err, "fenced: t [0]") != NULL, "%s", err);
    /* A goes on: sums add up */
    ck_assert_int_eq(flush(a, agg, 10, 20, NULL, 0, err), 0);
    /* B, still stale at 10, cannot commit either */
    cs_agg *other = one_row("intruder", "5");
    ck_assert_int_eq(flush(b, other, 10, 15, NULL, 0, err), -ESTALE);

    ck_assert_str_eq(query1("SELECT next_offset FROM consumer_offsets WHERE group_id='g'"), "20");
    ck_assert_str_eq(query1("SELECT cost::text FROM usage_cost WHERE customer = E'tab\\there\\nnew \\\\ line \"q\"'"),
                     "2.000000000002");
    ck_assert_str_eq(query1("SELECT events FROM usage_cost WHERE customer LIKE 'tab%'"), "2");
    ck_assert_str_eq(query1("SELECT count(*) FROM usage_cost WHERE customer = 'intruder'"), "0");
    ck_assert_str_eq(query1("SELECT encode(raw, 'hex') || '/' || encode(msg_key, 'escape') || '/' || reason"
                            " FROM rejected_events"),
                     "7b00ff0a5c/k/malformed_json");
    cs_agg_free(agg);
    cs_agg_free(other);
    cs_store_free(a);
    cs_store_free(b);
}
END_TEST

/* A stand-in for a worker's fingerprint set: what the flush hooks saw. */
typedef struct fake_worker {
    unsigned char fresh[4][CS_DEDUP_FP_LEN]; /* this batch's new fingerprints */
    size_t nfresh;
    unsigned char seen[8][CS_DEDUP_FP_LEN];  /* rows of other workers */
    size_t nseen, rows;
    unsigned char out[4][CS_DEDUP_FP_LEN];   /* what fresh() returned */
} fake_worker;

static int hook_seen(void *opaque, int64_t hour, const unsigned char *fps, size_t n, int64_t seq)
{
    fake_worker *f = opaque;
    (void)hour;
    (void)seq;
    memcpy(f->seen[f->nseen], fps, n * CS_DEDUP_FP_LEN);
    f->nseen += n;
    f->rows++;
    return 0;
}

/* Returns this batch's fingerprints that no other worker stored. */
static int hook_fresh(void *opaque, int64_t hour, const unsigned char **ret, size_t *ret_n)
{
    fake_worker *f = opaque;
    size_t k = 0;
    (void)hour;
    for (size_t i = 0; i < f->nfresh; i++) {
        int dup = 0;
        for (size_t j = 0; j < f->nseen; j++)
            dup |= memcmp(f->fresh[i], f->seen[j], CS_DEDUP_FP_LEN) == 0;
        if (!dup)
            memcpy(f->out[k++], f->fresh[i], CS_DEDUP_FP_LEN);
    }
    *ret = f->out[0];
    *ret_n = k;
    return 0;
}

static int count_rows(void *opaque, const unsigned char *fps, size_t n, int64_t seq)
{
    size_t *total = opaque;
    (void)fps;
    (void)seq;
    *total += n;
    return 0;
}

START_TEST(dedup_fingerprints)
{
    char err[512];
    unsigned n;
    cs_store *s = cs_store_new(conninfo()), *s2 = cs_store_new(conninfo());
    ck_assert_int_eq(cs_store_migrate(s, &n, err, sizeof(err)), 0);
    cs_agg *agg = cs_agg_new();
    int64_t hour;
    ck_assert_int_eq(cs_timestamp_parse("2026-11-05T10:00:00Z", 20, &hour), 0);
    /* worker A counts a and b, worker B (which loaded the hour before A
     * stored) counts b and c: B's flush must see A's row and store only c */
    fake_worker fa = {0}, fb = {0};
    cs_dedup_fingerprint("//a", "a", fa.fresh[0]);
    cs_dedup_fingerprint("//a", "b", fa.fresh[1]);
    fa.nfresh = 2;
    cs_dedup_fingerprint("//a", "b", fb.fresh[0]);
    cs_dedup_fingerprint("//a", "tab\tc", fb.fresh[1]);
    fb.nfresh = 2;
    int64_t hours[1] = {hour}, seen_a[1] = {-1}, seen_b[1] = {-1}, ret_a[1], ret_b[1];
    cs_store_dedup da = {1, hours, seen_a, ret_a, hook_seen, hook_fresh, &fa};
    cs_store_dedup db = {1, hours, seen_b, ret_b, hook_seen, hook_fresh, &fb};
    cs_store_offset off = {"dd", 0, -1, 2}, off2 = {"dd", 1, -1, 2};
    cs_store_batch ba = {.group = "dd", .agg = agg, .dedup = &da, .offsets = &off, .noffsets = 1};
    cs_store_batch bb = {.group = "dd", .agg = agg, .dedup = &db, .offsets = &off2, .noffsets = 1};
    ck_assert_int_eq(cs_store_flush(s, &ba, err, sizeof(err)), 0);
    ck_assert_int_eq((int)fa.rows, 0);
    ck_assert_int_gt((int)ret_a[0], 0);
    ck_assert_int_eq(cs_store_flush(s2, &bb, err, sizeof(err)), 0);
    ck_assert_int_eq((int)fb.rows, 1);  /* A's row */
    ck_assert_int_eq((int)fb.nseen, 2);
    ck_assert_int_gt((int)ret_b[0], (int)ret_a[0]);
    ck_assert_str_eq(query1("SELECT count(*) FROM event_fingerprints WHERE group_id = 'dd'"), "2");
    ck_assert_str_eq(query1("SELECT sum(octet_length(fps)) / 16 FROM event_fingerprints"
                            " WHERE group_id = 'dd'"), "3");
    /* fingerprints are SHA-256(source NUL id) cut to 16 bytes, as SQL computes them */
    ck_assert_str_eq(query1("SELECT count(*) FROM event_fingerprints WHERE position("
                            "substring(sha256('//a'::bytea || '\\x00'::bytea || convert_to(E'tab\\tc', 'UTF8'))"
                            " FROM 1 FOR 16) IN fps) > 0"), "1");
    /* a later load sees both rows; after A's row only B's */
    size_t total = 0;
    int64_t last;
    ck_assert_int_eq(cs_store_dedup_load(s, "dd", hour, -1, count_rows, &total, &last, err,
                                         sizeof(err)), 0);
    ck_assert_int_eq((int)total, 3);
    ck_assert(last == ret_b[0]);
    total = 0;
    ck_assert_int_eq(cs_store_dedup_load(s, "dd", hour, ret_a[0], count_rows, &total, &last, err,
                                         sizeof(err)), 0);
    ck_assert_int_eq((int)total, 1);
    long deleted;
    ck_assert_int_eq(cs_store_dedup_prune(s, "dd", 1, &deleted, err, sizeof(err)), 0);
    ck_assert_int_eq((int)deleted, 0); /* all younger than an hour */
    cs_agg_free(agg);
    cs_store_free(s);
    cs_store_free(s2);
}
END_TEST

/* A worker's batch as the real worker hands it over (dedup, batch, flight). */
typedef struct race_worker {
    cs_dedup *d;
    cs_batch *b;
    cs_flight *f;
    cs_store_dedup sd;
    cs_store_offset off;
    cs_store_batch sb;
    cs_store *s;
    int r;
    char err[512];
} race_worker;

static int race_seen(void *opaque, int64_t hour, const unsigned char *fps, size_t n, int64_t seq)
{
    race_worker *w = opaque;
    return cs_flight_seen(w->f, w->b, hour, fps, n, seq);
}

static int race_fresh(void *opaque, int64_t hour, const unsigned char **ret, size_t *ret_n)
{
    cs_flight_fresh(((race_worker *)opaque)->f, hour, ret, ret_n);
    return 0;
}

/* One event of customer c costing cost, fingerprint of id, in one_row's
 * hour and key. */
static void race_count(race_worker *w, const char *c, const char *cost, const char *id)
{
    cs_agg_key k = {.hour_usec = INT64_C(1793700000) * 1000000, .customer = c, .product = "p",
                    .meter = "m", .rule_id = "r", .rules_version = "v1", .plan = "pro",
                    .currency = "USD", .unit = "u", .unit_price = D("0.5"),
                    .discount_rate = D("0")};
    unsigned char fp[CS_DEDUP_FP_LEN];
    size_t idx;
    cs_dedup_fingerprint("//race", id, fp);
    ck_assert_int_eq(cs_batch_add(w->b, &k, D("2"), D(cost), D("0"), D(cost), true, &idx), 0);
    ck_assert_int_eq(cs_dedup_check(w->d, k.hour_usec, fp, idx), 1);
}

static void race_hand_over(race_worker *w, int32_t partition)
{
    ck_assert_int_eq(cs_flight_new(w->d, &w->f), 0);
    w->sd = (cs_store_dedup){cs_flight_nhours(w->f), cs_flight_hours(w->f), cs_flight_known(w->f),
                             cs_flight_stored(w->f), race_seen, race_fresh, w};
    w->off = (cs_store_offset){"race", partition, -1, 1};
    w->sb = (cs_store_batch){.group = "race", .agg = cs_batch_agg(w->b), .dedup = &w->sd,
                             .offsets = &w->off, .noffsets = 1};
    w->s = cs_store_new(conninfo());
}

static void *race_flush(void *opaque)
{
    race_worker *w = opaque;
    w->r = cs_store_flush(w->s, &w->sb, w->err, sizeof(w->err));
    return NULL;
}

static void race_free(race_worker *w)
{
    cs_flight_free(w->f);
    cs_batch_free(w->b);
    cs_dedup_free(w->d);
    cs_store_free(w->s);
}

/* Workers A and B both count the event "shared".  A's flush looks for
 * other workers' rows first (none yet), then waits on a row lock while B
 * stores "shared"; at its end, under the hour's lock, A finds B's row: it
 * redoes its transaction without "shared", which is counted once. */
START_TEST(dedup_race_redone)
{
    char err[512];
    unsigned n;
    const int64_t hour = INT64_C(1793700000) * 1000000;
    cs_store *s = cs_store_new(conninfo());
    ck_assert_int_eq(cs_store_migrate(s, &n, err, sizeof(err)), 0);
    cs_agg *seed = one_row("RA", "0.5"); /* A's row exists already */
    cs_store_offset seed_off = {"race-seed", 0, -1, 1};
    cs_store_batch seed_b = {.group = "race", .agg = seed, .offsets = &seed_off, .noffsets = 1};
    ck_assert_int_eq(cs_store_flush(s, &seed_b, err, sizeof(err)), 0);
    race_worker a = {.d = cs_dedup_new(100), .b = cs_batch_new()};
    race_worker b = {.d = cs_dedup_new(100), .b = cs_batch_new()};
    ck_assert_int_eq(cs_dedup_mark_loaded(a.d, hour, -1), 0);
    ck_assert_int_eq(cs_dedup_mark_loaded(b.d, hour, -1), 0);
    race_count(&a, "RA", "1", "x");
    race_count(&a, "RA", "10", "shared");
    race_count(&b, "RB", "10", "shared");
    race_hand_over(&a, 0);
    race_hand_over(&b, 1);
    PGconn *blocker = PQconnectdb(conninfo());
    PQclear(PQexec(blocker, "BEGIN"));
    PGresult *res = PQexec(blocker, "SELECT 1 FROM usage_cost WHERE customer = 'RA' FOR UPDATE");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, race_flush, &a), 0);
    int waiting = 0;
    for (int i = 0; i < 200 && !waiting; i++, usleep(50000))
        waiting = atoi(query1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"));
    ck_assert_msg(waiting, "A's flush never waited on the row lock");
    race_flush(&b); /* B stores "shared" while A is under way */
    ck_assert_msg(b.r == 0, "%s", b.err);
    PQclear(PQexec(blocker, "COMMIT"));
    PQfinish(blocker);
    pthread_join(t, NULL);
    ck_assert_msg(a.r == 0, "%s", a.err);
    ck_assert_int_eq((int)cs_batch_duplicates(a.b), 1);
    ck_assert_str_eq(query1("SELECT cost::text || '/' || events FROM usage_cost WHERE customer = 'RA'"),
                     "1.500000000000/2"); /* the seed's 0.5 and x's 1 */
    ck_assert_str_eq(query1("SELECT cost::text || '/' || events FROM usage_cost WHERE customer = 'RB'"),
                     "10.000000000000/1");
    ck_assert_str_eq(query1("SELECT sum(octet_length(fps)) / 16 FROM event_fingerprints"
                            " WHERE group_id = 'race'"), "2"); /* shared once, x */
    cs_agg_free(seed);
    race_free(&a);
    race_free(&b);
    cs_store_free(s);
}
END_TEST

/* The first sample of the block whose hex is given (NULL: frees the last). */
static const cs_batch_sample *one_block_sample(const char *hex)
{
    static cs_pending_block *b;
    cs_pending_block_free(b);
    b = NULL;
    if (!hex)
        return NULL;
    size_t len = strlen(hex) / 2, n;
    unsigned char *data = malloc(len + 1);
    ck_assert_int_eq(cs_hex_decode(hex, len, data), 0);
    ck_assert_int_eq(cs_pending_decode(data, len, &b), 0);
    free(data);
    const cs_batch_sample *x = cs_pending_block_samples(b, &n);
    ck_assert_uint_ge(n, 1);
    return x;
}

/* The store's last line of defence: text that is not UTF-8 (here a
 * Japanese name cut at every byte) is stored escaped, never refused, by the
 * binary COPYs of aggregates and rejected events; a pending metric sample
 * keeps its bytes in its block, and its settlement writes them escaped into
 * usage_cost and metric_series. */
START_TEST(invalid_utf8_at_every_cut)
{
    char err[512];
    unsigned n;
    cs_store *s = cs_store_new(conninfo());
    ck_assert_int_eq(cs_store_migrate(s, &n, err, sizeof(err)), 0);
    const char *name = "\xe6\xa0\xaa\xe5\xbc\x8f"; /* 株式 */
    size_t len = strlen(name);
    for (size_t cut = 1; cut <= len; cut++) {
        char cust[16], want[64] = "c-";
        snprintf(cust, sizeof(cust), "c-%.*s", (int)cut, name);
        /* expected: whole characters as they are, a partial one as \xNN each */
        size_t whole = cut / 3 * 3;
        memcpy(want + 2, name, whole);
        want[2 + whole] = '\0';
        for (size_t k = whole; k < cut; k++)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), "\\x%02x",
                     (unsigned char)name[k]);
        cs_agg *agg = one_row(cust, "1");
        cs_store_reject rj = {"u", 0, (int64_t)cut, "invalid_time", cust, "x", 1, NULL, 0};
        /* two samples of a gauge whose series and customer carry the cut
         * name: 2.5 held for 10 s at 0.5 a unit-second is 12.5 */
        unsigned char sid[32];
        memset(sid, (int)cut, sizeof(sid));
        cs_store_sample smp[2] = {
            {.series_id = sid, .series = cust, .time_usec = INT64_C(1793700000000000),
             .value = D("2.5"), .kind = "gauge", .unit_divisor = 1, .max_gap_usec = 600000000,
             .customer = cust, .plan = "pro", .product = "p", .meter = "m", .rule_id = "r",
             .rules_version = "v-settled", .currency = "USD", .unit = "u", .unit_price = D("0.5"),
             .discount_rate = D("0"), .topic = "u", .partition = 0, .offset = (int64_t)cut}};
        smp[1] = smp[0];
        smp[1].time_usec += 10000000;
        cs_store_watermark wm = {"u", 0, INT64_C(1793703600000000)};
        cs_store_offset off = {"u", 0, cut == 1 ? -1 : (int64_t)cut - 1, (int64_t)cut};
        cs_store_batch batch = {.group = "g8", .agg = agg, .rejects = &rj, .nrejects = 1,
                                .samples = smp, .nsamples = 2, .watermarks = &wm,
                                .nwatermarks = 1, .offsets = &off, .noffsets = 1};
        ck_assert_msg(cs_store_flush(s, &batch, err, sizeof(err)) == 0, "cut %zu: %s", cut, err);
        char q[256];
        snprintf(q, sizeof(q), "SELECT count(*) FROM usage_cost WHERE customer = '%s'"
                 " AND rules_version = 'v1'", want);
        ck_assert_msg(strcmp(query1(q), "1") == 0, "cut %zu: %s not stored", cut, want);
        snprintf(q, sizeof(q), "SELECT count(*) FROM rejected_events WHERE detail = '%s'", want);
        ck_assert_msg(strcmp(query1(q), "1") == 0, "cut %zu: reject detail %s not stored", cut, want);
        /* the pending sample keeps its bytes as they came (its block is
         * bytea); settlement escapes them like any text it writes */
        snprintf(q, sizeof(q), "SELECT encode(data, 'hex') FROM metric_sample_blocks"
                 " WHERE group_id = 'g8' AND shard = %zu ORDER BY id DESC LIMIT 1", cut % 16);
        const cs_batch_sample *got = one_block_sample(query1(q));
        ck_assert_msg(strcmp(got->series, cust) == 0 && strcmp(got->customer, cust) == 0 &&
                          got->value.raw == D("2.5").raw && got->offset == (int64_t)cut,
                      "cut %zu: sample %s", cut, want);
        one_block_sample(NULL);
        cs_settle_options o = {.idle_usec = INT64_C(3600000000), .evict_usec = INT64_C(86400000000),
                               .counter_retention_usec = INT64_C(86400000000)};
        cs_settle_result res;
        cs_agg *settled = cs_agg_new();
        ck_assert_msg(cs_store_settle(s, "g8", &o, (int)(cut % 16), settled, &res, err,
                                      sizeof(err)) == 0, "cut %zu: %s", cut, err);
        ck_assert_uint_eq(res.samples, 2);
        snprintf(q, sizeof(q), "SELECT cost::text FROM usage_cost WHERE customer = '%s'"
                 " AND rules_version = 'v-settled'", want);
        ck_assert_msg(strcmp(query1(q), "12.500000000000") == 0, "cut %zu: settled %s: %s", cut,
                      want, query1(q));
        snprintf(q, sizeof(q), "SELECT count(*) FROM metric_series WHERE series = '%s'", want);
        ck_assert_msg(strcmp(query1(q), "1") == 0, "cut %zu: series %s", cut, want);
        cs_agg_free(settled);
        cs_agg_free(agg);
    }
    cs_store_free(s);
}
END_TEST

/* One sample of the counter cpu{pod="x"} (customer acme, price 1 per unit,
 * divisor 1) at T9 + sec, value v, offset off on m/0. */
#define T9 INT64_C(1793700000000000) /* on an hour */
static cs_store_sample counter_sample(const unsigned char *sid, int sec, const char *v, int off)
{
    return (cs_store_sample){.series_id = sid, .series = "cpu{pod=\"x\"}",
                             .time_usec = T9 + sec * INT64_C(1000000), .value = D(v),
                             .kind = "counter", .unit_divisor = 1, .max_gap_usec = 0,
                             .customer = "acme", .plan = "pro", .product = "sbx", .meter = "cpu",
                             .rule_id = "r", .rules_version = "v1", .currency = "USD", .unit = "s",
                             .unit_price = D("1"), .discount_rate = D("0"), .topic = "m",
                             .partition = 0, .offset = off};
}

static void settle_flush(cs_store *s, const char *group, const cs_store_sample *smp, size_t n,
                         int wm_sec, int64_t expected, int64_t next)
{
    char err[512];
    cs_agg *agg = cs_agg_new();
    cs_store_watermark wm = {"m", 0, T9 + wm_sec * INT64_C(1000000)};
    cs_store_offset off = {"m", 0, expected, next};
    cs_store_batch b = {.group = group, .agg = agg, .samples = smp, .nsamples = n,
                        .watermarks = &wm, .nwatermarks = 1, .offsets = &off, .noffsets = 1};
    ck_assert_msg(cs_store_flush(s, &b, err, sizeof(err)) == 0, "%s", err);
    cs_agg_free(agg);
}

static void settle_shard5(cs_store *s, const char *group, uint64_t max, uint64_t want_samples)
{
    char err[512];
    cs_settle_options o = {.lateness_usec = 0, .idle_usec = INT64_C(3600000000),
                           .evict_usec = INT64_C(86400000000),
                           .counter_retention_usec = INT64_C(86400000000), .max_samples = max};
    cs_settle_result res;
    cs_agg *agg = cs_agg_new();
    ck_assert_msg(cs_store_settle(s, group, &o, 5, agg, &res, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(res.settled, 1);
    ck_assert_uint_eq(res.samples, want_samples);
    cs_agg_free(agg);
}

/* Settlement takes a shard's blocks and the rows an earlier version left
 * in metric_samples_pending together, settles what is below the watermark
 * in time order and writes the rest back as one block: the counter's
 * increases, added up here, are what usage_cost holds. */
START_TEST(settle_blocks_and_legacy_rows)
{
    char err[512], q[1024], hex[65];
    unsigned n;
    unsigned char sid[32];
    cs_store *s = cs_store_new(conninfo());
    ck_assert_int_eq(cs_store_migrate(s, &n, err, sizeof(err)), 0);
    memset(sid, 0x25, sizeof(sid)); /* shard 0x25 % 16 = 5 */
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sid[i]);
    /* the baseline, 100 at T9, left by an earlier version */
    snprintf(q, sizeof(q),
             "INSERT INTO metric_samples_pending (group_id, series_id, series, ts, value, kind,"
             " unit_divisor, max_gap_us, customer, plan, product, meter, rule_id, rules_version,"
             " currency, unit, unit_price, discount_rate, topic, partition, \"offset\")"
             " VALUES ('g9', '\\x%s', 'cpu{pod=\"x\"}', to_timestamp(%lld), 100, 'counter', 1, 0,"
             " 'acme', 'pro', 'sbx', 'cpu', 'r', 'v1', 'USD', 's', 1, 0, 'm', 0, 0) RETURNING 1",
             hex, (long long)(T9 / 1000000));
    ck_assert_str_eq(query1(q), "1");
    /* 130, 175 below the watermark at +600 s; 200 at +600 s is not */
    cs_store_sample a[3] = {counter_sample(sid, 30, "175", 2), counter_sample(sid, 15, "130", 1),
                            counter_sample(sid, 600, "200", 3)};
    settle_flush(s, "g9", a, 3, 600, -1, 4);
    settle_shard5(s, "g9", 0, 3);
    ck_assert_str_eq(query1("SELECT sum(quantity)::text FROM usage_cost WHERE customer = 'acme'"
                            " AND meter = 'cpu'"), "75.000000000000"); /* 30 + 45 */
    ck_assert_str_eq(query1("SELECT count(*) FROM metric_samples_pending WHERE group_id = 'g9'"), "0");
    snprintf(q, sizeof(q), "SELECT count(*) || ' ' || sum(samples) || ' ' ||"
             " bool_and(min_ts = to_timestamp(%lld)) FROM metric_sample_blocks WHERE group_id = 'g9'",
             (long long)(T9 / 1000000 + 600));
    ck_assert_str_eq(query1(q), "1 1 true");
    /* 210 at +615 s; the watermark passes both */
    cs_store_sample b[1] = {counter_sample(sid, 615, "210", 4)};
    settle_flush(s, "g9", b, 1, 700, 4, 5);
    settle_shard5(s, "g9", 0, 2);
    ck_assert_str_eq(query1("SELECT sum(quantity)::text FROM usage_cost WHERE customer = 'acme'"
                            " AND meter = 'cpu'"), "110.000000000000"); /* + 25 + 10 */
    ck_assert_str_eq(query1("SELECT count(*) FROM metric_sample_blocks WHERE group_id = 'g9'"), "0");
    ck_assert_str_eq(query1("SELECT last_value::text FROM metric_series WHERE group_id = 'g9'"),
                     "210.000000000000");
    cs_store_free(s);
}
END_TEST

/* This test's rows are told apart from the one before by their rules version. */
static void v10(cs_store_sample *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i].rules_version = "v10";
}

static const char *g10_cost(void)
{
    return query1("SELECT coalesce(sum(quantity), 0)::text FROM usage_cost"
                  " WHERE customer = 'acme' AND meter = 'cpu' AND rules_version = 'v10'");
}

/* A settlement reads about metrics.settle_max_samples of a backlog at a
 * time, oldest blocks first, and settles what lies below the oldest sample
 * of the first block it leaves: three blocks of 2, 2 and 1 samples with a
 * bound of 2 take three rounds, each charging what the counter's values
 * say (30, then 45 + 25, then 60); two blocks with the same oldest time
 * are taken together, past the bound, so that a round always moves on. */
START_TEST(settle_bounded_by_samples)
{
    char err[512];
    unsigned n;
    unsigned char sid[32], sid2[32];
    cs_store *s = cs_store_new(conninfo());
    ck_assert_int_eq(cs_store_migrate(s, &n, err, sizeof(err)), 0);
    memset(sid, 0x35, sizeof(sid));  /* shard 5 */
    memset(sid2, 0x45, sizeof(sid2)); /* shard 5 */
    cs_store_sample a[2] = {counter_sample(sid, 0, "100", 0), counter_sample(sid, 15, "130", 1)};
    cs_store_sample b[2] = {counter_sample(sid, 30, "175", 2), counter_sample(sid, 45, "200", 3)};
    cs_store_sample c[1] = {counter_sample(sid, 60, "260", 4)};
    v10(a, 2);
    v10(b, 2);
    v10(c, 1);
    settle_flush(s, "g10", a, 2, 1000, -1, 2);
    settle_flush(s, "g10", b, 2, 1000, 2, 4);
    settle_flush(s, "g10", c, 1, 1000, 4, 5);
    settle_shard5(s, "g10", 2, 2);
    ck_assert_str_eq(g10_cost(), "30.000000000000");
    ck_assert_str_eq(query1("SELECT count(*) FROM metric_sample_blocks WHERE group_id = 'g10'"), "2");
    settle_shard5(s, "g10", 2, 2);
    ck_assert_str_eq(g10_cost(), "100.000000000000");
    settle_shard5(s, "g10", 2, 1);
    ck_assert_str_eq(g10_cost(), "160.000000000000");
    ck_assert_str_eq(query1("SELECT count(*) FROM metric_sample_blocks WHERE group_id = 'g10'"), "0");
    /* the same oldest time in two blocks, a bound of 1: both in one round */
    cs_store_sample d[1] = {counter_sample(sid, 100, "300", 5)};
    cs_store_sample e[2] = {counter_sample(sid2, 100, "10", 6), counter_sample(sid2, 115, "20", 7)};
    v10(d, 1);
    v10(e, 2);
    settle_flush(s, "g10", d, 1, 1000, 5, 6);
    settle_flush(s, "g10", e, 2, 1000, 6, 8);
    settle_shard5(s, "g10", 1, 3);
    ck_assert_str_eq(g10_cost(), "210.000000000000"); /* + 40, and 10 for the new series */
    ck_assert_str_eq(query1("SELECT count(*) FROM metric_sample_blocks WHERE group_id = 'g10'"), "0");
    cs_store_free(s);
}
END_TEST

START_TEST(dead_server_is_eio)
{
    cs_store *s = cs_store_new("host=127.0.0.1 port=1 dbname=x connect_timeout=2");
    char err[512];
    cs_agg *agg = one_row("c", "1");
    ck_assert_int_eq(flush(s, agg, -1, 1, NULL, 0, err), -EIO);
    ck_assert_msg(strstr(err, "postgres: connect") != NULL, "%s", err);
    cs_agg_free(agg);
    cs_store_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("postgres");
    tcase_add_test(tc, migrate_twice);
    tcase_add_test(tc, additive_fenced_atomic);
    tcase_add_test(tc, dedup_fingerprints);
    tcase_add_test(tc, dedup_race_redone);
    tcase_add_test(tc, invalid_utf8_at_every_cut);
    tcase_add_test(tc, settle_blocks_and_legacy_rows);
    tcase_add_test(tc, settle_bounded_by_samples);
    tcase_add_test(tc, dead_server_is_eio);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
