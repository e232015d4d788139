/* Unit tests for src/rules.c: the shipped example loads; every kind of
 * problem is reported with the right line and column; several at once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pricing.h"
#include "rules.h"
#include "unit.h"

START_TEST(example_loads)
{
    cs_rules *rs;
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_rules_load(CS_SOURCE_ROOT "/rules/example.json", &rs, &errs), 0);
    ck_assert_int_eq((int)errs.n, 0);
    ck_assert_str_eq(rs->currency, "USD");
    ck_assert_int_eq((int)rs->nrules, 16);
    ck_assert_int_eq((int)rs->nplans, 3);
    char buf[CS_DEC_STRLEN];
    cs_dec_format(cs_rules_plan_discount(rs, "enterprise"), 2, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0.22");
    ck_assert(cs_dec_is_zero(cs_rules_plan_discount(rs, "no-such-plan")));
    cs_rules_free(rs);
    cs_errlist_free(&errs);
}
END_TEST

static int has(const cs_errlist *e, const char *needle)
{
    for (size_t i = 0; i < e->n; i++)
        if (strstr(e->items[i], needle))
            return 1;
    return 0;
}

START_TEST(errors_have_positions)
{
    const char *doc =
        "{\n"
        "  \"version\": \"v1\",\n"
        "  \"currency\": \"usd\",\n"
        "  \"plans\": {\"pro\": {\"discount\": \"1.5\"}},\n"
        "  \"rules\": [\n"
        "    {\"id\": \"a\", \"product\": \"p\", \"meter\": \"m\", \"unit\": \"u\", \"unit_price\": \"x\"},\n"
        "    {\"id\": \"a\", \"product\": \"p\", \"meter\": \"m\", \"unit\": \"u\", \"unit_price\": 0.5,\n"
        "     \"match\": [{\"label\": \"l\", \"op\": \"~\", \"value\": \"v\"}],\n"
        "     \"effective_from\": \"2026-12-01T00:00:00Z\", \"effective_until\": \"2026-11-01T00:00:00Z\",\n"
        "     \"colour\": \"blue\"}\n"
        "  ]\n"
        "}\n";
    cs_rules *rs;
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_rules_parse(doc, strlen(doc), "r.json", &rs, &errs), -EINVAL);
    ck_assert_ptr_null(rs);
    ck_assert(has(&errs, "r.json:3:15: currency: \"usd\" is not an ISO 4217 code"));
    ck_assert(has(&errs, "r.json:4:33: plans.pro.discount: a discount is a fraction between 0 and 1"));
    ck_assert(has(&errs, "r.json:6:74: rules[0].unit_price: \"x\" is not a decimal"));
    ck_assert(has(&errs, "r.json:7:12: rules[1].id: duplicate rule id \"a\""));
    ck_assert(has(&errs, "r.json:8:37: rules[1].match[0].op: \"~\" is not one of"));
    ck_assert(has(&errs, "r.json:9:67: rules[1].effective_until: must be later than effective_from"));
    ck_assert(has(&errs, "r.json:10:16: rules[1].colour: unknown field"));
    ck_assert_int_eq((int)errs.n, 7);
    cs_errlist_free(&errs);
}
END_TEST

/* The allocation section: pools, drivers and shared policies, loaded; and
 * each kind of mistake reported at its position. */
START_TEST(pools)
{
    const char *good =
        "{\"version\": \"p\", \"currency\": \"USD\",\n"
        " \"rules\": [{\"id\": \"cpu\", \"product\": \"sandbox\", \"meter\": \"cpu\", \"unit\": \"s\", \"unit_price\": \"1\"},\n"
        "           {\"id\": \"mem\", \"product\": \"sandbox\", \"meter\": \"mem\", \"unit\": \"s\", \"unit_price\": \"1\"}],\n"
        " \"allocation\": {\"pools\": [\n"
        "  {\"id\": \"compute\", \"select\": {\"ServiceName\": \"EC2\", \"Tags.cluster\": \"sandbox\"},\n"
        "   \"drivers\": [{\"product\": \"sandbox\", \"meter\": \"cpu\", \"weight\": \"0.6\"},\n"
        "               {\"product\": \"sandbox\", \"meter\": \"mem\", \"weight\": 0.4}]},\n"
        "  {\"id\": \"control\", \"select\": {\"ServiceCategory\": \"Management\"}, \"shared\": \"proportional\"},\n"
        "  {\"id\": \"support\", \"select\": {\"ServiceName\": \"Support\"}, \"shared\": {\"weights\": {\"acme\": \"2\", \"beta\": \"1\"}}}]}}";
    cs_rules *rs;
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_rules_parse(good, strlen(good), "g.json", &rs, &errs), 0);
    ck_assert_int_eq((int)rs->npools, 3);
    ck_assert(rs->pools[0].nselect == 2 && rs->pools[0].select[1].tag);
    ck_assert_str_eq(rs->pools[0].select[1].column, "cluster");
    ck_assert(rs->pools[0].ndrivers == 2 && rs->pools[0].shared == CS_POOL_DIRECT);
    ck_assert_int_eq(rs->pools[1].shared, CS_POOL_PROPORTIONAL);
    ck_assert(rs->pools[2].shared == CS_POOL_WEIGHTS && rs->pools[2].nweights == 2);
    cs_rules_free(rs);

    const char *bad =
        "{\"version\": \"p\", \"currency\": \"USD\",\n"
        " \"rules\": [{\"id\": \"cpu\", \"product\": \"sandbox\", \"meter\": \"cpu\", \"unit\": \"s\", \"unit_price\": \"1\"}],\n"
        " \"allocation\": {\"pools\": [\n"
        "  {\"id\": \"a\", \"select\": {\"Colour\": \"red\"}, \"drivers\": [{\"product\": \"sandbox\", \"meter\": \"gpu\"}]},\n"
        "  {\"id\": \"a\", \"select\": {\"ServiceName\": \"x\"}, \"drivers\": [{\"product\": \"sandbox\", \"meter\": \"cpu\", \"weight\": \"0.5\"},\n"
        "     {\"product\": \"sandbox\", \"meter\": \"cpu\", \"weight\": \"0.4\"}]},\n"
        "  {\"id\": \"b\", \"select\": {\"ServiceName\": \"y\"}, \"shared\": \"sometimes\"}]}}";
    ck_assert_int_eq(cs_rules_parse(bad, strlen(bad), "b.json", &rs, &errs), -EINVAL);
    ck_assert(has(&errs, "b.json:4:36: allocation.pools[0].select.Colour: \"Colour\" is not a FOCUS column"));
    ck_assert(has(&errs, "b.json:4:56: allocation.pools[0].drivers[0]: no rule prices product \"sandbox\" meter \"gpu\""));
    ck_assert(has(&errs, "b.json:5:10: allocation.pools[1].id: pool id \"a\" is used twice"));
    ck_assert(has(&errs, "b.json:5:58: allocation.pools[1].drivers: the drivers' weights add up to 0.900000000000, not 1"));
    ck_assert(has(&errs, "b.json:7:57: allocation.pools[2].shared: must be \"proportional\""));
    cs_errlist_free(&errs);
}
END_TEST

START_TEST(syntax_and_missing)
{
    cs_rules *rs;
    cs_errlist errs = {0};
    const char *bad = "{\n \"version\": \"v\",\n \"rules\": [}\n";
    ck_assert_int_eq(cs_rules_parse(bad, strlen(bad), "s.json", &rs, &errs), -EINVAL);
    ck_assert_int_eq((int)errs.n, 1);
    ck_assert_msg(strncmp(errs.items[0], "s.json:3:", 9) == 0, "%s", errs.items[0]);
    cs_errlist_free(&errs);
    const char *empty = "{\"version\": \"v\", \"currency\": \"EUR\"}";
    ck_assert_int_eq(cs_rules_parse(empty, strlen(empty), "e.json", &rs, &errs), -EINVAL);
    ck_assert(has(&errs, "e.json:1:1: rules: required field is missing"));
    cs_errlist_free(&errs);
    ck_assert_int_eq(cs_rules_load("/nonexistent/rules.json", &rs, &errs), -ENOENT);
    ck_assert(has(&errs, "/nonexistent/rules.json: cannot open"));
    cs_errlist_free(&errs);
}
END_TEST

START_TEST(regex_cannot_escape_anchoring)
{
    cs_rules *rs;
    cs_errlist errs = {0};
    const char *esc = "{\"version\": \"v\", \"currency\": \"USD\", \"rules\": [{\"id\": \"r\","
                      " \"product\": \"p\", \"meter\": \"m\", \"unit\": \"u\", \"unit_price\": \"1\","
                      " \"match\": [{\"label\": \"region\", \"op\": \"=~\", \"value\": \"x)|(.*\"}]}]}";
    ck_assert_int_eq(cs_rules_parse(esc, strlen(esc), "re.json", &rs, &errs), -EINVAL);
    ck_assert(has(&errs, "invalid regular expression"));
    cs_errlist_free(&errs);
    const char *ok = "{\"version\": \"v\", \"currency\": \"USD\", \"rules\": [{\"id\": \"r\","
                     " \"product\": \"p\", \"meter\": \"m\", \"unit\": \"u\", \"unit_price\": \"1\","
                     " \"match\": [{\"label\": \"region\", \"op\": \"=~\", \"value\": \"eu-.*|us\"}]}]}";
    ck_assert_int_eq(cs_rules_parse(ok, strlen(ok), "re.json", &rs, &errs), 0);
    const char *vals[] = {"eu-west", "us", "xeu-west", "usa", "us-east"};
    const int want[] = {1, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        cs_label l = {"region", vals[i]};
        ck_assert_msg((cs_pricing_match(rs, "p", "m", 0, &l, 1) != NULL) == want[i], "%s", vals[i]);
    }
    cs_rules_free(rs);
    /* a file that never ends, or a directory, is refused with a message */
    ck_assert_int_eq(cs_rules_load("/dev/zero", &rs, &errs), -EFBIG);
    ck_assert(has(&errs, "/dev/zero: larger than"));
    cs_errlist_free(&errs);
    ck_assert_int_eq(cs_rules_load("/tmp", &rs, &errs), -EISDIR);
    ck_assert(has(&errs, "/tmp: is a directory"));
    cs_errlist_free(&errs);
}
END_TEST

/* One rule matching its label by pattern (a JSON string's text). */
static int parse_pattern(const char *pattern, cs_rules **ret, cs_errlist *errs)
{
    char doc[32768];
    snprintf(doc, sizeof(doc),
             "{\"version\": \"v\", \"currency\": \"USD\", \"rules\": [{\"id\": \"r\","
             " \"product\": \"p\", \"meter\": \"m\", \"unit\": \"u\", \"unit_price\": \"1\",\n"
             " \"match\": [{\"label\": \"pod\", \"op\": \"=~\", \"value\": \"%s\"}]}]}",
             pattern);
    return cs_rules_parse(doc, strlen(doc), "bomb.json", ret, errs);
}

/* Patterns glibc's regcomp() would take gigabytes or minutes over (the
 * fuzzer's finding: "k" and thirty "+"; src/pattern.h) are refused at
 * their line; patterns real rules use still load and match, including a
 * repetition of 9,999 copies. */
START_TEST(regex_bombs_refused)
{
    char plus[64] = "k", wide[32];
    memset(plus + 1, '+', 30);
    const char *bombs[] = {plus, "((x{99}){99}){99}", "((a*)*){25}",
                           "((((((((((((((((((((((((((((((((((x))))))))))))))))))))))))))))))))))"};
    for (size_t i = 0; i < sizeof(bombs) / sizeof(bombs[0]); i++) {
        cs_rules *rs = NULL;
        cs_errlist errs = {0};
        ck_assert_int_eq(parse_pattern(bombs[i], &rs, &errs), -EINVAL);
        ck_assert_msg(has(&errs, "bomb.json:2:") && has(&errs, "regular expression too costly to compile"),
                      "%s: %s", bombs[i], errs.n ? errs.items[0] : "no error");
        cs_errlist_free(&errs);
    }
    snprintf(wide, sizeof(wide), "x{%d}", 9999);
    const char *fine[] = {"[a-z]{2}-[0-9]+", "eu-.*|us", "a+b+c+", "(ab){2,50}", "[]{}+]{3}", "x\\\\{99999}", wide};
    const char *values[] = {"eu-7", "us", "abbc", "ababab", "}}+", "x{99999}", NULL};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        cs_rules *rs = NULL;
        cs_errlist errs = {0};
        ck_assert_msg(parse_pattern(fine[i], &rs, &errs) == 0, "%s: %s", fine[i],
                      errs.n ? errs.items[0] : "");
        if (values[i]) {
            cs_label l = {"pod", values[i]};
            ck_assert_msg(cs_pricing_match(rs, "p", "m", 0, &l, 1) != NULL, "%s ~ %s", values[i], fine[i]);
        }
        cs_rules_free(rs);
    }
}
END_TEST

/* The regex budget covers the whole file: four patterns of
 * "(a{1,9999})" (issue 21: 3.1 GB and 7.2 s together) are each refused,
 * and of six patterns of "x{1,2500}" (about 51 MB each) the sixth is
 * refused at its own line, for the file's 256 MB, before any is compiled
 * (the test takes milliseconds: compiling the five took 10 s under
 * MALLOC_PERTURB_, and timed out in CI). */
START_TEST(regex_budget_per_file)
{
    char doc[8192];
    size_t o = 0;
    cs_rules *rs = NULL;
    cs_errlist errs = {0};
    o += (size_t)snprintf(doc + o, sizeof(doc) - o,
                          "{\"version\": \"v\", \"currency\": \"USD\", \"rules\": [\n");
    for (int i = 0; i < 6; i++)
        o += (size_t)snprintf(doc + o, sizeof(doc) - o,
                              "%s{\"id\": \"r%d\", \"product\": \"p\", \"meter\": \"m%d\","
                              " \"unit\": \"u\", \"unit_price\": \"1\", \"match\": [{\"label\":"
                              " \"pod\", \"op\": \"=~\", \"value\": \"x{1,2500}\"}]}\n",
                              i ? "," : "", i, i);
    snprintf(doc + o, sizeof(doc) - o, "]}");
    ck_assert_int_eq(cs_rules_parse(doc, strlen(doc), "many.json", &rs, &errs), -EINVAL);
    ck_assert_int_eq((int)errs.n, 1);
    ck_assert_msg(has(&errs, "many.json:7:") && has(&errs, "together would take regcomp() more than 256 MB"),
                  "%s", errs.items[0]);
    cs_errlist_free(&errs);
    ck_assert_int_eq(parse_pattern("(a{1,9999})", &rs, &errs), -EINVAL);
    ck_assert(has(&errs, "bomb.json:2:") && has(&errs, "more than 64 MB"));
    cs_errlist_free(&errs);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, example_loads);
    tcase_add_test(tc, errors_have_positions);
    tcase_add_test(tc, syntax_and_missing);
    tcase_add_test(tc, pools);
    tcase_add_test(tc, regex_cannot_escape_anchoring);
    tcase_add_test(tc, regex_bombs_refused);
    tcase_add_test(tc, regex_budget_per_file);
    suite_add_tcase(s, tc);
    return s;
}
