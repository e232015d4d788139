/* reportdb_finance.c - the finance page's figures from PostgreSQL (see
 * reportdb.h, cs_reportdb_finance_page).
 *
 * One statement takes the period's cost per customer, product and currency
 * and derives every figure of the page from that small set: the totals in
 * the main currency, the products, the top customers and "other", one page
 * of the customers table with their names, and the previous period's cost
 * whole and to the same point.  Each output row is tagged with what it is.
 * The finance scope reads the rollups PostgreSQL keeps exact as usage_cost
 * changes (sql/0019_usage_rollups.sql), a few rows per customer whatever
 * the month's size; a customer's page reads its own rows through the index
 * that leads with the customer.  Five statements over the dash_cost view
 * took 0.8-1.0 s each on a month of 190,000 rows (issue 21);
 * docs/performance.md has the figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reportdb.h"
#include "store_internal.h"

/* $1 period (YYYY-MM), $2 customer or NULL, $3 top customers, $4 page
 * size, $5 page offset.  G is the period's cost per customer, product and
 * currency; V the previous period's, whole and to the same point. */
#define FIN_HEAD "WITH b AS (SELECT to_date($1, 'YYYY-MM') AS p),"

/* A customer's page: its rows, through the index that leads with it. */
#define G_RAW \
    " g AS MATERIALIZED (SELECT u.customer, u.product, u.currency, sum(u.cost) AS cost," \
    "   sum(u.list_cost) AS list_cost, sum(u.discount) AS discount" \
    "   FROM usage_cost u, b WHERE u.billing_period = b.p AND ($2::text IS NULL OR u.customer = $2)" \
    "   GROUP BY 1, 2, 3),"

/* The finance page: the rollup and the changes not folded into it yet
 * (sql/0019_usage_rollups.sql), keys that came to nothing left out. */
#define G_ROLLUP \
    " g AS MATERIALIZED (SELECT customer, product, currency, sum(cost) AS cost," \
    "   sum(list_cost) AS list_cost, sum(discount) AS discount FROM (" \
    "   SELECT customer, product, currency, cost, list_cost, discount, events FROM usage_period, b" \
    "   WHERE billing_period = b.p UNION ALL" \
    "   SELECT customer, product, currency, cost, list_cost, discount, events" \
    "   FROM usage_rollup_delta, b WHERE billing_period = b.p AND hour IS NULL) x" \
    "   GROUP BY 1, 2, 3" \
    "   HAVING sum(cost) <> 0 OR sum(list_cost) <> 0 OR sum(discount) <> 0 OR sum(events) <> 0),"

#define FIN_BODY \
    " cur AS (SELECT currency FROM g GROUP BY 1 ORDER BY sum(cost) DESC, 1 LIMIT 1)," \
    " cu AS MATERIALIZED (SELECT customer, sum(cost) AS cost, sum(list_cost) AS list_cost," \
    "   sum(discount) AS discount, row_number() OVER (ORDER BY sum(cost) DESC, customer) AS rk" \
    "   FROM g WHERE $2::text IS NULL GROUP BY 1)," \
    " e AS (SELECT p, (p - interval '1 month')::date AS q, greatest(interval '0'," \
    "   least(now() - p::timestamptz, (p + interval '1 month') - p::timestamptz)) AS el FROM b)" \
    /* T: currency, cost, list, discount, unattributed, customers */ \
    " SELECT 'T' AS k, 0 AS o, g.currency AS a, '' AS n, sum(g.cost) AS c, sum(g.list_cost) AS l," \
    "  sum(g.discount) AS d, coalesce(sum(g.cost) FILTER (WHERE g.customer = 'unattributed'), 0) AS x," \
    "  count(DISTINCT g.customer)::numeric AS y FROM g JOIN cur USING (currency) GROUP BY g.currency" \
    /* P: products, all currencies, largest first */ \
    " UNION ALL SELECT 'P', row_number() OVER (ORDER BY sum(cost) DESC, product), product, ''," \
    "  sum(cost), sum(list_cost), sum(discount), 0, 0 FROM g GROUP BY product" \
    /* C: the top customers, then "other" */ \
    " UNION ALL SELECT 'C', min(rk), CASE WHEN rk <= $3::int THEN customer ELSE 'other' END, ''," \
    "  sum(cost), sum(list_cost), sum(discount), 0, 0 FROM cu" \
    "  GROUP BY CASE WHEN rk <= $3::int THEN customer ELSE 'other' END" \
    /* R: one page of the customers table */ \
    " UNION ALL SELECT 'R', rk, customer, '', cost, list_cost, discount, 0, 0 FROM cu" \
    "  WHERE rk > $5::bigint AND rk <= $5::bigint + $4::int"

/* V: the previous period, to the same point and whole */
#define V_RAW \
    " UNION ALL SELECT 'V', 0, '', ''," \
    "  coalesce(sum(u.cost) FILTER (WHERE u.hour < e.q + e.el), 0)," \
    "  coalesce(sum(u.cost), 0), 0, 0, 0 FROM e LEFT JOIN usage_cost u" \
    "  ON u.billing_period = e.q AND ($2::text IS NULL OR u.customer = $2)" \
    "  AND u.currency = coalesce((SELECT currency FROM cur), 'USD')" \
    " ORDER BY 1, 2"

#define V_ROLLUP \
    " UNION ALL SELECT 'V', 0, '', ''," \
    "  coalesce(sum(h.cost) FILTER (WHERE h.hour < e.q + e.el), 0)," \
    "  coalesce(sum(h.cost), 0), 0, 0, 0 FROM e LEFT JOIN (" \
    "   SELECT billing_period, hour, currency, cost FROM usage_hour UNION ALL" \
    "   SELECT billing_period, hour, currency, cost FROM usage_rollup_delta WHERE hour IS NOT NULL) h" \
    "  ON h.billing_period = e.q AND h.currency = coalesce((SELECT currency FROM cur), 'USD')" \
    " ORDER BY 1, 2"

static const char finance_customer_sql[] = FIN_HEAD G_RAW FIN_BODY V_RAW;
static const char finance_all_sql[] = FIN_HEAD G_ROLLUP FIN_BODY V_ROLLUP;

/* The names of the customers shown (top and page), by id. */
static const char names_sql[] =
    "SELECT id, name FROM customers WHERE id = ANY($1::text[])";

/* Appends text as an element of a PostgreSQL text[] literal. */
static void array_add(cs_buf *b, const char *text)
{
    cs_buf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            cs_buf_puts(b, "\\");
        cs_buf_append(b, p, 1);
    }
    cs_buf_puts(b, "\"");
}

/* The customer's stored name, or "". */
static const char *name_of(const PGresult *names, const char *id)
{
    for (int i = 0; names && i < PQntuples(names); i++)
        if (strcmp(PQgetvalue(names, i, 0), id) == 0)
            return PQgetvalue(names, i, 1);
    return "";
}

static int add_item(cs_finance_list *l, const PGresult *r, int i, const PGresult *names)
{
    const char *label = PQgetvalue(r, i, 2);
    return cs_finance_list_add(l, label, strcmp(label, "other") ? name_of(names, label) : "",
                               cs__store_dec(r, i, 4), cs__store_dec(r, i, 5),
                               cs__store_dec(r, i, 6));
}

/* Fills p from the tagged rows of r (ordered by kind, then rank). */
static int fill_page(cs_finance_page *p, const PGresult *r, const PGresult *names)
{
    int ret = 0;
    for (int i = 0; i < PQntuples(r) && ret == 0; i++) {
        switch (PQgetvalue(r, i, 0)[0]) {
        case 'T':
            snprintf(p->currency, sizeof(p->currency), "%s", PQgetvalue(r, i, 2));
            p->billed = cs__store_dec(r, i, 4);
            p->list_cost = cs__store_dec(r, i, 5);
            p->discount = cs__store_dec(r, i, 6);
            p->unattributed = cs__store_dec(r, i, 7);
            p->ncustomers = strtol(PQgetvalue(r, i, 8), NULL, 10);
            break;
        case 'V':
            p->previous_same_point = cs__store_dec(r, i, 4);
            p->previous = cs__store_dec(r, i, 5);
            break;
        case 'P': ret = add_item(&p->products, r, i, NULL); break;
        case 'C': ret = add_item(&p->top, r, i, names); break;
        case 'R': ret = add_item(&p->customers, r, i, names); break;
        }
    }
    return ret;
}

/* The names of the customers the page shows (kinds C and R). */
static int read_names(cs_store *s, const PGresult *r, PGresult **ret, char *err, size_t errsize)
{
    cs_buf ids = {0};
    cs_buf_puts(&ids, "{");
    for (int i = 0; i < PQntuples(r); i++) {
        char k = PQgetvalue(r, i, 0)[0];
        if ((k == 'C' || k == 'R') && strcmp(PQgetvalue(r, i, 2), "other") != 0)
            array_add(&ids, PQgetvalue(r, i, 2));
    }
    cs_buf_puts(&ids, "}");
    const char *params[1] = {ids.data};
    int e = ids.failed ? -ENOMEM
                       : cs__store_exec_params(s, names_sql, 1, params, NULL, NULL, "customers", ret,
                                               err, errsize);
    cs_buf_free(&ids);
    return e < 0 ? (e == -ENOMEM ? e : -EIO) : 0;
}

int cs_reportdb_finance_page(cs_store *s, const char *period, const char *customer, int page,
                             cs_finance_page *p, char *err, size_t errsize)
{
    char top[16], limit[16], offset[24];
    PGresult *r = NULL, *names = NULL;
    snprintf(p->period, sizeof(p->period), "%s", period);
    p->customer = customer;
    p->page = page > 0 ? page : 1;
    snprintf(top, sizeof(top), "%d", CS_FINANCE_TOP);
    snprintf(limit, sizeof(limit), "%d", CS_FINANCE_PAGE_ROWS);
    snprintf(offset, sizeof(offset), "%ld", (long)(p->page - 1) * CS_FINANCE_PAGE_ROWS);
    const char *params[5] = {period, customer, top, limit, offset};
    int e = cs__store_exec_ok(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                              PGRES_COMMAND_OK, err, errsize);
    if (e == 0)
        e = cs__store_exec_params(s, customer ? finance_customer_sql : finance_all_sql, 5, params,
                                  NULL, NULL, "finance page", &r, err, errsize);
    if (e == 0 && !customer)
        e = read_names(s, r, &names, err, errsize);
    if (e == 0)
        e = fill_page(p, r, names);
    if (e == 0)
        e = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize);
    else
        cs__store_rollback(s);
    PQclear(r);
    PQclear(names);
    return e == 0 ? 0 : e == -ENOMEM ? -ENOMEM : -EIO;
}
