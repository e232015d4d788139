/* Unit tests for src/batch.c: events into their rows, tracked under the
 * indexes their fingerprints carry; taking back what another worker
 * counted, once per event, out of the right row; a retried flush keeps
 * what was taken back; clearing.  Rejects keep their raw bytes (NULs,
 * 0xff) and keys, samples their strings and series ids, customers the
 * latest attributes per id, all copies that outlive the caller's buffers
 * and the arrays' growth, until the batch is cleared. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "unit.h"

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static cs_agg_key key(const char *customer)
{
    return (cs_agg_key){.hour_usec = 0, .customer = customer, .product = "api", .meter = "calls",
                        .rule_id = "r", .rules_version = "v", .plan = "pro", .currency = "USD",
                        .unit = "call", .unit_price = D("0.5"), .discount_rate = D("0.1")};
}

static const cs_agg_row *row_of(cs_batch *b, const char *customer)
{
    cs_agg *agg = cs_batch_agg(b);
    for (size_t i = 0; i < cs_agg_count(agg); i++)
        if (strcmp(cs_agg_row_at(agg, i)->key.customer, customer) == 0)
            return cs_agg_row_at(agg, i);
    return NULL;
}

static const char *fmt(cs_dec d)
{
    static char buf[CS_DEC_STRLEN];
    cs_dec_format(d, 2, buf, sizeof(buf));
    return buf;
}

START_TEST(take_back_once)
{
    cs_batch *b = cs_batch_new();
    cs_agg_key a = key("acme"), g = key("globex");
    size_t i0, i1, i2;
    ck_assert_int_eq(cs_batch_add(b, &a, D("2"), D("1"), D("0.1"), D("0.9"), true, &i0), 0);
    ck_assert_int_eq(cs_batch_add(b, &a, D("4"), D("2"), D("0.2"), D("1.8"), true, &i1), 0);
    ck_assert_int_eq(cs_batch_add(b, &g, D("6"), D("3"), D("0.3"), D("2.7"), true, &i2), 0);
    ck_assert(i0 == 0 && i1 == 1 && i2 == 2 && cs_batch_events(b) == 3);
    ck_assert_int_eq((int)cs_agg_count(cs_batch_agg(b)), 2);
    ck_assert_str_eq(fmt(row_of(b, "acme")->cost), "2.70");
    /* another worker stored acme's second event: out of acme's row only */
    size_t dup[] = {1, 1, 7}; /* twice, and an index past the tracked ones */
    ck_assert_int_eq(cs_batch_take_back(b, dup, 3), 1);
    ck_assert_str_eq(fmt(row_of(b, "acme")->cost), "0.90");
    ck_assert_str_eq(fmt(row_of(b, "acme")->quantity), "2.00");
    ck_assert_int_eq((int)row_of(b, "acme")->events, 1);
    ck_assert_str_eq(fmt(row_of(b, "globex")->cost), "2.70");
    /* the flush failed and is retried: the same rows come back, nothing taken twice */
    ck_assert_int_eq(cs_batch_take_back(b, dup, 1), 0);
    ck_assert_uint_eq(cs_batch_duplicates(b), 1);
    /* globex's only event taken back: its row has no events (not written) */
    size_t gone[] = {2};
    ck_assert_int_eq(cs_batch_take_back(b, gone, 1), 1);
    ck_assert_int_eq((int)row_of(b, "globex")->events, 0);
    ck_assert_str_eq(fmt(row_of(b, "globex")->cost), "0.00");
    ck_assert_uint_eq(cs_batch_duplicates(b), 2);
    cs_batch_clear(b);
    ck_assert(cs_batch_events(b) == 0 && cs_batch_duplicates(b) == 0 && cs_agg_count(cs_batch_agg(b)) == 0);
    /* untracked (de-duplication off): aggregated, no index */
    ck_assert_int_eq(cs_batch_add(b, &a, D("1"), D("0.5"), D("0.05"), D("0.45"), false, NULL), 0);
    ck_assert(cs_batch_events(b) == 0 && cs_agg_count(cs_batch_agg(b)) == 1);
    cs_batch_free(b);
    cs_batch_free(NULL);
}
END_TEST

/* A sum that would overflow refuses the event and changes nothing. */
START_TEST(overflow_changes_nothing)
{
    cs_batch *b = cs_batch_new();
    cs_agg_key a = key("acme");
    cs_dec big = D("99999999999999999999999999");
    size_t i;
    ck_assert_int_eq(cs_batch_add(b, &a, big, big, D("0"), big, true, &i), 0);
    ck_assert_int_eq(cs_batch_add(b, &a, big, big, D("0"), big, true, &i), -ERANGE);
    ck_assert_uint_eq(cs_batch_events(b), 1);
    ck_assert_int_eq((int)row_of(b, "acme")->events, 1);
    cs_batch_free(b);
}
END_TEST

START_TEST(rejects_samples_customers)
{
    cs_batch *b = cs_batch_new();
    char detail[32] = "line 1: bad", raw[5] = {'{', 0, (char)0xff, '\n', '\\'};
    cs_batch_reject rj = {"t", 3, 41, "malformed_json", detail, raw, sizeof(raw), "k", 1};
    ck_assert_int_eq(cs_batch_add_reject(b, &rj), 0);
    rj.offset = 42;
    rj.key = NULL;
    rj.key_len = 0;
    ck_assert_int_eq(cs_batch_add_reject(b, &rj), 0);
    strcpy(detail, "overwritten");
    memset(raw, 'x', sizeof(raw));
    size_t n;
    const cs_batch_reject *r = cs_batch_rejects(b, &n);
    ck_assert_int_eq((int)n, 2);
    ck_assert_str_eq(r[0].detail, "line 1: bad");
    ck_assert(r[0].raw_len == 5 && memcmp(r[0].raw, "{\0\xff\n\\", 5) == 0);
    ck_assert(r[0].key_len == 1 && memcmp(r[0].key, "k", 1) == 0);
    ck_assert(r[1].offset == 42 && r[1].key == NULL && r[1].key_len == 0);
    /* 100 samples: the first one's copies stay put while the array grows */
    unsigned char id[32];
    char series[32];
    for (int i = 0; i < 100; i++) {
        memset(id, i, sizeof(id));
        snprintf(series, sizeof(series), "cpu{pod=\"p%d\"}", i);
        cs_batch_sample smp = {.series_id = id, .series = series, .time_usec = i,
                               .value = D(i % 2 ? "1.5" : "0"), .special = i % 2 ? NULL : "NaN",
                               .kind = "counter", .customer = "acme", .plan = "pro",
                               .product = "p", .meter = "m", .rule_id = "r",
                               .rules_version = "v", .currency = "USD", .unit = "s",
                               .topic = "metrics", .partition = 1, .offset = i};
        ck_assert_int_eq(cs_batch_add_sample(b, &smp), 0);
    }
    const cs_batch_sample *smp = cs_batch_samples(b, &n);
    ck_assert_int_eq((int)n, 100);
    ck_assert_str_eq(smp[0].series, "cpu{pod=\"p0\"}");
    ck_assert_str_eq(smp[0].special, "NaN");
    ck_assert(smp[7].special == NULL && cs_dec_cmp(smp[7].value, D("1.5")) == 0);
    ck_assert(smp[99].series_id[0] == 99 && smp[99].series_id[31] == 99 && smp[3].series_id[5] == 3);
    ck_assert_str_eq(smp[99].topic, "metrics");
    /* customers: the latest attributes per id, in first-seen order */
    cs_batch_customer c = {"acme", "ACME 株式会社", "pro", ""};
    ck_assert_int_eq(cs_batch_set_customer(b, &c), 0);
    c = (cs_batch_customer){"globex", "", "free", "cc-7"};
    ck_assert_int_eq(cs_batch_set_customer(b, &c), 0);
    c = (cs_batch_customer){"acme", "ACME", "enterprise", "cc-1"};
    ck_assert_int_eq(cs_batch_set_customer(b, &c), 0);
    const cs_batch_customer *cs = cs_batch_customers(b, &n);
    ck_assert_int_eq((int)n, 2);
    ck_assert(strcmp(cs[0].id, "acme") == 0 && strcmp(cs[0].plan, "enterprise") == 0 &&
              strcmp(cs[0].cost_center, "cc-1") == 0);
    ck_assert_str_eq(cs_batch_find_customer(b, "globex")->cost_center, "cc-7");
    ck_assert_ptr_null(cs_batch_find_customer(b, "initech"));
    /* cleared: nothing left, and it fills again */
    cs_batch_clear(b);
    cs_batch_rejects(b, &n);
    ck_assert_int_eq((int)n, 0);
    cs_batch_samples(b, &n);
    ck_assert_int_eq((int)n, 0);
    cs_batch_customers(b, &n);
    ck_assert_int_eq((int)n, 0);
    ck_assert_ptr_null(cs_batch_find_customer(b, "acme"));
    ck_assert_int_eq(cs_batch_set_customer(b, &c), 0);
    ck_assert_str_eq(cs_batch_find_customer(b, "acme")->name, "ACME");
    cs_batch_free(b); /* frees what is still in it */
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, take_back_once);
    tcase_add_test(tc, overflow_changes_nothing);
    tcase_add_test(tc, rejects_samples_customers);
    suite_add_tcase(s, tc);
    return s;
}
