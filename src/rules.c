/* rules.c - loading and validating pricing rules (see rules.h).
 *
 * jansson parses the document; the validator then walks it field by field,
 * keeping the current JSON path so that each problem can be placed at a line
 * and column with jsonscan (jansson keeps no positions).  Validation goes on
 * after a problem so that one run of `costream rules check` lists them all.
 * The constraints here are the ones schemas/rules.schema.json states; the
 * unit tests load rules/example.json through both.
 */
#include "rules.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "file.h"
#include "focus.h"
#include "jsonscan.h"
#include "pattern.h"
#include "rules_internal.h"
#include "timestamp.h"
#include "utf8.h"



void cs_errlist_addf(cs_errlist *l, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    if (cs_array_reserve(&l->items, &l->cap, l->n + 1, sizeof(*l->items)) < 0)
        return;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s && !cs_utf8_valid(s, strlen(s))) { /* messages quote the input */
        size_t n = strlen(s);
        char *fixed = malloc(4 * n + 1);
        if (fixed)
            cs_utf8_escape(fixed, 4 * n + 1, s, n, NULL);
        free(s);
        s = fixed;
    }
    if (s)
        l->items[l->n++] = s;
}

void cs_errlist_free(cs_errlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

typedef cs__rules_ctx ctx;

void cs__rules_push_key(ctx *c, const char *key)
{
    c->path[c->depth++] = (cs_jsonscan_step){key, 0};
}

void cs__rules_push_index(ctx *c, size_t i)
{
    c->path[c->depth++] = (cs_jsonscan_step){NULL, i};
}

void cs__rules_pop(ctx *c)
{
    c->depth--;
}

/* Reports a problem at the current path, or at the nearest enclosing value
 * that exists in the text. */
void cs__rules_err_here(ctx *c, const char *fmt, ...)
{
    char msg[512], where[256] = "";
    size_t off = 0, n, w = 0;
    int line = 1, col = 1;
    va_list ap;

    for (size_t d = c->depth + 1; d-- > 0;) {
        if (cs_jsonscan_find(c->text, c->len, c->path, d, &off, &n) == 0)
            break;
        off = 0;
    }
    cs_jsonscan_linecol(c->text, c->len, off, &line, &col);
    for (size_t d = 0; d < c->depth && w < sizeof(where) - 1; d++) {
        int k;
        if (c->path[d].key)
            k = snprintf(where + w, sizeof(where) - w, "%s%s", d ? "." : "", c->path[d].key);
        else
            k = snprintf(where + w, sizeof(where) - w, "[%zu]", c->path[d].index);
        if (k < 0)
            break;
        w += (size_t)k;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cs_errlist_addf(c->errs, "%s:%d:%d: %s%s%s", c->name, line, col, where, *where ? ": " : "",
                    msg);
    c->nerr++;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Reads a required or optional string member; NULL when absent or wrong. */
const char *cs__rules_get_string(ctx *c, json_t *obj, const char *key, bool required)
{
    json_t *v = json_object_get(obj, key);
    cs__rules_push_key(c, key);
    const char *s = NULL;
    if (!v) {
        if (required)
            cs__rules_err_here(c, "required field is missing");
    } else if (!json_is_string(v) || json_string_length(v) == 0) {
        cs__rules_err_here(c, "must be a non-empty string");
    } else {
        s = json_string_value(v);
    }
    cs__rules_pop(c);
    return s;
}

/* Reads a decimal member given as a string or a JSON number, exactly. */
bool cs__rules_get_decimal(ctx *c, json_t *obj, const char *key, bool required, cs_dec *ret)
{
    json_t *v = json_object_get(obj, key);
    bool ok = false;
    cs__rules_push_key(c, key);
    if (!v) {
        if (required)
            cs__rules_err_here(c, "required field is missing");
    } else if (json_is_string(v)) {
        if (cs_dec_parse(json_string_value(v), json_string_length(v), ret) == 0)
            ok = true;
        else
            cs__rules_err_here(c, "\"%s\" is not a decimal with at most 12 decimal places",
                     json_string_value(v));
    } else if (json_is_number(v)) {
        size_t off, n;
        if (cs_jsonscan_find(c->text, c->len, c->path, c->depth, &off, &n) == 0 &&
            cs_dec_parse(c->text + off, n, ret) == 0)
            ok = true;
        else
            cs__rules_err_here(c, "not a decimal with at most 12 decimal places");
    } else {
        cs__rules_err_here(c, "must be a decimal string such as \"0.0025\"");
    }
    cs__rules_pop(c);
    return ok;
}

static bool get_time(ctx *c, json_t *obj, const char *key, int64_t dflt, int64_t *ret)
{
    const char *s;
    *ret = dflt;
    if (!json_object_get(obj, key))
        return true;
    s = cs__rules_get_string(c, obj, key, true);
    if (!s)
        return false;
    cs__rules_push_key(c, key);
    bool ok = cs_timestamp_parse(s, strlen(s), ret) == 0;
    if (!ok)
        cs__rules_err_here(c, "\"%s\" is not an RFC 3339 date-time such as 2026-11-01T00:00:00Z", s);
    cs__rules_pop(c);
    return ok;
}

static bool check_fraction(ctx *c, cs_dec d)
{
    if (cs_dec_is_neg(d) || cs_dec_cmp(d, cs_dec_from_int(1)) > 0) {
        cs__rules_err_here(c, "a discount is a fraction between 0 and 1");
        return false;
    }
    return true;
}

/* Parses {"plan": {"discount": "0.1"}} (plans) or {"plan": "0.1"}
 * (a rule's discounts). */
static void parse_discounts(ctx *c, json_t *obj, const char *key, bool nested,
                            cs_plan_discount **ret, size_t *ret_n)
{
    json_t *m = json_object_get(obj, key);
    *ret = NULL;
    *ret_n = 0;
    if (!m)
        return;
    cs__rules_push_key(c, key);
    if (!json_is_object(m)) {
        cs__rules_err_here(c, "must be an object keyed by plan name");
        cs__rules_pop(c);
        return;
    }
    *ret = calloc(json_object_size(m) + 1, sizeof(**ret));
    const char *plan;
    json_t *v;
    json_object_foreach(m, plan, v) {
        cs_dec d;
        bool ok;
        if (nested) {
            cs__rules_push_key(c, plan);
            if (!json_is_object(v)) {
                cs__rules_err_here(c, "must be an object such as {\"discount\": \"0.10\"}");
                cs__rules_pop(c);
                continue;
            }
            ok = cs__rules_get_decimal(c, v, "discount", true, &d);
            if (ok) {
                cs__rules_push_key(c, "discount");
                ok = check_fraction(c, d);
                cs__rules_pop(c);
            }
            cs__rules_pop(c);
        } else {
            ok = cs__rules_get_decimal(c, m, plan, true, &d);
            if (ok) {
                cs__rules_push_key(c, plan);
                ok = check_fraction(c, d);
                cs__rules_pop(c);
            }
        }
        if (ok && *ret) {
            (*ret)[*ret_n].plan = strdup(plan);
            (*ret)[*ret_n].discount = d;
            (*ret_n)++;
        }
    }
    cs__rules_pop(c);
}

/* Before any regex is compiled: charges every pattern of the file to the
 * file's budget (pattern.h) and says at the pattern that passes it, and
 * each after, why.  Past the budget nothing is compiled at all: the file is
 * refused anyway, and compiling it would cost what the budget prevents. */
static void charge_patterns(ctx *c, json_t *rules)
{
    size_t i, j;
    json_t *jr, *m;
    cs__rules_push_key(c, "rules");
    json_array_foreach(rules, i, jr) {
        json_t *ms = json_object_get(jr, "match");
        cs__rules_push_index(c, i);
        cs__rules_push_key(c, "match");
        json_array_foreach(ms, j, m) {
            const char *op = json_string_value(json_object_get(m, "op"));
            const char *value = json_string_value(json_object_get(m, "value"));
            if (!op || (strcmp(op, "=~") != 0 && strcmp(op, "!~") != 0) || !value ||
                cs_pattern_too_costly(value)) /* refused on its own below */
                continue;
            const char *why = cs_pattern_charge(&c->regex_bytes, value);
            if (why) {
                cs__rules_push_index(c, j);
                cs__rules_push_key(c, "value");
                cs__rules_err_here(c, "regular expression too costly to compile: %s", why);
                cs__rules_pop(c);
                cs__rules_pop(c);
                c->regex_over_budget = true;
            }
        }
        cs__rules_pop(c);
        cs__rules_pop(c);
    }
    cs__rules_pop(c);
}

static void parse_matchers(ctx *c, json_t *rule, cs_rule *r)
{
    json_t *m = json_object_get(rule, "match");
    if (!m)
        return;
    cs__rules_push_key(c, "match");
    if (!json_is_array(m)) {
        cs__rules_err_here(c, "must be an array of {\"label\", \"op\", \"value\"}");
        cs__rules_pop(c);
        return;
    }
    r->matchers = calloc(json_array_size(m) + 1, sizeof(*r->matchers));
    size_t i;
    json_t *v;
    json_array_foreach(m, i, v) {
        cs__rules_push_index(c, i);
        if (!json_is_object(v)) {
            cs__rules_err_here(c, "must be an object {\"label\", \"op\", \"value\"}");
            cs__rules_pop(c);
            continue;
        }
        const char *label = cs__rules_get_string(c, v, "label", true);
        const char *op = cs__rules_get_string(c, v, "op", false);
        const char *value = NULL;
        json_t *jv = json_object_get(v, "value");
        cs__rules_push_key(c, "value");
        if (!jv)
            cs__rules_err_here(c, "required field is missing");
        else if (!json_is_string(jv))
            cs__rules_err_here(c, "must be a string");
        else
            value = json_string_value(jv);
        cs__rules_pop(c);
        cs_match_op mop = CS_MATCH_EQ;
        if (op) {
            if (strcmp(op, "=") == 0)
                mop = CS_MATCH_EQ;
            else if (strcmp(op, "!=") == 0)
                mop = CS_MATCH_NE;
            else if (strcmp(op, "=~") == 0)
                mop = CS_MATCH_RE;
            else if (strcmp(op, "!~") == 0)
                mop = CS_MATCH_NRE;
            else {
                cs__rules_push_key(c, "op");
                cs__rules_err_here(c, "\"%s\" is not one of =, !=, =~, !~", op);
                cs__rules_pop(c);
                label = NULL;
            }
        }
        if (label && value && r->matchers) {
            cs_matcher *mt = &r->matchers[r->nmatchers];
            if (mop == CS_MATCH_RE || mop == CS_MATCH_NRE) {
                /* the pattern must be a regex on its own (its groups balanced),
                 * so that wrapping it in ^( )$ anchors it: "x)|(.*" cannot
                 * close the group and escape */
                regex_t alone;
                const char *why = cs_pattern_too_costly(value);
                if (why || c->regex_over_budget) {
                    if (!why) { /* said by charge_patterns() */
                        cs__rules_pop(c);
                        continue;
                    }
                    cs__rules_push_key(c, "value");
                    cs__rules_err_here(c, "regular expression too costly to compile: %s", why);
                    cs__rules_pop(c);
                    cs__rules_pop(c);
                    continue;
                }
                int rc = regcomp(&alone, value, REG_EXTENDED | REG_NOSUB);
                if (rc == 0) {
                    regfree(&alone);
                    char *anchored = NULL;
                    if (asprintf(&anchored, "^(%s)$", value) < 0)
                        anchored = NULL;
                    rc = anchored ? regcomp(&mt->re, anchored, REG_EXTENDED | REG_NOSUB) : REG_ESPACE;
                    free(anchored);
                }
                if (rc != 0) {
                    char buf[128];
                    regerror(rc, NULL, buf, sizeof(buf));
                    cs__rules_push_key(c, "value");
                    cs__rules_err_here(c, "invalid regular expression: %s", buf);
                    cs__rules_pop(c);
                    cs__rules_pop(c);
                    continue;
                }
            }
            mt->label = strdup(label);
            mt->value = strdup(value);
            mt->op = mop;
            r->nmatchers++;
        }
        cs__rules_pop(c);
    }
    cs__rules_pop(c);
}

/* Parses a rule's "metric" object. */
static void parse_metric(ctx *c, json_t *jr, cs_rule *r)
{
    json_t *m = json_object_get(jr, "metric");
    if (!m)
        return;
    cs__rules_push_key(c, "metric");
    if (!json_is_object(m)) {
        cs__rules_err_here(c, "must be an object {\"names\", \"kind\", \"unit_divisor\"}");
        cs__rules_pop(c);
        return;
    }
    const char *kind = cs__rules_get_string(c, m, "kind", true);
    if (kind && strcmp(kind, "counter") == 0)
        r->metric_kind = CS_METRIC_KIND_COUNTER;
    else if (kind && strcmp(kind, "gauge") == 0)
        r->metric_kind = CS_METRIC_KIND_GAUGE;
    else if (kind) {
        cs__rules_push_key(c, "kind");
        cs__rules_err_here(c, "\"%s\" is not counter or gauge", kind);
        cs__rules_pop(c);
    }
    json_t *names = json_object_get(m, "names");
    cs__rules_push_key(c, "names");
    if (!json_is_array(names) || json_array_size(names) == 0) {
        cs__rules_err_here(c, names ? "must be a non-empty array of metric names" : "required field is missing");
    } else {
        r->metric_names = calloc(json_array_size(names), sizeof(char *));
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) {
            if (!json_is_string(v) || json_string_length(v) == 0) {
                cs__rules_push_index(c, i);
                cs__rules_err_here(c, "must be a metric name");
                cs__rules_pop(c);
            } else if (r->metric_names) {
                r->metric_names[r->nmetric_names++] = strdup(json_string_value(v));
            }
        }
    }
    cs__rules_pop(c);
    static const struct { const char *key; int64_t dflt, min, max, scale; } ints[] = {
        {"unit_divisor", 1, 1, INT64_C(1000000000000000), 1},
        {"max_gap_seconds", 600, 1, 86400 * 366, 1000000},
    };
    for (size_t k = 0; k < 2; k++) {
        json_t *v = json_object_get(m, ints[k].key);
        int64_t val = ints[k].dflt;
        if (v) {
            cs__rules_push_key(c, ints[k].key);
            if (!json_is_integer(v) || json_integer_value(v) < ints[k].min ||
                json_integer_value(v) > ints[k].max)
                cs__rules_err_here(c, "must be a whole number from %lld to %lld", (long long)ints[k].min,
                         (long long)ints[k].max);
            else
                val = json_integer_value(v);
            cs__rules_pop(c);
        }
        if (k == 0)
            r->unit_divisor = val;
        else
            r->max_gap_usec = val * ints[k].scale;
    }
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) {
        if (strcmp(key, "names") && strcmp(key, "kind") && strcmp(key, "unit_divisor") &&
            strcmp(key, "max_gap_seconds")) {
            cs__rules_push_key(c, key);
            cs__rules_err_here(c, "unknown field");
            cs__rules_pop(c);
        }
    }
    cs__rules_pop(c);
}

static void parse_rule(ctx *c, json_t *jr, cs_rule *r, cs_rules *all, size_t idx)
{
    if (!json_is_object(jr)) {
        cs__rules_err_here(c, "a rule must be an object");
        return;
    }
    const char *id = cs__rules_get_string(c, jr, "id", true);
    r->id = xstrdup(id);
    r->product = xstrdup(cs__rules_get_string(c, jr, "product", true));
    r->meter = xstrdup(cs__rules_get_string(c, jr, "meter", true));
    r->unit = xstrdup(cs__rules_get_string(c, jr, "unit", true));
    r->description = xstrdup(cs__rules_get_string(c, jr, "description", false));
    if (cs__rules_get_decimal(c, jr, "unit_price", true, &r->unit_price) &&
        cs_dec_is_neg(r->unit_price)) {
        cs__rules_push_key(c, "unit_price");
        cs__rules_err_here(c, "must not be negative");
        cs__rules_pop(c);
    }
    get_time(c, jr, "effective_from", INT64_MIN, &r->from_usec);
    get_time(c, jr, "effective_until", INT64_MAX, &r->until_usec);
    if (r->from_usec >= r->until_usec) {
        cs__rules_push_key(c, "effective_until");
        cs__rules_err_here(c, "must be later than effective_from");
        cs__rules_pop(c);
    }
    parse_matchers(c, jr, r);
    parse_discounts(c, jr, "discounts", false, &r->discounts, &r->ndiscounts);
    parse_metric(c, jr, r);
    for (size_t k = 0; id && k < idx; k++) {
        if (all->rules[k].id && strcmp(all->rules[k].id, id) == 0) {
            cs__rules_push_key(c, "id");
            cs__rules_err_here(c, "duplicate rule id \"%s\" (also rules[%zu])", id, k);
            cs__rules_pop(c);
        }
    }
    static const char *const known[] = {"id", "product", "meter", "unit", "description",
                                        "unit_price", "effective_from", "effective_until",
                                        "match", "discounts", "metric", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(jr, k, v) {
        bool ok = false;
        for (size_t j = 0; known[j]; j++)
            ok = ok || strcmp(k, known[j]) == 0;
        if (!ok) {
            cs__rules_push_key(c, k);
            cs__rules_err_here(c, "unknown field");
            cs__rules_pop(c);
        }
    }
}

/* "products": {"<product>": {"service_category": ..., "service_subcategory": ...}} */
static void parse_product(cs__rules_ctx *c, const char *name, json_t *o, cs_product_meta *ret)
{
    cs__rules_push_key(c, name);
    if (!json_is_object(o)) {
        cs__rules_err_here(c, "must be an object with service_category and service_subcategory");
        cs__rules_pop(c);
        return;
    }
    const char *cat = cs__rules_get_string(c, o, "service_category", true);
    const char *subc = cs__rules_get_string(c, o, "service_subcategory", false);
    if (cat && !cs_focus_service_category_valid(cat)) {
        cs__rules_push_key(c, "service_category");
        cs__rules_err_here(c, "\"%s\" is not a FOCUS ServiceCategory (Compute, Databases,"
                              " Networking, Storage, AI and Machine Learning, ..., Other)", cat);
        cs__rules_pop(c);
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (strcmp(k, "service_category") && strcmp(k, "service_subcategory")) {
            cs__rules_push_key(c, k);
            cs__rules_err_here(c, "unknown field");
            cs__rules_pop(c);
        }
    }
    if (cat && subc && cs_focus_service_category_valid(cat) && !cs_focus_subcategory_valid(cat, subc)) {
        cs__rules_push_key(c, "service_subcategory");
        cs__rules_err_here(c, "\"%s\" is not a FOCUS ServiceSubcategory of %s (e.g. \"Other (%s)\")",
                           subc, cat, cat);
        cs__rules_pop(c);
    }
    char other[64];
    snprintf(other, sizeof(other), "Other (%s)", cat ? cat : "Other");
    *ret = (cs_product_meta){xstrdup(name), xstrdup(cat ? cat : "Other"),
                             xstrdup(subc ? subc : other)};
    cs__rules_pop(c);
}

static void parse_products(cs__rules_ctx *c, json_t *root, cs_rules *rs)
{
    json_t *ps = json_object_get(root, "products");
    if (!ps)
        return;
    cs__rules_push_key(c, "products");
    if (!json_is_object(ps)) {
        cs__rules_err_here(c, "must be an object of product names");
    } else if ((rs->products = calloc(json_object_size(ps) + 1, sizeof(*rs->products)))) {
        const char *k;
        json_t *v;
        json_object_foreach(ps, k, v)
            parse_product(c, k, v, &rs->products[rs->nproducts++]);
    }
    cs__rules_pop(c);
}

const cs_product_meta *cs_rules_product(const cs_rules *rs, const char *product)
{
    for (size_t i = 0; rs && product && i < rs->nproducts; i++)
        if (rs->products[i].name && strcmp(rs->products[i].name, product) == 0)
            return &rs->products[i];
    return NULL;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fills rs->metric_names: what cs_pricing_prices_metric() searches. */
static int index_metric_names(cs_rules *rs)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->nrules; i++)
        n += rs->rules[i].nmetric_names;
    rs->metric_names = calloc(n + 1, sizeof(*rs->metric_names));
    if (!rs->metric_names)
        return -ENOMEM;
    for (size_t i = 0; i < rs->nrules; i++)
        for (size_t m = 0; m < rs->rules[i].nmetric_names; m++)
            rs->metric_names[rs->nmetric_names++] = rs->rules[i].metric_names[m];
    qsort(rs->metric_names, rs->nmetric_names, sizeof(*rs->metric_names), cmp_name);
    size_t k = 0;
    for (size_t i = 0; i < rs->nmetric_names; i++)
        if (k == 0 || strcmp(rs->metric_names[k - 1], rs->metric_names[i]) != 0)
            rs->metric_names[k++] = rs->metric_names[i];
    rs->nmetric_names = k;
    return 0;
}

int cs_rules_parse(const char *text, size_t len, const char *name, cs_rules **ret,
                   cs_errlist *errs)
{
    json_error_t jerr;
    ctx c = {.text = text, .len = len, .name = name, .errs = errs};
    cs_rules *rs;

    *ret = NULL;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        cs_errlist_addf(errs, "%s:%d:%d: %s", name, jerr.line, jerr.column, jerr.text);
        return -EINVAL;
    }
    rs = calloc(1, sizeof(*rs));
    if (!rs) {
        json_decref(root);
        return -ENOMEM;
    }
    rs->source = strdup(name);
    if (!json_is_object(root)) {
        cs__rules_err_here(&c, "the rules file must be a JSON object");
        goto out;
    }
    rs->version = xstrdup(cs__rules_get_string(&c, root, "version", true));
    const char *cur = cs__rules_get_string(&c, root, "currency", true);
    if (cur && (strlen(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' ||
                cur[1] > 'Z' || cur[2] < 'A' || cur[2] > 'Z')) {
        cs__rules_push_key(&c, "currency");
        cs__rules_err_here(&c, "\"%s\" is not an ISO 4217 code such as USD", cur);
        cs__rules_pop(&c);
    }
    rs->currency = xstrdup(cur);
    parse_discounts(&c, root, "plans", true, &rs->plans, &rs->nplans);
    json_t *rules = json_object_get(root, "rules");
    cs__rules_push_key(&c, "rules");
    if (!rules || !json_is_array(rules) || json_array_size(rules) == 0) {
        cs__rules_err_here(&c, rules ? "must be a non-empty array of rules" : "required field is missing");
    } else {
        rs->rules = calloc(json_array_size(rules), sizeof(*rs->rules));
        size_t i;
        json_t *jr;
        cs__rules_pop(&c);
        charge_patterns(&c, rules);
        cs__rules_push_key(&c, "rules");
        json_array_foreach(rules, i, jr) {
            cs__rules_push_index(&c, i);
            parse_rule(&c, jr, &rs->rules[i], rs, i);
            rs->nrules = i + 1;
            cs__rules_pop(&c);
        }
    }
    cs__rules_pop(&c);
    cs__rules_parse_pools(&c, root, rs);
    parse_products(&c, root, rs);
    if (index_metric_names(rs) < 0) {
        json_decref(root);
        cs_rules_free(rs);
        return -ENOMEM;
    }
out:
    json_decref(root);
    if (c.nerr > 0) {
        cs_rules_free(rs);
        return -EINVAL;
    }
    *ret = rs;
    return 0;
}

int cs_rules_load(const char *path, cs_rules **ret, cs_errlist *errs)
{
    char *buf, err[512];
    size_t len;
    *ret = NULL;
    int r = cs_file_read(path, CS_FILE_MAX_RULES, &buf, &len, err, sizeof(err));
    if (r < 0) {
        cs_errlist_addf(errs, "%s", err);
        return r;
    }
    r = cs_rules_parse(buf, len, path, ret, errs);
    free(buf);
    return r;
}

static void free_discounts(cs_plan_discount *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(d[i].plan);
    free(d);
}

void cs_rules_free(cs_rules *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->nrules; i++) {
        cs_rule *r = &rs->rules[i];
        for (size_t m = 0; m < r->nmatchers; m++) {
            if (r->matchers[m].op == CS_MATCH_RE || r->matchers[m].op == CS_MATCH_NRE)
                regfree(&r->matchers[m].re);
            free(r->matchers[m].label);
            free(r->matchers[m].value);
        }
        free(r->matchers);
        free_discounts(r->discounts, r->ndiscounts);
        for (size_t m = 0; m < r->nmetric_names; m++)
            free(r->metric_names[m]);
        free(r->metric_names);
        free(r->id);
        free(r->product);
        free(r->meter);
        free(r->unit);
        free(r->description);
    }
    free(rs->rules);
    free(rs->metric_names);
    for (size_t i = 0; i < rs->nproducts; i++) {
        free(rs->products[i].name);
        free(rs->products[i].service_category);
        free(rs->products[i].service_subcategory);
    }
    free(rs->products);
    cs__rules_free_pools(rs);
    free_discounts(rs->plans, rs->nplans);
    free(rs->version);
    free(rs->currency);
    free(rs->source);
    free(rs);
}

cs_dec cs_rules_plan_discount(const cs_rules *rs, const char *plan)
{
    for (size_t i = 0; plan && i < rs->nplans; i++)
        if (strcmp(rs->plans[i].plan, plan) == 0)
            return rs->plans[i].discount;
    return cs_dec_zero();
}
