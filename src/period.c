/* period.c - closing and reopening billing months (see period.h).
 *
 * A month is closed by a row in closed_periods; cs_billing_period() in
 * PostgreSQL sends later usage of a closed month to the first open month
 * after it, so workers follow a close or a reopen at their next flush
 * without being told.  Both take usage_cost's SHARE ROW EXCLUSIVE lock, so
 * that every flush lands wholly before or wholly after them.  Every close,
 * reopen and FOCUS export of a month is a row of period_log (sql/0011). */
#include "period.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"
#include "timestamp.h"

/* The last month that has ended, as "YYYY-MM". */
static void last_finished(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int y = tm.tm_year + 1900, m = tm.tm_mon; /* tm_mon is 0-based: the month before */
    if (m == 0) {
        m = 12;
        y--;
    }
    snprintf(buf, size, "%04d-%02d", y, m);
}

/* Checks period and fills date with its first day.  0 or -EINVAL. */
static int parse_period(const char *period, char *date, size_t size, char *err, size_t errsize)
{
    int64_t start, end;
    if (cs_timestamp_month(period, &start, &end) < 0) {
        snprintf(err, errsize, "\"%s\" is not a month such as 2026-10", period);
        return -EINVAL;
    }
    if (end > (int64_t)time(NULL) * CS_USEC_PER_SEC) {
        snprintf(err, errsize, "%s has not ended yet; a month is closed after its last day", period);
        return -EINVAL;
    }
    snprintf(date, size, "%s-01", period);
    return 0;
}

/* BEGIN and the lock that orders the change against flushes. */
static int begin_locked(cs_store *s, char *err, size_t errsize)
{
    int r = cs_store_connect(s, err, errsize);
    if (r == 0)
        r = cs__store_exec_ok(s, "BEGIN", PGRES_COMMAND_OK, err, errsize);
    if (r == 0 && (r = cs__store_exec_ok(s, "LOCK TABLE usage_cost IN SHARE ROW EXCLUSIVE MODE",
                                         PGRES_COMMAND_OK, err, errsize)) < 0)
        cs__store_rollback(s);
    return r;
}

static int log_row(cs_store *s, const char *date, const char *action, const char *actor,
                   const char *detail, char *err, size_t errsize)
{
    const char *p[4] = {date, action, actor, detail};
    return cs__store_exec_params(s,
                                 "INSERT INTO period_log (period, action, actor, detail)"
                                 " VALUES ($1::date, $2, $3, $4)",
                                 4, p, NULL, NULL, "period_log", NULL, err, errsize);
}

/* A single-value query's answer as an integer (0 when NULL). */
static int query_i64(cs_store *s, const char *sql, const char *date, int64_t *ret, char *err,
                     size_t errsize)
{
    const char *p[1] = {date};
    PGresult *res;
    int r = cs__store_exec_params(s, sql, 1, p, NULL, NULL, "periods", &res, err, errsize);
    if (r == 0) {
        *ret = PQntuples(res) ? cs__store_i64(res, 0, 0) : 0;
        PQclear(res);
    }
    return r;
}

/* Why closing period needs --yes, or "" when it does not. */
static int close_doubts(cs_store *s, const char *period, const char *date, char *why, size_t size,
                        char *err, size_t errsize)
{
    char last[16];
    int64_t rows;
    int r = query_i64(s, "SELECT count(*) FROM usage_cost WHERE billing_period = $1::date", date,
                      &rows, err, errsize);
    if (r < 0)
        return r;
    last_finished(last, sizeof(last));
    why[0] = '\0';
    if (rows == 0)
        snprintf(why, size, "%s has no usage", period);
    if (strcmp(period, last) != 0)
        snprintf(why + strlen(why), size - strlen(why), "%s%s is not the last finished month (%s)",
                 why[0] ? " and " : "", period, last);
    return 0;
}

int cs_period_close(cs_store *s, const char *period, const char *actor, bool yes, char *err,
                    size_t errsize)
{
    char date[16], why[160];
    int r = parse_period(period, date, sizeof(date), err, errsize);
    if (r < 0 || (r = begin_locked(s, err, errsize)) < 0)
        return r;
    const char *p[2] = {date, actor};
    PGresult *res = NULL;
    if ((r = close_doubts(s, period, date, why, sizeof(why), err, errsize)) == 0 && why[0] && !yes) {
        snprintf(err, errsize, "%s: give --yes to close it anyway", why);
        r = -EPERM;
    }
    if (r == 0)
        r = cs__store_exec_params(s,
                                  "INSERT INTO closed_periods (period, closed_by) VALUES ($1::date, $2)"
                                  " ON CONFLICT DO NOTHING",
                                  2, p, NULL, NULL, "closed_periods", &res, err, errsize);
    bool inserted = r == 0 && strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (r == 0 && !inserted) {
        snprintf(err, errsize, "%s is already closed", period);
        r = -EALREADY;
    }
    if (r == 0) /* freeze the names its reports show */
        r = cs__store_exec_params(s,
                                  "INSERT INTO closed_period_customers (period, customer, name, cost_center)"
                                  " SELECT $1::date, u.customer, c.name, c.cost_center"
                                  " FROM (SELECT DISTINCT customer FROM usage_cost"
                                  "       WHERE billing_period = $1::date) u"
                                  " LEFT JOIN customers c ON c.id = u.customer",
                                  1, p, NULL, NULL, "closed_period_customers", NULL, err, errsize);
    if (r == 0)
        r = log_row(s, date, "close", actor, why[0] ? why : NULL, err, errsize);
    if (r == 0)
        r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize);
    if (r < 0)
        cs__store_rollback(s);
    return r;
}

int cs_period_reopen(cs_store *s, const char *period, const char *actor, bool force, char *err,
                     size_t errsize)
{
    char date[16];
    int64_t closed = 0, exports = 0;
    int r = parse_period(period, date, sizeof(date), err, errsize);
    if (r < 0 || (r = begin_locked(s, err, errsize)) < 0)
        return r;
    if ((r = query_i64(s, "SELECT count(*) FROM closed_periods WHERE period = $1::date", date,
                       &closed, err, errsize)) == 0 && !closed) {
        snprintf(err, errsize, "%s is not closed", period);
        r = -EALREADY;
    }
    /* FOCUS exports since the last close: someone may have billed from it */
    if (r == 0 && (r = query_i64(s,
                                 "SELECT count(*) FROM period_log WHERE period = $1::date"
                                 " AND action = 'focus_export' AND at >= (SELECT max(at) FROM"
                                 " period_log WHERE period = $1::date AND action = 'close')",
                                 date, &exports, err, errsize)) == 0 && exports && !force) {
        snprintf(err, errsize, "%s's FOCUS export was downloaded %lld time(s) since it was closed"
                 " (costream period history): give --force to reopen it anyway",
                 period, (long long)exports);
        r = -EPERM;
    }
    const char *p[1] = {date};
    if (r == 0)
        r = cs__store_exec_params(s, "DELETE FROM closed_period_customers WHERE period = $1::date",
                                  1, p, NULL, NULL, "closed_period_customers", NULL, err, errsize);
    if (r == 0)
        r = cs__store_exec_params(s, "DELETE FROM closed_periods WHERE period = $1::date", 1, p,
                                  NULL, NULL, "closed_periods", NULL, err, errsize);
    if (r == 0)
        r = log_row(s, date, "reopen", actor, exports ? "after a FOCUS export (--force)" : NULL,
                    err, errsize);
    if (r == 0)
        r = cs__store_exec_ok(s, "COMMIT", PGRES_COMMAND_OK, err, errsize);
    if (r < 0)
        cs__store_rollback(s);
    return r;
}

int cs_period_record_export(cs_store *s, const char *period, const char *actor, char *err,
                            size_t errsize)
{
    char date[16];
    snprintf(date, sizeof(date), "%.7s-01", period);
    int r = cs_store_connect(s, err, errsize);
    return r < 0 ? r : log_row(s, date, "focus_export", actor, NULL, err, errsize);
}

int cs_period_history(cs_store *s, void (*fn)(void *opaque, const char *const *cols),
                      void *opaque, char *err, size_t errsize)
{
    PGresult *res;
    int r = cs_store_connect(s, err, errsize);
    if (r == 0)
        r = cs__store_exec_params(s,
                                  "SELECT to_char(period, 'YYYY-MM'), action,"
                                  " to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                                  " actor, coalesce(detail, '') FROM period_log ORDER BY at, id",
                                  0, NULL, NULL, NULL, "period_log", &res, err, errsize);
    if (r < 0)
        return r;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *cols[5];
        for (int c = 0; c < 5; c++)
            cols[c] = PQgetvalue(res, i, c);
        fn(opaque, cols);
    }
    PQclear(res);
    return 0;
}
