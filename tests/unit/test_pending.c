/* Unit tests for src/pending.c: samples packed into a block read back
 * field for field (the samples given are the oracle), the block's size is
 * what pending.h documents for the distinct strings, series and attribute
 * sets counted here, and every damaged block is refused: each truncation,
 * a trailing byte, a wrong magic, an index out of range, a NUL in a
 * string, a decimal beyond 38 digits, an unknown kind or special. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pending.h"
#include "unit.h"

#define NS 40

static cs_dec D(const char *s)
{
    cs_dec d;
    ck_assert_int_eq(cs_dec_parse(s, strlen(s), &d), 0);
    return d;
}

static unsigned char ids[3][CS_BATCH_SERIES_ID_LEN];
static cs_batch_sample in[NS];

/* Three series; series 2 changes customer at sample 30; every kind of
 * special; values from zero to 38 digits. */
static void setup(void)
{
    static const char *const series[3] = {"cpu{pod=\"a\"}", "mem{pod=\"b\"}", "cpu{pod=\"c\"}"};
    static const char *const specials[] = {NULL, "NaN", NULL, "+Inf", NULL, "-Inf"};
    static const char *const values[] = {"0", "1234.5", "99999999999999999999999999.999999999999",
                                         "0.000000000001", "-3.5"};
    for (int s = 0; s < 3; s++)
        for (int b = 0; b < CS_BATCH_SERIES_ID_LEN; b++)
            ids[s][b] = (unsigned char)(s * 91 + b * 7);
    for (int i = 0; i < NS; i++) {
        int s = i % 3;
        in[i] = (cs_batch_sample){
            .series_id = ids[s], .series = series[s], .time_usec = INT64_C(1793000000000000) + i * 15000000 - (i == 7) * INT64_C(86400000000),
            .special = specials[i % 6], .value = specials[i % 6] ? cs_dec_zero() : D(values[i % 5]),
            .kind = s == 1 ? "gauge" : "counter", .unit_divisor = s == 1 ? 3865470566400 : 3600,
            .max_gap_usec = 300000000, .customer = s == 2 && i >= 30 ? "acme" : "initech",
            .plan = "pro", .product = "sandbox", .meter = s == 1 ? "gib_hours" : "cpu_hours",
            .rule_id = "r1", .rules_version = "2026-11", .currency = "USD", .unit = "hour",
            .unit_price = D("0.04"), .discount_rate = D("0.1"), .topic = "metrics",
            .partition = i % 4, .offset = INT64_C(5000000000) + i};
    }
}

static void encode(size_t n, cs_buf *out)
{
    cs_pending_writer *w = cs_pending_writer_new();
    ck_assert_ptr_nonnull(w);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(cs_pending_writer_add(w, &in[i]), 0);
    ck_assert_uint_eq(cs_pending_writer_count(w), n);
    cs_pending_writer_finish(w, out);
    ck_assert(!out->failed);
    cs_pending_writer_free(w);
}

static void same_text(const char *a, const char *b)
{
    if (!a || !b)
        ck_assert_ptr_eq(a, b);
    else
        ck_assert_str_eq(a, b);
}

static void same_sample(const cs_batch_sample *a, const cs_batch_sample *b)
{
    ck_assert_mem_eq(a->series_id, b->series_id, CS_BATCH_SERIES_ID_LEN);
    const char *ta[] = {a->series,  a->kind,    a->customer, a->plan,     a->product, a->meter,
                        a->rule_id, a->rules_version, a->currency, a->unit, a->topic};
    const char *tb[] = {b->series,  b->kind,    b->customer, b->plan,     b->product, b->meter,
                        b->rule_id, b->rules_version, b->currency, b->unit, b->topic};
    for (size_t i = 0; i < sizeof(ta) / sizeof(ta[0]); i++)
        same_text(ta[i], tb[i]);
    same_text(a->special, b->special);
    ck_assert(a->time_usec == b->time_usec && a->unit_divisor == b->unit_divisor &&
              a->max_gap_usec == b->max_gap_usec && a->partition == b->partition &&
              a->offset == b->offset);
    ck_assert(a->value.raw == b->value.raw && a->unit_price.raw == b->unit_price.raw &&
              a->discount_rate.raw == b->discount_rate.raw);
}

START_TEST(round_trip)
{
    cs_buf out = {0};
    encode(NS, &out);
    cs_pending_block *b;
    ck_assert_int_eq(cs_pending_decode(out.data, out.len, &b), 0);
    size_t n;
    const cs_batch_sample *s = cs_pending_block_samples(b, &n);
    ck_assert_uint_eq(n, NS);
    for (int i = 0; i < NS; i++)
        same_sample(&s[i], &in[i]);
    /* distinct strings: 3 series, initech, acme, pro, sandbox, gib_hours,
     * cpu_hours, r1, 2026-11, USD, hour, metrics; attribute sets: one per
     * series plus series 2's change of customer */
    const char *strings[] = {"cpu{pod=\"a\"}", "mem{pod=\"b\"}", "cpu{pod=\"c\"}", "initech",
                             "acme", "pro", "sandbox", "gib_hours", "cpu_hours", "r1",
                             "2026-11", "USD", "hour", "metrics"};
    size_t len = 20 + 3 * 36 + 4 * 81 + NS * 49;
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        len += 4 + strlen(strings[i]);
    ck_assert_uint_eq(out.len, len);
    cs_pending_block_free(b);
    cs_buf_free(&out);
}
END_TEST

START_TEST(empty_and_reset)
{
    cs_pending_writer *w = cs_pending_writer_new();
    cs_buf out = {0};
    cs_pending_writer_finish(w, &out);
    ck_assert_uint_eq(out.len, 20);
    cs_pending_block *b;
    ck_assert_int_eq(cs_pending_decode(out.data, out.len, &b), 0);
    size_t n = 9;
    cs_pending_block_samples(b, &n);
    ck_assert_uint_eq(n, 0);
    cs_pending_block_free(b);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(cs_pending_writer_add(w, &in[i]), 0);
    ck_assert(cs_pending_writer_min_usec(w) == in[7].time_usec);
    ck_assert(cs_pending_writer_max_usec(w) == in[9].time_usec);
    cs_pending_writer_reset(w);
    ck_assert_uint_eq(cs_pending_writer_count(w), 0);
    ck_assert_int_eq(cs_pending_writer_add(w, &in[12]), 0);
    cs_buf_reset(&out);
    cs_pending_writer_finish(w, &out);
    ck_assert_int_eq(cs_pending_decode(out.data, out.len, &b), 0);
    const cs_batch_sample *s = cs_pending_block_samples(b, &n);
    ck_assert_uint_eq(n, 1);
    same_sample(&s[0], &in[12]);
    cs_pending_block_free(b);
    cs_pending_block_free(NULL);
    cs_pending_writer_free(w);
    cs_pending_writer_free(NULL);
    cs_buf_free(&out);
}
END_TEST

START_TEST(writer_refuses)
{
    cs_pending_writer *w = cs_pending_writer_new();
    cs_batch_sample x = in[0];
    x.kind = "histogram";
    ck_assert_int_eq(cs_pending_writer_add(w, &x), -EINVAL);
    x = in[0];
    x.special = "nan";
    ck_assert_int_eq(cs_pending_writer_add(w, &x), -EINVAL);
    ck_assert_uint_eq(cs_pending_writer_count(w), 0);
    cs_pending_writer_free(w);
}
END_TEST

static int decode_status(const char *data, size_t len)
{
    cs_pending_block *b = NULL;
    int r = cs_pending_decode(data, len, &b);
    cs_pending_block_free(r == 0 ? b : NULL);
    return r;
}

START_TEST(damaged_blocks_refused)
{
    cs_buf out = {0};
    encode(NS, &out);
    for (size_t cut = 0; cut < out.len; cut++)
        ck_assert_int_eq(decode_status(out.data, cut), -EINVAL);
    cs_buf_append(&out, "x", 1);
    ck_assert_int_eq(decode_status(out.data, out.len), -EINVAL);
    out.len--;
    ck_assert_int_eq(decode_status(out.data, out.len), 0);
    size_t samples = out.len - NS * 49, attrs = samples - 4 * 81;
    struct {
        size_t at;
        unsigned char byte;
    } damage[] = {
        {0, 'X'},                  /* magic */
        {samples, 3},              /* the first sample's series index */
        {samples + 4, 4},          /* its attribute index */
        {samples + 16, 4},         /* its special */
        {samples + 32, 0x7f},      /* its value: far past 38 digits */
        {samples + 33, 99},        /* its topic */
        {attrs, 2},                /* the first attribute set's kind */
        {attrs + 17, 99},          /* its customer */
        {attrs + 64, 0x7f},        /* its unit price */
        {24, 0},                   /* a NUL inside the first string */
    };
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        unsigned char keep = (unsigned char)out.data[damage[i].at];
        out.data[damage[i].at] = (char)damage[i].byte;
        ck_assert_msg(decode_status(out.data, out.len) == -EINVAL, "damage %zu", i);
        out.data[damage[i].at] = (char)keep;
    }
    ck_assert_int_eq(decode_status(out.data, out.len), 0);
    cs_buf_free(&out);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pending");
    TCase *tc = tcase_create("core");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, empty_and_reset);
    tcase_add_test(tc, writer_refuses);
    tcase_add_test(tc, damaged_blocks_refused);
    suite_add_tcase(s, tc);
    return s;
}
