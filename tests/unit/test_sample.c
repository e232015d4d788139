/* Unit tests for src/sample.c: both encodings, special values, rounding of
 * float-born values, series identity independent of label order, rejects. */
#include <msgpack.h>
#include <errno.h>
#include <string.h>

#include "decode.h"
#include "jsonfast.h"
#include "sample.h"
#include "unit.h"

static cs_sample s;
static cs_event_error err;

static int dec(const char *j)
{
    return cs_sample_decode(j, strlen(j), 4096, CS_EVENT_FORMAT_AUTO, &s, &err);
}

START_TEST(json_and_identity)
{
    ck_assert_int_eq(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"1234.5\",\"name\":\"c_total\","
                         "\"labels\":{\"__name__\":\"c_total\",\"pod\":\"p1\",\"namespace\":\"ns\"}}"), 0);
    ck_assert_str_eq(s.name, "c_total");
    ck_assert_int_eq((int)s.nlabels, 2); /* __name__ is not a label */
    ck_assert_str_eq(s.labels[0].name, "namespace"); /* sorted */
    char text[256], buf[CS_DEC_STRLEN];
    cs_sample_series_text(&s, text, sizeof(text));
    ck_assert_str_eq(text, "c_total{namespace=\"ns\",pod=\"p1\"}");
    cs_dec_format(s.value, 1, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1234.5");
    unsigned char id[CS_SERIES_ID_LEN];
    memcpy(id, s.series_id, sizeof(id));
    /* same series, other label order, other value and time */
    ck_assert_int_eq(dec("{\"labels\":{\"pod\":\"p1\",\"namespace\":\"ns\"},\"name\":\"c_total\","
                         "\"value\":\"1.00000000000000000049\",\"timestamp\":\"2026-11-03T10:16:00Z\"}"), 0);
    ck_assert(memcmp(id, s.series_id, sizeof(id)) == 0);
    cs_dec_format(s.value, 12, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1.000000000000"); /* rounded half-even, not refused */
    ck_assert_int_eq(dec("{\"timestamp\":\"2026-11-03T10:16:00Z\",\"value\":\"1e3\",\"name\":\"c_total\","
                         "\"labels\":{\"pod\":\"p2\",\"namespace\":\"ns\"}}"), 0);
    ck_assert(memcmp(id, s.series_id, sizeof(id)) != 0);
}
END_TEST

START_TEST(specials_and_rejects)
{
    const char *sp[] = {"NaN", "+Inf", "-Inf"};
    cs_sample_special want[] = {CS_SAMPLE_NAN, CS_SAMPLE_POS_INF, CS_SAMPLE_NEG_INF};
    for (int i = 0; i < 3; i++) {
        char j[256];
        snprintf(j, sizeof(j), "{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"%s\",\"name\":\"g\",\"labels\":{}}", sp[i]);
        ck_assert_int_eq(dec(j), 0);
        ck_assert_int_eq(s.special, want[i]);
        ck_assert_str_eq(cs_sample_special_name(s.special), sp[i]);
    }
    ck_assert_int_lt(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":1.5,\"name\":\"g\"}"), 0);
    ck_assert_int_eq(err.code, CS_REJECT_WRONG_TYPE);
    ck_assert_int_lt(dec("{\"timestamp\":\"yesterday\",\"value\":\"1\",\"name\":\"g\"}"), 0);
    ck_assert_int_eq(err.code, CS_REJECT_INVALID_TIME);
    ck_assert_int_lt(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"-3\",\"name\":\"g\"}"), 0);
    ck_assert_int_eq(err.code, CS_REJECT_INVALID_VALUE);
    ck_assert_int_lt(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"abc\",\"name\":\"g\"}"), 0);
    ck_assert_int_eq(err.code, CS_REJECT_INVALID_VALUE);
    ck_assert_int_lt(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"1\"}"), 0);
    ck_assert_int_eq(err.code, CS_REJECT_MISSING_FIELD);
    ck_assert_int_lt(dec("{\"timestamp\":"), 0);
    ck_assert_int_eq(err.code, CS_REJECT_MALFORMED_JSON);
}
END_TEST

START_TEST(msgpack_same_series)
{
    ck_assert_int_eq(dec("{\"timestamp\":\"2026-11-03T10:15:00.250Z\",\"value\":\"7\",\"name\":\"m\",\"labels\":{\"a\":\"x\"}}"), 0);
    unsigned char id[CS_SERIES_ID_LEN];
    memcpy(id, s.series_id, sizeof(id));
    int64_t t = s.time_usec;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
#define S(x) do { msgpack_pack_str(&pk, strlen(x)); msgpack_pack_str_body(&pk, x, strlen(x)); } while (0)
    msgpack_pack_map(&pk, 4);
    S("name"); S("m"); S("value"); S("7"); S("timestamp"); S("2026-11-03T10:15:00.250Z");
    S("labels"); msgpack_pack_map(&pk, 2); S("__name__"); S("m"); S("a"); S("x");
    ck_assert_int_eq(cs_sample_decode(sb.data, sb.size, 0, CS_EVENT_FORMAT_AUTO, &s, &err), 0);
    ck_assert(memcmp(id, s.series_id, sizeof(id)) == 0);
    ck_assert(s.time_usec == t);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(series_identity_is_unambiguous)
{
    /* a label name holding '=' and '"' would spell another series' text */
    ck_assert_int_eq(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"1\",\"name\":\"c_total\","
                         "\"labels\":{\"namespace=\\\"victim\\\",pod\":\"p1\"}}"), -EBADMSG);
    ck_assert_int_eq(err.code, CS_REJECT_INVALID_VALUE);
    ck_assert(strstr(err.detail, "is not a Prometheus label name") != NULL);
    ck_assert_int_eq(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"1\",\"name\":\"c{x}\"}"),
                     -EBADMSG);
    ck_assert(strstr(err.detail, "is not a Prometheus metric name") != NULL);
    ck_assert_int_eq(dec("{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"1\",\"name\":\"ns:c_total\","
                         "\"labels\":{\"_a9\":\"v\\\",b=\\\"w\"}}"), 0);
    char text[256];
    cs_sample_series_text(&s, text, sizeof(text));
    ck_assert_str_eq(text, "ns:c_total{_a9=\"v\\\",b=\\\"w\"}");
}
END_TEST

static int peek(const char *j, cs_sample_head *h)
{
    return cs_sample_peek(j, strlen(j), 4096, CS_EVENT_FORMAT_AUTO, h);
}

/* The head read in place agrees with the full decoding; anything doubtful
 * is left to it. */
START_TEST(peek_name_and_time)
{
    const char *ok = "{\"timestamp\":\"2026-11-03T10:15:00.250Z\",\"value\":\"7\",\"name\":\"m_total\","
                     "\"labels\":{\"__name__\":\"m_total\",\"a\":\"x\"},\"extra\":[1,[2]]}";
    cs_sample_head h;
    ck_assert_int_eq(peek(ok, &h), 0);
    ck_assert_int_eq(dec(ok), 0);
    ck_assert_str_eq(h.name, s.name);
    ck_assert(h.time_usec == s.time_usec);
    static const char *const unsure[] = {
        "{\"name\":\"m\",\"name\":\"n\",\"timestamp\":\"2026-11-03T10:15:00Z\"}", /* duplicate */
        "{\"name\":\"m\",\"timestamp\":\"yesterday\"}",
        "{\"name\":\"m{x}\",\"timestamp\":\"2026-11-03T10:15:00Z\"}",
        "{\"name\":\"m\"}",
        "{\"name\":\"m\",\"timestamp\":\"2026-11-03T10:15:00Z\",\"labels\":{\"a\":1}}",
        "{\"name\":\"m\",\"timestamp\":\"2026-11-03T10:15:00Z\",\"labels\":\"a\"}",
        "{\"name\":\"m\",\"timestamp\":\"2026-11-03T10:15:00Z\",\"other\":{}}",
        "{\"name\":\"m\",\"timestamp\":\"2026-11-03T10:15:00Z\"} x",
        "{\"name\":7,\"timestamp\":\"2026-11-03T10:15:00Z\"}",
        "[\"name\"]",
        "",
    };
    for (size_t i = 0; i < sizeof(unsure) / sizeof(unsure[0]); i++)
        ck_assert_msg(peek(unsure[i], &h) == -EAGAIN, "case %zu", i);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    S("value"); S("7"); S("labels"); msgpack_pack_map(&pk, 1); S("a"); S("x");
    S("n"); msgpack_pack_array(&pk, 2); msgpack_pack_int(&pk, -300); msgpack_pack_double(&pk, 1.5);
    S("timestamp"); S("2026-11-03T10:15:00.250Z"); S("name"); S("m_total");
    ck_assert_int_eq(cs_sample_peek(sb.data, sb.size, 0, CS_EVENT_FORMAT_AUTO, &h), 0);
    ck_assert_str_eq(h.name, "m_total");
    ck_assert(h.time_usec == s.time_usec);
    /* cut anywhere: never sure */
    for (size_t n = 0; n < sb.size; n++)
        ck_assert_int_eq(cs_sample_peek(sb.data, n, 0, CS_EVENT_FORMAT_MSGPACK, &h), -EAGAIN);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 3); /* a label value that is not a string */
    S("name"); S("m_total"); S("timestamp"); S("2026-11-03T10:15:00Z");
    S("labels"); msgpack_pack_map(&pk, 1); S("a"); msgpack_pack_int(&pk, 1);
    ck_assert_int_eq(cs_sample_peek(sb.data, sb.size, 0, CS_EVENT_FORMAT_AUTO, &h), -EAGAIN);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* The zero-allocation JSON path against the jansson reference: what it
 * accepts, the reference decodes the same; what it is not sure of (a wrong
 * type, a duplicate, a nested object, any reject) it leaves to the
 * reference, whose verdict and detail cs_sample_decode() returns. */
START_TEST(json_fast_path_agrees)
{
    static const char *const accepted[] = {
        "{\"timestamp\":\"2026-11-03T10:15:00Z\",\"value\":\"1234.5\",\"name\":\"c_total\","
        "\"labels\":{\"__name__\":\"c_total\",\"pod\":\"p\\u00e9\\n\",\"namespace\":\"ns\"}}",
        "{\"labels\":{\"b\":\"\",\"a\":\"x\"},\"extra\":[1,\"two\",null],\"n\":3.5,\"t\":true,"
        "\"name\":\"m:x\",\"value\":\"NaN\",\"timestamp\":\"2026-11-03T10:15:00.5+01:00\"}",
        " { \"name\" : \"g\" , \"value\" : \"-Inf\" , \"timestamp\" : \"2026-11-03T10:15:00Z\" } ",
    };
    static const char *const left[] = {
        "{\"name\":\"g\",\"value\":1,\"timestamp\":\"2026-11-03T10:15:00Z\"}",
        "{\"name\":\"g\",\"name\":\"h\",\"value\":\"1\",\"timestamp\":\"2026-11-03T10:15:00Z\"}",
        "{\"name\":\"g\",\"value\":\"1\",\"timestamp\":\"2026-11-03T10:15:00Z\",\"x\":{\"y\":1}}",
        "{\"name\":\"g\",\"value\":\"-1\",\"timestamp\":\"2026-11-03T10:15:00Z\"}",
        "{\"name\":\"g\",\"value\":\"1\",\"timestamp\":\"2026-11-03T10:15:00Z\",\"labels\":{\"1a\":\"v\"}}",
        "{\"name\":\"g\",\"value\":\"1\",\"timestamp\":\"2026-11-03T10:15:00Z\",\"labels\":{\"a\":2}}",
        "{\"name\":\"g\",\"value\":\"1\",\"timestamp\":\"2026-11-03T10:15:00Z\",\"labels\":[]}",
        "{\"name\":\"g\",\"value\":\"1\"}",
        "{\"name\":\"g\",\"value\":\"1\",\"timestamp\":\"2026-11-03T10:15:00Z\"} x",
    };
    static cs_sample fast, ref;
    cs_event_error ef, er;
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        const char *j = accepted[i];
        memset(&fast, 0, sizeof(fast));
        memset(&ref, 0, sizeof(ref));
        ck_assert_msg(cs_sample_decode_json_fast(j, strlen(j), &fast, &ef) == 0, "%zu", i);
        ck_assert_int_eq(cs_sample_decode_json_ref(j, strlen(j), &ref, &er), 0);
        ck_assert_str_eq(fast.name, ref.name);
        ck_assert(fast.time_usec == ref.time_usec && fast.special == ref.special &&
                  fast.value.raw == ref.value.raw && fast.nlabels == ref.nlabels);
        ck_assert_mem_eq(fast.series_id, ref.series_id, CS_SERIES_ID_LEN);
        for (size_t k = 0; k < fast.nlabels; k++) {
            ck_assert_str_eq(fast.labels[k].name, ref.labels[k].name);
            ck_assert_str_eq(fast.labels[k].value, ref.labels[k].value);
        }
    }
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
        const char *j = left[i];
        memset(&fast, 0, sizeof(fast));
        memset(&ref, 0, sizeof(ref));
        ck_assert_msg(cs_sample_decode_json_fast(j, strlen(j), &fast, &ef) == CS_JF_GIVE_UP, "%zu", i);
        int rr = cs_sample_decode_json_ref(j, strlen(j), &ref, &er);
        ck_assert_int_eq(dec(j), rr);
        ck_assert_msg(rr == (i == 2 ? 0 : -EBADMSG), "%zu", i); /* a nested object is fine */
        if (rr < 0) {
            ck_assert_int_eq(err.code, er.code);
            ck_assert_str_eq(err.detail, er.detail);
        }
    }
}
END_TEST

static Suite *make_suite(void)
{
    Suite *su = suite_create("sample");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, json_and_identity);
    tcase_add_test(tc, specials_and_rejects);
    tcase_add_test(tc, msgpack_same_series);
    tcase_add_test(tc, series_identity_is_unambiguous);
    tcase_add_test(tc, peek_name_and_time);
    tcase_add_test(tc, json_fast_path_agrees);
    suite_add_tcase(su, tc);
    return su;
}
