/* Unit tests for src/pricing.c against rules/example.json: rule order,
 * label matchers, effective dating, plan discounts and per-rule overrides.
 * Expected costs are worked out by hand in the comments. */
#include <string.h>

#include "pricing.h"
#include "timestamp.h"
#include "unit.h"

static cs_rules *rs;

static void setup(void)
{
    cs_errlist errs = {0};
    ck_assert_int_eq(cs_rules_load(CS_SOURCE_ROOT "/rules/example.json", &rs, &errs), 0);
}

static void teardown(void)
{
    cs_rules_free(rs);
}

static int64_t T(const char *s)
{
    int64_t t;
    ck_assert_int_eq(cs_timestamp_parse(s, strlen(s), &t), 0);
    return t;
}

static const char *id_for(const char *product, const char *meter, const char *time,
                          const char *lname, const char *lvalue)
{
    cs_label l = {lname, lvalue};
    const cs_rule *r = cs_pricing_match(rs, product, meter, T(time), &l, lname ? 1 : 0);
    return r ? r->id : "(none)";
}

START_TEST(selection)
{
    ck_assert_str_eq(id_for("agent-orchestration", "llm_tokens", "2026-11-14T23:59:59Z", "model", "large"), "llm-tokens-large-oct");
    ck_assert_str_eq(id_for("agent-orchestration", "llm_tokens", "2026-11-15T00:00:00Z", "model", "large"), "llm-tokens-large");
    ck_assert_str_eq(id_for("agent-orchestration", "llm_tokens", "2026-11-15T00:00:00Z", "model", "small"), "llm-tokens-small");
    ck_assert_str_eq(id_for("agent-orchestration", "llm_tokens", "2026-11-15T00:00:00Z", NULL, NULL), "llm-tokens-small");
    ck_assert_str_eq(id_for("sandbox-execution", "cpu_seconds", "2026-11-03T00:00:00Z", "tier", "gpu-a100"), "sandbox-cpu-gpu");
    ck_assert_str_eq(id_for("sandbox-execution", "cpu_seconds", "2026-11-03T00:00:00Z", "tier", "a-gpu"), "sandbox-cpu"); /* anchored */
    ck_assert_str_eq(id_for("sandbox-execution", "cpu_seconds", "2026-11-03T00:00:00Z", NULL, NULL), "sandbox-cpu");
    ck_assert_str_eq(id_for("sandbox-execution", "teleport", "2026-11-03T00:00:00Z", NULL, NULL), "(none)");
    ck_assert_str_eq(id_for("api-gateway", "cpu_seconds", "2026-11-03T00:00:00Z", NULL, NULL), "(none)");
}
END_TEST

static void check_price(const char *rule_id, const char *plan, const char *qty, const char *list,
                        const char *discount, const char *cost)
{
    const cs_rule *rule = NULL;
    for (size_t i = 0; i < rs->nrules; i++)
        if (strcmp(rs->rules[i].id, rule_id) == 0)
            rule = &rs->rules[i];
    ck_assert_ptr_nonnull(rule);
    cs_dec q;
    ck_assert_int_eq(cs_dec_parse(qty, strlen(qty), &q), 0);
    cs_price p;
    ck_assert_int_eq(cs_pricing_price(rs, rule, plan, q, &p), 0);
    char b[3][CS_DEC_STRLEN];
    cs_dec_format(p.list_cost, 12, b[0], sizeof(b[0]));
    cs_dec_format(p.discount, 12, b[1], sizeof(b[1]));
    cs_dec_format(p.cost, 12, b[2], sizeof(b[2]));
    ck_assert_str_eq(b[0], list);
    ck_assert_str_eq(b[1], discount);
    ck_assert_str_eq(b[2], cost);
}

START_TEST(costs)
{
    /* 1000 tokens x 0.000012 = 0.012; enterprise override 30 % = 0.0036 */
    check_price("llm-tokens-large", "enterprise", "1000", "0.012000000000", "0.003600000000", "0.008400000000");
    /* pro: plan default 10 % */
    check_price("llm-tokens-large", "pro", "1000", "0.012000000000", "0.001200000000", "0.010800000000");
    /* unknown plan: no discount */
    check_price("agent-runs", "unknown", "3", "0.045000000000", "0.000000000000", "0.045000000000");
    /* 7 bytes x 0.00000000009 = 0.00000000063 exactly */
    check_price("api-egress", "free", "7", "0.000000000630", "0.000000000000", "0.000000000630");
    /* 0.001 cpu-seconds x 0.000024 = 2.4e-8; enterprise 22 % of it = 5.28e-9 */
    check_price("sandbox-cpu", "enterprise", "0.001", "0.000000024000", "0.000000005280", "0.000000018720");
    /* half-even at 12 places: 1 byte x 9e-11 x 22 % = 1.98e-11 → 0.000000000020 */
    check_price("api-egress", "enterprise", "1", "0.000000000090", "0.000000000020", "0.000000000070");
}
END_TEST

/* The metric names any rule prices, found by binary search. */
START_TEST(priced_metric_names)
{
    size_t named = 0;
    for (size_t i = 0; i < rs->nrules; i++)
        for (size_t m = 0; m < rs->rules[i].nmetric_names; m++) {
            ck_assert(cs_pricing_prices_metric(rs, rs->rules[i].metric_names[m]));
            named++;
        }
    ck_assert_uint_gt(named, 0);
    ck_assert(!cs_pricing_prices_metric(rs, "node_load1"));
    ck_assert(!cs_pricing_prices_metric(rs, ""));
    ck_assert(!cs_pricing_prices_metric(rs, "container_cpu_usage_seconds_totals"));
    for (size_t i = 1; i < rs->nmetric_names; i++)
        ck_assert_int_lt(strcmp(rs->metric_names[i - 1], rs->metric_names[i]), 0);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("pricing");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, selection);
    tcase_add_test(tc, costs);
    tcase_add_test(tc, priced_metric_names);
    suite_add_tcase(s, tc);
    return s;
}
