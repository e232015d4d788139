/* Unit tests for src/jsonscan.c, and a differential fuzz against jansson:
 * random documents are built and serialised by jansson in several layouts;
 * for every value in them, the span jsonscan finds must parse (by jansson)
 * to a value equal to the one jansson holds at that path. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "jsonscan.h"
#include "unit.h"

START_TEST(finds_raw_number_text)
{
    const char *doc = "{\"a\": 1, \"data\" : {\"x\": [1, {\"q\": 2}], \"quantity\": 0.10000000000000000001 }}";
    cs_jsonscan_step path[] = {{"data", 0}, {"quantity", 0}};
    size_t off, n;
    ck_assert_int_eq(cs_jsonscan_find(doc, strlen(doc), path, 2, &off, &n), 0);
    ck_assert_int_eq((int)n, 22);
    ck_assert(strncmp(doc + off, "0.10000000000000000001", n) == 0);
    cs_jsonscan_step missing[] = {{"data", 0}, {"nope", 0}};
    ck_assert_int_eq(cs_jsonscan_find(doc, strlen(doc), missing, 2, &off, &n), -ENOENT);
    cs_jsonscan_step arr[] = {{"data", 0}, {"x", 0}, {NULL, 1}, {"q", 0}};
    ck_assert_int_eq(cs_jsonscan_find(doc, strlen(doc), arr, 4, &off, &n), 0);
    ck_assert(strncmp(doc + off, "2", n) == 0);
}
END_TEST

START_TEST(escaped_keys_and_duplicates)
{
    const char *doc = "{\"quant\\u0069ty\": 5, \"k\\\"ey\": \"v}\\\"\", \"d\": 1, \"d\": 2}";
    cs_jsonscan_step p1[] = {{"quantity", 0}};
    cs_jsonscan_step p2[] = {{"k\"ey", 0}};
    cs_jsonscan_step p3[] = {{"d", 0}};
    size_t off, n;
    ck_assert_int_eq(cs_jsonscan_find(doc, strlen(doc), p1, 1, &off, &n), 0);
    ck_assert(strncmp(doc + off, "5", n) == 0);
    ck_assert_int_eq(cs_jsonscan_find(doc, strlen(doc), p2, 1, &off, &n), 0);
    ck_assert(strncmp(doc + off, "\"v}\\\"\"", n) == 0);
    ck_assert_int_eq(cs_jsonscan_find(doc, strlen(doc), p3, 1, &off, &n), 0);
    ck_assert(strncmp(doc + off, "2", n) == 0); /* last wins */
}
END_TEST

START_TEST(line_and_column)
{
    const char *doc = "{\n  \"a\": {\n    \"b\": true\n  }\n}";
    cs_jsonscan_step p[] = {{"a", 0}, {"b", 0}};
    size_t off, n;
    int line, col;
    ck_assert_int_eq(cs_jsonscan_find(doc, strlen(doc), p, 2, &off, &n), 0);
    cs_jsonscan_linecol(doc, strlen(doc), off, &line, &col);
    ck_assert_int_eq(line, 3);
    ck_assert_int_eq(col, 10);
}
END_TEST

static uint64_t seed = 88172645463325252ULL;
static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static json_t *random_value(int depth)
{
    static const char *const words[] = {"a", "quantity", "k\"q", "back\\slash", "uni\xc3\xa9",
                                        "tab\t", "x,y", "{", "]"};
    unsigned k = (unsigned)(rnd() % (depth > 3 ? 5 : 7));
    switch (k) {
    case 0: return json_integer((json_int_t)(rnd() % 2000000) - 1000000);
    case 1: return json_real((double)(rnd() % 100000) / 64.0);
    case 2: return json_string(words[rnd() % 9]);
    case 3: return rnd() & 1 ? json_true() : json_null();
    case 4: return json_false();
    case 5: {
        json_t *o = json_object();
        int n = (int)(rnd() % 5);
        for (int i = 0; i < n; i++)
            json_object_set_new(o, words[rnd() % 9], random_value(depth + 1));
        return o;
    }
    default: {
        json_t *a = json_array();
        int n = (int)(rnd() % 5);
        for (int i = 0; i < n; i++)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    }
}

static int checked;

static void check_all_paths(const char *text, json_t *v, cs_jsonscan_step *path, size_t depth)
{
    size_t off, n;
    ck_assert_int_eq(cs_jsonscan_find(text, strlen(text), path, depth, &off, &n), 0);
    json_error_t e;
    json_t *got = json_loadb(text + off, n, JSON_DECODE_ANY, &e);
    ck_assert_msg(got != NULL, "span does not parse: %.*s", (int)n, text + off);
    ck_assert(json_equal(got, v));
    json_decref(got);
    checked++;
    if (depth >= 15)
        return;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) {
            path[depth] = (cs_jsonscan_step){k, 0};
            check_all_paths(text, c, path, depth + 1);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) {
            path[depth] = (cs_jsonscan_step){NULL, i};
            check_all_paths(text, c, path, depth + 1);
        }
    }
}

START_TEST(differential_fuzz_against_jansson)
{
    const size_t flags[] = {JSON_COMPACT, JSON_INDENT(2), JSON_INDENT(0), JSON_ENSURE_ASCII};
    for (int i = 0; i < 3000; i++) {
        json_t *doc = json_object();
        json_object_set_new(doc, "data", random_value(0));
        json_object_set_new(doc, "quantity", random_value(0));
        char *text = json_dumps(doc, flags[i % 4] | JSON_ENCODE_ANY);
        cs_jsonscan_step path[16];
        check_all_paths(text, doc, path, 0);
        free(text);
        json_decref(doc);
    }
    ck_assert_int_gt(checked, 10000);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("jsonscan");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, finds_raw_number_text);
    tcase_add_test(tc, escaped_keys_and_duplicates);
    tcase_add_test(tc, line_and_column);
    tcase_add_test(tc, differential_fuzz_against_jansson);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
