/* store_rollup.c - folding the rollups' appended changes into them (see
 * store.h, cs_store_rollup_compact, and sql/0019_usage_rollups.sql).
 *
 * One transaction: a try of an advisory lock (one compactor at a time; the
 * others skip), one statement that deletes every appended row it sees and
 * adds exactly those rows, summed, to usage_period and usage_hour, then one
 * that drops the usage_period rows of those periods that came to nothing
 * (a customer whose rows were all moved away is no customer of the month).
 * Writers keep appending meanwhile: their rows are not yet visible to the
 * statement, so they wait for the next compaction, and nothing is counted
 * twice or lost. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_internal.h"

#define ROLLUP_LOCK "7466218856" /* advisory lock of the compaction */

static const char fold_sql[] =
    "WITH d AS (DELETE FROM usage_rollup_delta RETURNING *),"
    " p AS (INSERT INTO usage_period AS t"
    "  SELECT billing_period, customer, product, currency, sum(cost), sum(list_cost),"
    "  sum(discount), sum(events) FROM d WHERE hour IS NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    "  ON CONFLICT (billing_period, customer, product, currency) DO UPDATE SET"
    "  cost = t.cost + EXCLUDED.cost, list_cost = t.list_cost + EXCLUDED.list_cost,"
    "  discount = t.discount + EXCLUDED.discount, events = t.events + EXCLUDED.events),"
    " h AS (INSERT INTO usage_hour AS t"
    "  SELECT billing_period, hour, currency, sum(cost), sum(list_cost), sum(discount),"
    "  sum(events) FROM d WHERE hour IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    "  ON CONFLICT (billing_period, hour, currency) DO UPDATE SET"
    "  cost = t.cost + EXCLUDED.cost, list_cost = t.list_cost + EXCLUDED.list_cost,"
    "  discount = t.discount + EXCLUDED.discount, events = t.events + EXCLUDED.events)"
    " SELECT count(*), coalesce(array_agg(DISTINCT billing_period)::text, '{}') FROM d";

static const char drop_empty_sql[] =
    "DELETE FROM usage_period WHERE billing_period = ANY($1::date[])"
    " AND cost = 0 AND list_cost = 0 AND discount = 0 AND events = 0";

int cs_store_rollup_compact(cs_store *s, long *ret_rows, char *err, size_t errsize)
{
    PGresult *res = NULL;
    int r;
    *ret_rows = 0;
    if ((r = cs_store_connect(s, err, errsize)) < 0)
        return r;
    if ((r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize)) < 0)
        return r;
    r = cs__store_exec_params(s, "SELECT pg_try_advisory_xact_lock(" ROLLUP_LOCK ")", 0, NULL,
                              NULL, NULL, "rollup lock", &res, err, errsize);
    int locked = r == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (r == 0 && locked &&
        (r = cs__store_exec_params(s, fold_sql, 0, NULL, NULL, NULL, "usage rollups", &res, err,
                                   errsize)) == 0) {
        *ret_rows = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        const char *periods[1] = {PQgetvalue(res, 0, 1)};
        if (*ret_rows)
            r = cs__store_exec_params(s, drop_empty_sql, 1, periods, NULL, NULL, "usage_period",
                                      NULL, err, errsize);
    }
    PQclear(res);
    if (r == 0)
        r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize);
    else
        cs__store_rollback(s);
    if (r < 0)
        *ret_rows = 0;
    return r;
}
