/* pricing.c - rule selection and the per-event cost formula (pricing.h). */
#include "pricing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *label_value(const cs_label *labels, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(labels[i].name, name) == 0)
            return labels[i].value;
    return "";
}

static bool matcher_holds(const cs_matcher *m, const cs_label *labels, size_t n)
{
    const char *v = label_value(labels, n, m->label);
    switch (m->op) {
    case CS_MATCH_EQ: return strcmp(v, m->value) == 0;
    case CS_MATCH_NE: return strcmp(v, m->value) != 0;
    /* anchored at compile time (rules.c): the match spans the whole value */
    case CS_MATCH_RE: return regexec(&m->re, v, 0, NULL, 0) == 0;
    case CS_MATCH_NRE: return regexec(&m->re, v, 0, NULL, 0) != 0;
    }
    return false;
}

static bool matchers_hold(const cs_rule *r, const cs_label *labels, size_t nlabels)
{
    for (size_t m = 0; m < r->nmatchers; m++)
        if (!matcher_holds(&r->matchers[m], labels, nlabels))
            return false;
    return true;
}

const cs_rule *cs_pricing_match(const cs_rules *rs, const char *product, const char *meter,
                                int64_t t, const cs_label *labels, size_t nlabels)
{
    for (size_t i = 0; i < rs->nrules; i++) {
        const cs_rule *r = &rs->rules[i];
        if (r->metric_kind != CS_METRIC_KIND_NONE || t < r->from_usec || t >= r->until_usec ||
            strcmp(r->meter, meter) != 0 || strcmp(r->product, product) != 0)
            continue;
        if (matchers_hold(r, labels, nlabels))
            return r;
    }
    return NULL;
}

const cs_rule *cs_pricing_match_metric(const cs_rules *rs, const char *name, int64_t t,
                                       const cs_label *labels, size_t nlabels)
{
    for (size_t i = 0; i < rs->nrules; i++) {
        const cs_rule *r = &rs->rules[i];
        if (r->metric_kind == CS_METRIC_KIND_NONE || t < r->from_usec || t >= r->until_usec)
            continue;
        bool named = false;
        for (size_t n = 0; !named && n < r->nmetric_names; n++)
            named = strcmp(r->metric_names[n], name) == 0;
        if (named && matchers_hold(r, labels, nlabels))
            return r;
    }
    return NULL;
}

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

bool cs_pricing_prices_metric(const cs_rules *rs, const char *name)
{
    return rs->nmetric_names &&
           bsearch(name, rs->metric_names, rs->nmetric_names, sizeof(*rs->metric_names),
                   cmp_key) != NULL;
}

int cs_pricing_cost(cs_dec quantity, cs_dec unit_price, cs_dec discount_rate, cs_price *ret)
{
    cs_price p = {.discount_rate = discount_rate};
    int r;
    if ((r = cs_dec_mul(quantity, unit_price, &p.list_cost)) < 0 ||
        (r = cs_dec_mul(p.list_cost, p.discount_rate, &p.discount)) < 0 ||
        (r = cs_dec_sub(p.list_cost, p.discount, &p.cost)) < 0)
        return r;
    *ret = p;
    return 0;
}

cs_dec cs_pricing_discount_rate(const cs_rules *rs, const cs_rule *rule, const char *plan)
{
    cs_dec rate = cs_rules_plan_discount(rs, plan);
    for (size_t i = 0; rule && plan && i < rule->ndiscounts; i++)
        if (strcmp(rule->discounts[i].plan, plan) == 0)
            rate = rule->discounts[i].discount;
    return rate;
}

int cs_pricing_price(const cs_rules *rs, const cs_rule *rule, const char *plan,
                     cs_dec quantity, cs_price *ret)
{
    cs_dec rate = cs_pricing_discount_rate(rs, rule, plan);
    int r = cs_pricing_cost(quantity, rule->unit_price, rate, ret);
    if (r == 0)
        ret->rule = rule;
    return r;
}
