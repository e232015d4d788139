/* reattribute.c - see reattribute.h. */
#include "reattribute.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attribution.h"
#include "pricing.h"
#include "store_internal.h"
#include "timestamp.h"

#define KEY_WHERE                                                                         \
    " WHERE billing_period = $1::date AND hour = $2::timestamptz AND product = $3"        \
    " AND meter = $4 AND rule_id = $5 AND rules_version = $6 AND plan = $7"

/* unattributed_usage columns read per row, in this order */
#define ROW_COLUMNS                                                                       \
    "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), product, meter,"   \
    " rule_id, rules_version, plan, currency, unit, unit_price, quantity, list_cost,"      \
    " discount, cost, events"

typedef struct move {
    const char *date, *attribution, *actor;
    const cs_customer *cust;
    const char *v[14]; /* the row's texts, ROW_COLUMNS order */
    char rate[CS_DEC_STRLEN], disc[CS_DEC_STRLEN], cost[CS_DEC_STRLEN];
} move;

static int exec(cs_store *s, const char *sql, int n, const char *const *p, char *err,
                size_t errsize, PGresult **ret)
{
    return cs__store_exec_params(s, sql, n, p, NULL, NULL, "reattribute", ret, err, errsize);
}

/* Takes the row out of 'unattributed' and its breakdown, adds it to the
 * customer, records the move. */
static int move_row(cs_store *s, const move *m, char *err, size_t errsize)
{
    const char *const *v = m->v;
    const char *key[7] = {m->date, v[0], v[1], v[2], v[3], v[4], v[5]};
    const char *sub[12] = {key[0], key[1], key[2], key[3], key[4], key[5], key[6],
                           v[9], v[10], v[11], v[12], v[13]};
    PGresult *res;
    int r = exec(s,
                 "UPDATE usage_cost SET quantity = quantity - $8::numeric,"
                 " list_cost = list_cost - $9::numeric, discount = discount - $10::numeric,"
                 " cost = cost - $11::numeric, events = events - $12::bigint, updated_at = now()"
                 KEY_WHERE " AND customer = 'unattributed'",
                 12, sub, err, errsize, &res);
    if (r == 0 && strcmp(PQcmdTuples(res), "1") != 0) {
        snprintf(err, errsize, "unattributed usage of %s %s/%s has no cost row to move it from",
                 v[0], v[1], v[2]);
        r = -EIO;
    }
    PQclear(res);
    if (r == 0)
        r = exec(s, "DELETE FROM usage_cost" KEY_WHERE " AND customer = 'unattributed'"
                    " AND events = 0 AND quantity = 0 AND list_cost = 0 AND cost = 0",
                 7, key, err, errsize, NULL);
    const char *add[17] = {m->date, v[0], m->cust->id, v[1], v[2], v[3], v[4], m->cust->plan,
                           v[6], v[7], v[8], m->rate, v[9], v[10], m->disc, m->cost, v[13]};
    if (r == 0)
        r = exec(s,
                 "INSERT INTO usage_cost AS u (billing_period, hour, customer, product, meter,"
                 " rule_id, rules_version, plan, currency, unit, unit_price, discount_rate,"
                 " quantity, list_cost, discount, cost, events) VALUES ($1::date,"
                 " $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10, $11::numeric, $12::numeric,"
                 " $13::numeric, $14::numeric, $15::numeric, $16::numeric, $17::bigint)"
                 " ON CONFLICT (billing_period, hour, customer, product, meter, rule_id,"
                 " rules_version, plan) DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity,"
                 " list_cost = u.list_cost + EXCLUDED.list_cost,"
                 " discount = u.discount + EXCLUDED.discount, cost = u.cost + EXCLUDED.cost,"
                 " events = u.events + EXCLUDED.events, updated_at = now()",
                 17, add, err, errsize, NULL);
    const char *gone[8] = {key[0], key[1], key[2], key[3], key[4], key[5], key[6], m->attribution};
    if (r == 0)
        r = exec(s, "DELETE FROM unattributed_usage" KEY_WHERE " AND attribution = $8", 8, gone,
                 err, errsize, NULL);
    const char *log[18] = {m->date, v[0], v[1], v[2], v[3], v[4], m->attribution, m->cust->id,
                           m->cust->plan, v[9], v[10], v[11], v[12], m->rate, m->disc, m->cost,
                           v[13], m->actor};
    if (r == 0)
        r = exec(s,
                 "INSERT INTO reattributions (billing_period, hour, product, meter, rule_id,"
                 " rules_version, attribution, customer, plan, quantity, list_cost,"
                 " discount_before, cost_before, discount_rate, discount, cost, events, actor)"
                 " VALUES ($1::date, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10::numeric,"
                 " $11::numeric, $12::numeric, $13::numeric, $14::numeric, $15::numeric,"
                 " $16::numeric, $17::bigint, $18)",
                 18, log, err, errsize, NULL);
    return r;
}

/* The new discount and cost of row i of res for cust, into m; adds the
 * row to the totals. */
static int reprice(const cs_rules *rs, PGresult *res, int i, move *m, cs_reattribute_result *t)
{
    for (int c = 0; c < 14; c++)
        m->v[c] = PQgetvalue(res, i, c);
    const cs_rule *rule = NULL;
    for (size_t k = 0; strcmp(rs->version, m->v[4]) == 0 && k < rs->nrules && !rule; k++)
        rule = strcmp(rs->rules[k].id, m->v[3]) == 0 ? &rs->rules[k] : NULL;
    cs_dec rate = cs_pricing_discount_rate(rs, rule, m->cust->plan);
    cs_dec list = cs__store_dec(res, i, 10), before = cs__store_dec(res, i, 12), disc, cost;
    if (cs_dec_mul(list, rate, &disc) < 0 || cs_dec_sub(list, disc, &cost) < 0 ||
        cs_dec_add(t->list_cost, list, &t->list_cost) < 0 ||
        cs_dec_add(t->cost_before, before, &t->cost_before) < 0 ||
        cs_dec_add(t->cost, cost, &t->cost) < 0)
        return -ERANGE;
    cs_dec_format(rate, CS_DEC_SCALE, m->rate, sizeof(m->rate));
    cs_dec_format(disc, CS_DEC_SCALE, m->disc, sizeof(m->disc));
    cs_dec_format(cost, CS_DEC_SCALE, m->cost, sizeof(m->cost));
    t->rows++;
    t->events += cs__store_i64(res, i, 13);
    return 0;
}

/* Moves every row of one resolved attribution. */
static int move_attribution(cs_store *s, const cs_rules *rs, move *m, bool dry_run,
                            cs_reattribute_result *t, char *err, size_t errsize)
{
    const char *p[2] = {m->date, m->attribution};
    PGresult *res;
    int r = exec(s, "SELECT " ROW_COLUMNS " FROM unattributed_usage WHERE billing_period = $1::date"
                    " AND attribution = $2 ORDER BY hour, product, meter, rule_id, rules_version, plan",
                 2, p, err, errsize, &res);
    for (int i = 0; r == 0 && i < PQntuples(res); i++) {
        if ((r = reprice(rs, res, i, m, t)) == -ERANGE)
            snprintf(err, errsize, "a moved amount exceeds the decimal range");
        else if (!dry_run)
            r = move_row(s, m, err, errsize);
    }
    if (r == 0 && !dry_run && *m->cust->name) {
        const char *c[4] = {m->cust->id, m->cust->name, m->cust->plan, m->cust->cost_center};
        r = exec(s,
                 "INSERT INTO customers (id, name, plan, cost_center) VALUES ($1, $2, $3,"
                 " nullif($4, '')) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name,"
                 " plan = EXCLUDED.plan, cost_center = EXCLUDED.cost_center, updated_at = now()",
                 4, c, err, errsize, NULL);
    }
    PQclear(res);
    return r;
}

/* Resolves attribution text a through Redis: 1 resolved, 0 not, -EIO. */
static int resolve(cs_labels *l, const cs_config *cfg, const char *a, cs_customer *cust,
                   char *err, size_t errsize)
{
    cs_label labels[CS_CONFIG_MAX_LIST];
    char scratch[CS_ATTRIBUTION_MAX + 1];
    const char *rerr;
    if (strlen(a) > CS_ATTRIBUTION_MAX)
        return 0;
    int n = cs_attribution_parse(a, labels, CS_CONFIG_MAX_LIST, scratch);
    if (n <= 0)
        return 0;
    if (cs_labels_resolve_series(l, labels, (size_t)n, cfg->label_order, cfg->nlabel_order,
                                 (int64_t)time(NULL) * CS_USEC_PER_SEC, cust, &rerr) < 0) {
        snprintf(err, errsize, "%s", rerr);
        return -EIO;
    }
    return cust->attributed ? 1 : 0;
}

static int check_open(cs_store *s, const char *period, const char *date, char *err,
                      size_t errsize)
{
    const char *p[1] = {date};
    PGresult *res;
    int r = exec(s, "SELECT count(*) FROM closed_periods WHERE period = $1::date", 1, p, err,
                 errsize, &res);
    if (r == 0 && cs__store_i64(res, 0, 0) > 0) {
        snprintf(err, errsize, "%s is closed: its bill does not change (costream period reopen"
                 " %s first, if it must)", period, period);
        r = -EPERM;
    }
    PQclear(res);
    return r;
}

int cs_reattribute_run(cs_store *s, cs_labels *l, const cs_rules *rs, const cs_config *cfg,
                       const char *period, const char *actor, bool dry_run,
                       cs_reattribute_result *ret, char *err, size_t errsize)
{
    int64_t a, z;
    char date[16];
    memset(ret, 0, sizeof(*ret));
    if (cs_timestamp_month(period, &a, &z) < 0) {
        snprintf(err, errsize, "\"%s\" is not a month such as 2026-11", period);
        return -EINVAL;
    }
    snprintf(date, sizeof(date), "%s-01", period);
    int r = cs_store_connect(s, err, errsize);
    if (r == 0)
        r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize);
    if (r == 0 && !dry_run) /* flushes wait: the rows do not move under them */
        r = cs__store_exec_ok(s, "LOCK TABLE usage_cost IN SHARE ROW EXCLUSIVE MODE",
                              PGRES_COMMAND_OK, err, errsize);
    if (r == 0)
        r = check_open(s, period, date, err, errsize);
    PGresult *res = NULL;
    const char *p[1] = {date};
    if (r == 0)
        r = exec(s, "SELECT DISTINCT attribution FROM unattributed_usage"
                    " WHERE billing_period = $1::date ORDER BY 1",
                 1, p, err, errsize, &res);
    for (int i = 0; r == 0 && i < PQntuples(res); i++) {
        cs_customer cust;
        move m = {.date = date, .attribution = PQgetvalue(res, i, 0), .actor = actor, .cust = &cust};
        ret->attributions++;
        int found = resolve(l, cfg, m.attribution, &cust, err, errsize);
        if (found < 0)
            r = found;
        else if (found) {
            ret->resolved++;
            r = move_attribution(s, rs, &m, dry_run, ret, err, errsize);
        }
    }
    PQclear(res);
    if (r == 0)
        r = cs__store_exec_ok(s, dry_run ? "ROLLBACK" : "COMMIT", PGRES_COMMAND_OK, err, errsize);
    if (r < 0)
        cs__store_rollback(s);
    return r;
}
