/* Unit tests for src/event.c: both encodings of a valid event, exact
 * quantities, and one case per rejection reason. */
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "decode.h"
#include "event.h"
#include "timestamp.h"
#include "unit.h"

static cs_event ev;
static cs_event_error err;

static int dec_json(const char *s)
{
    return cs_event_decode(s, strlen(s), 65536, CS_EVENT_FORMAT_AUTO, &ev, &err);
}

static const char *qstr(void)
{
    static char b[CS_DEC_STRLEN];
    cs_dec_format(ev.quantity, 12, b, sizeof(b));
    return b;
}

#define EVENT(subject, time, data)                                                         \
    "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"//p\",\"type\":\"t\"," subject \
    "\"time\":\"" time "\",\"data\":" data "}"

START_TEST(valid_json)
{
    ck_assert_int_eq(dec_json(EVENT("\"subject\":\"cus_1\",", "2026-11-03T10:15:00Z",
                                    "{\"product\":\"api-gateway\",\"meter\":\"requests\","
                                    "\"quantity\":0.1,\"labels\":{\"region\":\"eu\",\"api_key\":\"k\"}}")),
                     0);
    ck_assert_str_eq(ev.id, "e1");
    ck_assert_str_eq(ev.subject, "cus_1");
    ck_assert_str_eq(ev.product, "api-gateway");
    ck_assert_str_eq(ev.meter, "requests");
    ck_assert_str_eq(qstr(), "0.100000000000");
    ck_assert_int_eq((int)ev.nlabels, 2);
    ck_assert_str_eq(cs_event_label(&ev, "api_key"), "k");
    ck_assert_ptr_null(cs_event_label(&ev, "nope"));
    int64_t t;
    cs_timestamp_parse("2026-11-03T10:15:00Z", 20, &t);
    ck_assert(ev.time_usec == t);
}
END_TEST

START_TEST(quantity_forms)
{
    ck_assert_int_eq(dec_json(EVENT("", "2026-11-03T10:15:00Z",
                                    "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":\"12.345\"}")), 0);
    ck_assert_str_eq(qstr(), "12.345000000000");
    ck_assert_ptr_null(ev.subject);
    /* a number a double cannot hold exactly stays exact */
    ck_assert_int_eq(dec_json(EVENT("", "2026-11-03T10:15:00Z",
                                    "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1234567890123.000000000001}")), 0);
    ck_assert_str_eq(qstr(), "1234567890123.000000000001");
    ck_assert_int_eq(dec_json(EVENT("", "2026-11-03T10:15:00Z",
                                    "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":25e-1}")), 0);
    ck_assert_str_eq(qstr(), "2.500000000000");
}
END_TEST

static void expect_reject(const char *msg, size_t len, cs_reject_code code, const char *needle)
{
    int r = cs_event_decode(msg, len, 4096, CS_EVENT_FORMAT_AUTO, &ev, &err);
    ck_assert_int_eq(r, -EBADMSG);
    ck_assert_msg(err.code == code, "%s: got %s (%s)", msg, cs_reject_code_name(err.code), err.detail);
    ck_assert_msg(strstr(err.detail, needle) != NULL, "detail \"%s\" lacks \"%s\"", err.detail, needle);
}

#define R(s, code, needle) expect_reject(s, strlen(s), code, needle)

START_TEST(rejections)
{
    R("{\"specversion\":", CS_REJECT_MALFORMED_JSON, "line 1");
    R("[1,2]", CS_REJECT_WRONG_TYPE, "expected a JSON object");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"meter\":\"m\",\"quantity\":1}"), CS_REJECT_MISSING_FIELD, "data.product");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":1,\"meter\":\"m\",\"quantity\":1}"), CS_REJECT_WRONG_TYPE, "data.product: expected a string");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":-3}"), CS_REJECT_INVALID_QUANTITY, "negative");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":\"NaN\"}"), CS_REJECT_INVALID_QUANTITY, "not a decimal");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":\"abc\"}"), CS_REJECT_INVALID_QUANTITY, "not a decimal");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":0.0000000000001}"), CS_REJECT_INVALID_QUANTITY, "decimal places");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":true}"), CS_REJECT_WRONG_TYPE, "data.quantity");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\"}"), CS_REJECT_MISSING_FIELD, "data.quantity");
    R(EVENT("", "03/11/2026", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1}"), CS_REJECT_INVALID_TIME, "RFC 3339");
    R(EVENT("", "2026-11-03T10:15:00Z", "[]"), CS_REJECT_WRONG_TYPE, "data: expected an object");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1,\"labels\":{\"a\":1}}"), CS_REJECT_WRONG_TYPE, "data.labels.a");
    R("{\"specversion\":\"0.3\",\"id\":\"e\",\"source\":\"s\",\"type\":\"t\",\"time\":\"2026-11-03T10:15:00Z\",\"data\":{}}", CS_REJECT_INVALID_VALUE, "specversion");
    R("{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"s\",\"type\":\"t\",\"time\":\"2026-11-03T10:15:00Z\",\"data\":{}}", CS_REJECT_INVALID_VALUE, "id: must not be empty");
    R("{\"a\":1,\"a\":2}", CS_REJECT_MALFORMED_JSON, "duplicate");
    expect_reject("{\"id\":\"\xc3\x28\"}", 10, CS_REJECT_INVALID_UTF8, "UTF-8");
    expect_reject("", 0, CS_REJECT_EMPTY, "no payload");
    char big[5000];
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    expect_reject(big, sizeof(big), CS_REJECT_OVERSIZED, "limit is 4096");
    expect_reject("\xc1\x00", 2, CS_REJECT_INVALID_UTF8, "neither");
}
END_TEST

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Packs an event; qkind 0 = uint, 1 = string, 2 = float64, 3 = uint 0,
 * 4 = int64 minimum, 5 = uint 1234567890. */
static void pack_event(msgpack_sbuffer *sb, int qkind)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    pack_str(&pk, "specversion"); pack_str(&pk, "1.0");
    pack_str(&pk, "id"); pack_str(&pk, "m1");
    pack_str(&pk, "source"); pack_str(&pk, "//p");
    pack_str(&pk, "type"); pack_str(&pk, "t");
    pack_str(&pk, "subject"); pack_str(&pk, "cus_9");
    pack_str(&pk, "time"); pack_str(&pk, "2026-11-03T10:15:00Z");
    pack_str(&pk, "data");
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "product"); pack_str(&pk, "sandbox-execution");
    pack_str(&pk, "meter"); pack_str(&pk, "cpu_seconds");
    pack_str(&pk, "quantity");
    if (qkind == 0)
        msgpack_pack_uint64(&pk, 18446744073709551615ULL);
    else if (qkind == 1)
        pack_str(&pk, "0.001");
    else if (qkind == 3)
        msgpack_pack_uint64(&pk, 0);
    else if (qkind == 4)
        msgpack_pack_int64(&pk, INT64_MIN);
    else if (qkind == 5)
        msgpack_pack_uint64(&pk, 1234567890);
    else
        msgpack_pack_double(&pk, 0.5);
    pack_str(&pk, "labels");
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "sandbox_id"); pack_str(&pk, "sbx-1");
}

START_TEST(valid_and_invalid_msgpack)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_event(&sb, 0);
    ck_assert_int_eq(cs_event_decode(sb.data, sb.size, 0, CS_EVENT_FORMAT_AUTO, &ev, &err), 0);
    ck_assert_str_eq(ev.subject, "cus_9");
    ck_assert_str_eq(qstr(), "18446744073709551615.000000000000");
    ck_assert_str_eq(cs_event_label(&ev, "sandbox_id"), "sbx-1");
    pack_event(&sb, 1);
    ck_assert_int_eq(cs_event_decode(sb.data, sb.size, 0, CS_EVENT_FORMAT_MSGPACK, &ev, &err), 0);
    ck_assert_str_eq(qstr(), "0.001000000000");
    /* integers become decimal text without printf: every digit, the sign */
    pack_event(&sb, 3);
    ck_assert_int_eq(cs_event_decode(sb.data, sb.size, 0, CS_EVENT_FORMAT_MSGPACK, &ev, &err), 0);
    ck_assert_str_eq(qstr(), "0.000000000000");
    pack_event(&sb, 5);
    ck_assert_int_eq(cs_event_decode(sb.data, sb.size, 0, CS_EVENT_FORMAT_MSGPACK, &ev, &err), 0);
    ck_assert_str_eq(qstr(), "1234567890.000000000000");
    pack_event(&sb, 4);
    expect_reject(sb.data, sb.size, CS_REJECT_INVALID_QUANTITY, "\"-9223372036854775808\" is negative");
    pack_event(&sb, 2);
    expect_reject(sb.data, sb.size, CS_REJECT_WRONG_TYPE, "binary float");
    pack_event(&sb, 1);
    expect_reject(sb.data, sb.size / 2, CS_REJECT_MALFORMED_MSGPACK, "truncated");
    char two[4096];
    memcpy(two, sb.data, sb.size);
    two[sb.size] = (char)0xc0;
    expect_reject(two, sb.size + 1, CS_REJECT_MALFORMED_MSGPACK, "trailing");
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(big_json_quantities)
{
    /* beyond int64 and double: read from the text, in range below 10^26 */
    ck_assert_int_eq(dec_json(EVENT("", "2026-11-03T10:15:00Z",
                                    "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":9223372036854775808}")), 0);
    ck_assert_str_eq(qstr(), "9223372036854775808.000000000000");
    ck_assert_int_eq(dec_json(EVENT("", "2026-11-03T10:15:00Z",
                                    "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":99999999999999999999999999}")), 0);
    ck_assert_int_eq(dec_json(EVENT("\"x\":1e999,", "2026-11-03T10:15:00Z",
                                    "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":2}")), 0);
    ck_assert_str_eq(qstr(), "2.000000000000");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1e400}"),
      CS_REJECT_INVALID_QUANTITY, "out of range");
    R(EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":100000000000000000000000000}"),
      CS_REJECT_INVALID_QUANTITY, "out of range");
    /* details cut between characters: "é" at byte 40 is left out whole */
    R(EVENT("", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1}"),
      CS_REJECT_INVALID_TIME, "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is not");
    ck_assert(cs_utf8_valid(err.detail, strlen(err.detail)));
}
END_TEST

/* The fast JSON path against the jansson reference: same verdict, reason,
 * detail and fields wherever the fast path decides. */
static int compare_paths(const char *doc, size_t n)
{
    static cs_event fast, ref;
    cs_event_error ef = {0}, er = {0};
    if (!cs_utf8_valid(doc, n))
        return 0;
    int rf = cs_event_decode_json_fast(doc, n, &fast, &ef);
    if (rf == -1)
        return 0;
    int rr = cs_event_decode_json_ref(doc, n, &ref, &er);
    ck_assert_msg(rf == rr, "verdicts differ on %.*s: fast %d, reference %d (%s)", (int)n, doc, rf,
                  rr, er.detail);
    if (rr < 0) {
        ck_assert_msg(ef.code == er.code && strcmp(ef.detail, er.detail) == 0,
                      "rejects differ on %.*s: %s / %s", (int)n, doc, ef.detail, er.detail);
        return 1;
    }
    ck_assert_str_eq(fast.id, ref.id);
    ck_assert_str_eq(fast.source, ref.source);
    ck_assert_str_eq(fast.product, ref.product);
    ck_assert_str_eq(fast.meter, ref.meter);
    ck_assert((fast.subject == NULL) == (ref.subject == NULL));
    if (fast.subject)
        ck_assert_str_eq(fast.subject, ref.subject);
    ck_assert(fast.time_usec == ref.time_usec && fast.quantity.raw == ref.quantity.raw);
    ck_assert_int_eq((int)fast.nlabels, (int)ref.nlabels);
    for (size_t i = 0; i < fast.nlabels; i++) {
        ck_assert_str_eq(fast.labels[i].name, ref.labels[i].name);
        ck_assert_str_eq(fast.labels[i].value, ref.labels[i].value);
    }
    return 1;
}

START_TEST(fast_json_agrees_with_jansson)
{
    static const char *docs[] = {
        EVENT("\"subject\":\"acme\",", "2026-11-03T10:15:00Z",
              "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":\"1.5\",\"labels\":{\"a\":\"x\",\"b\":\"\\u00e9\\ud83d\\udcb6\\n\"}}"),
        EVENT("\"ext\":[1,[2,\"s\"],true,null],", "2026-11-03T10:15:00Z",
              "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":12e-1}"),
        EVENT("\"subject\":null,", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1}"),
        EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1,\"labels\":[1]}"),
        EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":1,\"labels\":{\"a\":5}}"),
        EVENT("", "2026-11-03T10:15:00Z", "\"text\""),
        EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":-1}"),
        EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"p\",\"meter\":\"m\",\"quantity\":true}"),
        EVENT("", "2026-11-03T10:15:00Z", "{\"product\":\"\",\"meter\":\"m\",\"quantity\":1}"),
        "{\"specversion\":\"0.3\"}",
        "{\"specversion\":\"1.0\",\"id\":\"a\",\"id\":\"b\"}",
        "{\"a\":1 \"b\":2}",
        "{\"a\":[1 2]}",
        "{\"a\":[1,]}",
        "{\"a\":\"\\u0000\"}",
        "[1]",
        "{} x",
    };
    int decided = 0;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        decided += compare_paths(docs[i], strlen(docs[i]));
    ck_assert_int_ge(decided, 9); /* the fast path decides the well-formed ones */
    /* every one-byte change of a full event, at every position, with a
     * handful of replacement bytes that matter to JSON */
    const char *base = docs[0];
    size_t n = strlen(base);
    char buf[512];
    static const char subst[] = " \"\\,:{}[]0-.eEtfnu\x01";
    int mutants = 0;
    for (size_t pos = 0; pos < n; pos++)
        for (size_t k = 0; k < sizeof(subst) - 1; k++) {
            memcpy(buf, base, n);
            buf[pos] = subst[k];
            mutants += compare_paths(buf, n);
            compare_paths(buf, pos); /* cut short there */
        }
    ck_assert_int_gt(mutants, 100);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, valid_json);
    tcase_add_test(tc, quantity_forms);
    tcase_add_test(tc, rejections);
    tcase_add_test(tc, fast_json_agrees_with_jansson);
    tcase_add_test(tc, big_json_quantities);
    tcase_add_test(tc, valid_and_invalid_msgpack);
    suite_add_tcase(s, tc);
    return s;
}
