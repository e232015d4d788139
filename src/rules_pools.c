/* rules_pools.c - the "allocation" section of a rules file (see rules.h
 * and docs/spend.md):
 *
 *   "allocation": {"pools": [
 *     {"id": "sandbox-compute",
 *      "select": {"ServiceName": "Amazon EC2", "Tags.cluster": "sandbox"},
 *      "drivers": [{"product": "sandbox-execution", "meter": "cpu_seconds", "weight": "0.6"},
 *                  {"product": "sandbox-execution", "meter": "memory_gib_seconds", "weight": "0.4"}]},
 *     {"id": "control-plane", "select": {"ServiceCategory": "Management and Governance"},
 *      "shared": "proportional"}]}
 *
 * Validated like the rest of the file, every problem at file:line:column:
 * unique ids; select a non-empty object of strings over FOCUS columns or
 * "Tags.<key>"; either drivers (each a product and meter that a usage rule
 * prices, weights positive and adding up to exactly 1, and optionally
 * capacity_per_hour: what the pool can serve of that meter in an hour,
 * whose unused part is allocated to "idle") or shared
 * ("proportional", "even", or {"weights": {"customer": "0.5", ...}}). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "rules_internal.h"

/* FOCUS columns a pool may select on. */
static const char *const selectable[] = {
    "ServiceName", "ServiceCategory", "ResourceId", "ResourceName", "RegionId", "ProviderName",
    "ChargeCategory", "ChargeClass", "BillingAccountId", "SubAccountId"};

static bool known_column(const char *k)
{
    for (size_t i = 0; i < sizeof(selectable) / sizeof(selectable[0]); i++)
        if (strcmp(selectable[i], k) == 0)
            return true;
    return false;
}

static void parse_select(cs__rules_ctx *c, json_t *jp, cs_pool *p)
{
    json_t *sel = json_object_get(jp, "select");
    cs__rules_push_key(c, "select");
    if (!sel || !json_is_object(sel) || json_object_size(sel) == 0) {
        cs__rules_err_here(c, sel ? "must be a non-empty object of FOCUS columns or Tags.<key>"
                                  : "required field is missing");
        cs__rules_pop(c);
        return;
    }
    p->select = calloc(json_object_size(sel), sizeof(*p->select));
    const char *k;
    json_t *v;
    json_object_foreach(sel, k, v) {
        cs__rules_push_key(c, k);
        bool tag = strncmp(k, "Tags.", 5) == 0 && k[5];
        if (!tag && !known_column(k))
            cs__rules_err_here(c, "\"%s\" is not a FOCUS column a pool can select on (ServiceName,"
                                  " ServiceCategory, ResourceId, ..., or Tags.<key>)", k);
        else if (!json_is_string(v))
            cs__rules_err_here(c, "must be a string");
        else if (p->select)
            p->select[p->nselect++] = (cs_pool_select){strdup(tag ? k + 5 : k),
                                                       strdup(json_string_value(v)), tag};
        cs__rules_pop(c);
    }
    cs__rules_pop(c);
}

static bool priced(const cs_rules *rs, const char *product, const char *meter)
{
    for (size_t i = 0; i < rs->nrules; i++) /* usage and metric rules alike */
        if (rs->rules[i].product && rs->rules[i].meter && strcmp(rs->rules[i].product, product) == 0 &&
            strcmp(rs->rules[i].meter, meter) == 0)
            return true;
    return false;
}

static void parse_drivers(cs__rules_ctx *c, json_t *jd, cs_pool *p, const cs_rules *rs)
{
    cs__rules_push_key(c, "drivers");
    if (!json_is_array(jd) || json_array_size(jd) == 0) {
        cs__rules_err_here(c, "must be a non-empty array of {product, meter, weight}");
        cs__rules_pop(c);
        return;
    }
    p->drivers = calloc(json_array_size(jd), sizeof(*p->drivers));
    cs_dec sum = cs_dec_zero();
    size_t i;
    json_t *d;
    json_array_foreach(jd, i, d) {
        cs__rules_push_index(c, i);
        const char *product = cs__rules_get_string(c, d, "product", true);
        const char *meter = cs__rules_get_string(c, d, "meter", true);
        cs_dec w = cs_dec_from_int(1);
        if (json_object_get(d, "weight") || json_array_size(jd) > 1)
            cs__rules_get_decimal(c, d, "weight", true, &w);
        if (product && meter && !priced(rs, product, meter))
            cs__rules_err_here(c, "no rule prices product \"%s\" meter \"%s\": nothing meters it",
                               product, meter);
        if (cs_dec_cmp(w, cs_dec_zero()) <= 0) {
            cs__rules_push_key(c, "weight");
            cs__rules_err_here(c, "a driver's weight is above 0");
            cs__rules_pop(c);
        }
        cs_dec cap = cs_dec_zero();
        bool has_cap = json_object_get(d, "capacity_per_hour") != NULL;
        if (has_cap && cs__rules_get_decimal(c, d, "capacity_per_hour", true, &cap) &&
            cs_dec_cmp(cap, cs_dec_zero()) <= 0) {
            cs__rules_push_key(c, "capacity_per_hour");
            cs__rules_err_here(c, "a capacity is above 0");
            cs__rules_pop(c);
        }
        cs_dec_add(sum, w, &sum);
        if (p->drivers && product && meter)
            p->drivers[p->ndrivers++] = (cs_pool_driver){strdup(product), strdup(meter), w,
                                                         has_cap, cap};
        cs__rules_pop(c);
    }
    if (cs_dec_cmp(sum, cs_dec_from_int(1)) != 0) {
        char s[CS_DEC_STRLEN];
        cs_dec_format(sum, 12, s, sizeof(s));
        cs__rules_err_here(c, "the drivers' weights add up to %s, not 1", s);
    }
    cs__rules_pop(c);
}

static void parse_shared(cs__rules_ctx *c, json_t *js, cs_pool *p)
{
    cs__rules_push_key(c, "shared");
    json_t *w = json_is_object(js) ? json_object_get(js, "weights") : NULL;
    if (json_is_string(js) && strcmp(json_string_value(js), "proportional") == 0) {
        p->shared = CS_POOL_PROPORTIONAL;
    } else if (json_is_string(js) && strcmp(json_string_value(js), "even") == 0) {
        p->shared = CS_POOL_EVEN;
    } else if (w && json_is_object(w) && json_object_size(w) > 0) {
        p->shared = CS_POOL_WEIGHTS;
        p->weights = calloc(json_object_size(w), sizeof(*p->weights));
        const char *k;
        json_t *v;
        cs__rules_push_key(c, "weights");
        json_object_foreach(w, k, v) {
            cs_dec d;
            if (cs__rules_get_decimal(c, w, k, true, &d) && p->weights) {
                if (cs_dec_cmp(d, cs_dec_zero()) < 0) {
                    cs__rules_push_key(c, k);
                    cs__rules_err_here(c, "a weight is 0 or more");
                    cs__rules_pop(c);
                }
                p->weights[p->nweights++] = (cs_plan_discount){strdup(k), d};
            }
        }
        cs__rules_pop(c);
    } else {
        cs__rules_err_here(c, "must be \"proportional\", \"even\" or {\"weights\": {\"customer\": "
                              "\"0.5\", ...}}");
    }
    cs__rules_pop(c);
}

static void parse_pool(cs__rules_ctx *c, json_t *jp, cs_pool *p, const cs_rules *rs, size_t idx)
{
    if (!json_is_object(jp)) {
        cs__rules_err_here(c, "a pool is an object with id, select, and drivers or shared");
        return;
    }
    const char *id = cs__rules_get_string(c, jp, "id", true);
    p->id = id ? strdup(id) : NULL;
    for (size_t i = 0; id && i < idx; i++)
        if (rs->pools[i].id && strcmp(rs->pools[i].id, id) == 0) {
            cs__rules_push_key(c, "id");
            cs__rules_err_here(c, "pool id \"%s\" is used twice", id);
            cs__rules_pop(c);
        }
    parse_select(c, jp, p);
    json_t *jd = json_object_get(jp, "drivers"), *js = json_object_get(jp, "shared");
    if (!jd == !js)
        cs__rules_err_here(c, "a pool has either drivers (split by usage) or shared (a policy)");
    else if (jd)
        parse_drivers(c, jd, p, rs);
    else
        parse_shared(c, js, p);
}

void cs__rules_parse_pools(cs__rules_ctx *c, json_t *root, cs_rules *rs)
{
    json_t *a = json_object_get(root, "allocation");
    if (!a)
        return;
    cs__rules_push_key(c, "allocation");
    json_t *pools = json_is_object(a) ? json_object_get(a, "pools") : NULL;
    cs__rules_push_key(c, "pools");
    if (!pools || !json_is_array(pools) || json_array_size(pools) == 0) {
        cs__rules_err_here(c, "must be a non-empty array of pools");
    } else {
        rs->pools = calloc(json_array_size(pools), sizeof(*rs->pools));
        size_t i;
        json_t *jp;
        json_array_foreach(pools, i, jp) {
            if (!rs->pools)
                break;
            cs__rules_push_index(c, i);
            parse_pool(c, jp, &rs->pools[i], rs, i);
            rs->npools = i + 1;
            cs__rules_pop(c);
        }
    }
    cs__rules_pop(c);
    cs__rules_pop(c);
}

void cs__rules_free_pools(cs_rules *rs)
{
    for (size_t i = 0; i < rs->npools; i++) {
        cs_pool *p = &rs->pools[i];
        for (size_t k = 0; k < p->nselect; k++) {
            free(p->select[k].column);
            free(p->select[k].value);
        }
        for (size_t k = 0; k < p->ndrivers; k++) {
            free(p->drivers[k].product);
            free(p->drivers[k].meter);
        }
        for (size_t k = 0; k < p->nweights; k++)
            free(p->weights[k].plan);
        free(p->select);
        free(p->drivers);
        free(p->weights);
        free(p->id);
    }
    free(rs->pools);
    rs->pools = NULL;
    rs->npools = 0;
}
