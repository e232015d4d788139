/* Unit tests for src/pattern.c: the copies, empty-body loops and group
 * depth of regexes, worked out by hand from how regcomp() expands them, and
 * the bombs the fuzzer and these tests found refused while the patterns
 * rules use pass (and compile). */
#include <regex.h>
#include <string.h>

#include "pattern.h"
#include "unit.h"

#define OVER_COPIES (CS_PATTERN_MAX_COPIES + 1)
#define OVER_LOOPS (CS_PATTERN_MAX_LOOPS + 1)

START_TEST(costs_by_hand)
{
    char plus[40] = "k", deep[80] = "";
    memset(plus + 1, '+', 30);
    for (int i = 0; i < 33; i++)
        strcat(deep, "(");
    strcat(deep, "x");
    static const struct {
        const char *re;
        size_t copies, loops;
        int depth;
    } cases[] = {
        {"abc", 3, 0, 0},
        {"a+", 2, 0, 0},          /* "aa*" */
        {"a*", 1, 0, 0},          /* its body cannot match nothing */
        {"(a*)*", 2, 1, 1},       /* the group is a node too; its body can */
        {"(a+)*", 3, 0, 1},
        {"x{3}", 3, 0, 0},
        {"(ab){2,5}", 15, 0, 1},  /* 3 nodes, 5 copies */
        {"a{2,}", 3, 0, 0},       /* "aaa*" */
        {"(a|)*", 2, 1, 1},       /* an empty branch */
        {"(a|b)+", 6, 0, 1},
        {"((a|)*){20}", 60, OVER_LOOPS, 2},
        {"((x{99}){99}){99}", OVER_COPIES, 0, 2},
        {"[]a|(]+", 2, 0, 0},     /* one bracket expression, ']' a member */
        {"[[:alpha:]]{4}", 4, 0, 0},
        {"\\(a\\{9}", 5, 0, 0},   /* escaped: five literals */
        {"a{x}", 4, 0, 0},        /* not an interval */
        {"(((x)))", 4, 0, 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cs_pattern_cost c = cs_pattern_measure(cases[i].re);
        ck_assert_msg(c.copies == cases[i].copies && c.loops == cases[i].loops &&
                          c.depth == cases[i].depth,
                      "%s: copies %zu loops %zu depth %d", cases[i].re, c.copies, c.loops, c.depth);
    }
    ck_assert_int_eq((int)cs_pattern_measure(plus).copies, OVER_COPIES);
    ck_assert_int_eq(cs_pattern_measure(deep).depth, CS_PATTERN_MAX_DEPTH + 1);
}
END_TEST

START_TEST(refused_and_passed)
{
    char plus[40] = "k";
    memset(plus + 1, '+', 30);
    const char *refused[] = {plus, "((x{99}){99}){99}", "(a|b){5000}", "((a*)*){13}",
                             "(a*b*)*{20}", "((a|)*){20}", "(a*)*(b*)*(c*)*(d*)*(e*)*(f*)*(g*)*(h*)*(i*)*(j*)*(k*)*(l*)*(m*)*"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        ck_assert_msg(cs_pattern_too_costly(refused[i]) != NULL, "%s passed", refused[i]);
    const char *passed[] = {"eu-.*|us", "[a-z]{2}-[0-9]+", "prod-(web|api)-[0-9]{1,4}", "x{9999}",
                            "((a*)*){12}", "(a+)*{20}", "(y|){200}", "x)|(.*"};
    for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
        ck_assert_msg(cs_pattern_too_costly(passed[i]) == NULL, "%s: %s", passed[i],
                      cs_pattern_too_costly(passed[i]));
        regex_t re; /* and regcomp() takes it (or refuses it as malformed) */
        if (regcomp(&re, passed[i], REG_EXTENDED | REG_NOSUB) == 0)
            regfree(&re);
    }
}
END_TEST

/* The memory estimate against glibc's regcomp() as measured (pattern.h):
 * nested optional runs cost their square, plain copies do not; and the
 * file's budget adds patterns up, refusing every one past it. */
START_TEST(memory_estimate_and_budget)
{
    ck_assert_ptr_null(cs_pattern_too_costly("x{1,2500}"));  /* 51 MB measured */
    ck_assert_ptr_nonnull(cs_pattern_too_costly("x{1,9999}")); /* 790 MB */
    ck_assert_ptr_nonnull(cs_pattern_too_costly("(a{1,9999})"));
    ck_assert_ptr_nonnull(cs_pattern_too_costly("(a{0,1000}){10}")); /* 85 MB measured: ten runs of 1,000 */
    ck_assert_ptr_null(cs_pattern_too_costly("(a{0,1000}){5}"));
    size_t small = cs_pattern_measure("x{9999}").bytes, wide = cs_pattern_measure("x{1,2500}").bytes;
    ck_assert_uint_le(small, 4u << 20); /* 3.5 MB measured */
    ck_assert_uint_ge(wide, 46u << 20); /* within a tenth of it */
    ck_assert_uint_ge(cs_pattern_measure("(a{0,1000}){10}").bytes, 80u << 20);
    /* optional runs inside a group count once per copy of the group */
    ck_assert_uint_eq(cs_pattern_measure("(x{1,100}){3}").bytes - cs_pattern_measure("(x{1,100})").bytes,
                      2 * 99 * 99 * 8 + 400 * (cs_pattern_measure("(x{1,100}){3}").copies -
                                               cs_pattern_measure("(x{1,100})").copies));
    size_t budget = 0;
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_null(cs_pattern_charge(&budget, "x{1,2500}"));
    ck_assert_ptr_nonnull(cs_pattern_charge(&budget, "x{1,2500}"));
    ck_assert_ptr_nonnull(cs_pattern_charge(&budget, "a")); /* past the budget, stays past */
    budget = 0;
    for (int i = 0; i < 10000; i++) /* ten thousand ordinary patterns fit */
        ck_assert_ptr_null(cs_pattern_charge(&budget, "prod-(web|api)-[0-9]{1,4}"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, costs_by_hand);
    tcase_add_test(tc, refused_and_passed);
    tcase_add_test(tc, memory_estimate_and_budget);
    suite_add_tcase(s, tc);
    return s;
}
