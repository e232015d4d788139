/* reportdb.h - what reports read from and write to PostgreSQL (adapter):
 * streamed report rows, reconciliation totals, billing periods, closing a
 * month, and API tokens.
 *
 * A report runs in one READ ONLY, REPEATABLE READ transaction with a
 * server-side cursor fetched in blocks, so its lines, subtotals and the
 * stored total it is reconciled against all come from one snapshot, and a
 * report of a million lines never holds them in memory.  One cursor per
 * cs_store at a time.  Not thread-safe: one cs_store per thread.
 */
#ifndef CS_REPORTDB_H
#define CS_REPORTDB_H

#include <stddef.h>

#include "finance.h"
#include "report.h"
#include "store.h"
#include "token.h"

typedef struct cs_report_query {
    const char *period;   /* billing month "YYYY-MM" (corrections included), or NULL */
    const char *from;     /* with period NULL: usage hours in [from, to), RFC 3339 */
    const char *to;
    const char *customer; /* filters; NULL = all */
    const char *product;
    const char *plan;
    int focus;            /* hourly FOCUS rows instead of chargeback lines */
} cs_report_query;

typedef struct cs_report_cursor cs_report_cursor;

/* Opens the report's transaction and cursor.  The cursor copies q's
 * strings: they may die when the caller returns, while the cursor's next
 * block is fetched later (a streamed download).  0, -ENOMEM or -EIO. */
int cs_reportdb_open(cs_store *s, const cs_report_query *q, cs_report_cursor **ret, char *err,
                     size_t errsize);

/* Next row (strings valid until the next call).  1, 0 at the end, or -EIO. */
int cs_reportdb_next(cs_report_cursor *c, cs_report_row *ret, char *err, size_t errsize);

/* The stored cost per currency for the same filter and snapshot.  *ret is
 * owned by the cursor.  0 or -EIO. */
int cs_reportdb_totals(cs_report_cursor *c, const cs_report_stored **ret, size_t *ret_n,
                       char *err, size_t errsize);

/* The base of the report's cents (report.h): every customer's exact cost
 * and discount per currency for the same filter and snapshot, except the
 * customer filter.  Calls fn once with the list (valid during the call);
 * returns fn's result, or -EIO. */
int cs_reportdb_base(cs_report_cursor *c,
                     int (*fn)(void *opaque, const cs_report_subtotal *items, size_t n),
                     void *opaque, char *err, size_t errsize);

/* Ends the transaction and frees the cursor; NULL allowed. */
void cs_reportdb_close(cs_report_cursor *c);

/* Calls fn for every billing month with data or closed, newest first;
 * with customer, only the months in which that customer has usage. */
int cs_reportdb_periods(cs_store *s, const char *customer,
                        void (*fn)(void *opaque, const char *period, int closed), void *opaque,
                        char *err, size_t errsize);

/* Fills the finance page of period (YYYY-MM) for customer (NULL: all):
 * totals, the previous period, products, top customers and "other", one
 * page (1-based) of the customers table, from the dash_* views, in one
 * READ ONLY REPEATABLE READ transaction.  The caller frees with
 * cs_finance_page_clear().  0, -ENOMEM or -EIO. */
int cs_reportdb_finance_page(cs_store *s, const char *period, const char *customer, int page,
                             cs_finance_page *ret, char *err, size_t errsize);

/* Adds the periods the customer (NULL: all) has usage in, newest first, to
 * the page.  0 or -EIO. */
int cs_reportdb_finance_periods(cs_store *s, const char *customer, cs_finance_page *ret,
                                char *err, size_t errsize);

/* The allocated-spend report of period for customer (NULL: all) in fmt
 * (spendreport.h; FOCUS with meta's version, provider, issuer and services)
 * appended to out.  0, -EINVAL (several currencies: err says so), -ENOMEM,
 * -ERANGE or -EIO. */
int cs_reportdb_spend_report(cs_store *s, const char *period, const char *customer,
                             cs_report_format fmt, const cs_report_meta *meta, cs_buf *out,
                             char *err, size_t errsize);

/* Calls row(opaque, r) for every allocated-spend row of period (YYYY-MM)
 * and customer (NULL: all), sorted by customer, product, pool, kind.
 * 0 or -EIO. */
int cs_reportdb_spend(cs_store *s, const char *period, const char *customer,
                      int (*row)(void *opaque, const char *const *cols), void *opaque, char *err,
                      size_t errsize);

/* Stores a token's id and secret hash with its scope ("finance" or
 * "customer" with customer set); sees_spend lets a customer token read the
 * infrastructure spend allocated to its customer.  0 or -EIO. */
int cs_reportdb_token_add(cs_store *s, const char *id, const unsigned char *hash,
                          const char *scope, const char *customer, const char *name,
                          int sees_spend, char *err, size_t errsize);

/* Looks up a live token: 1 and its hash, scope, customer ("" for finance)
 * and whether it may read spend; 0 if unknown or revoked; -EIO. */
int cs_reportdb_token_get(cs_store *s, const char *id, unsigned char *ret_hash,
                          char *ret_scope, size_t scope_size, char *ret_customer,
                          size_t customer_size, int *ret_sees_spend, char *err, size_t errsize);

/* Revokes a token.  0, -ENOENT, -EIO. */
int cs_reportdb_token_revoke(cs_store *s, const char *id, char *err, size_t errsize);

/* Records that token id was just used.  0 or -EIO. */
int cs_reportdb_token_touch(cs_store *s, const char *id, char *err, size_t errsize);

/* Calls row(opaque, cols) for every token, oldest first: id, scope,
 * customer ("" for finance), name, created, last used ("" never), revoked
 * ("" if not), times as RFC 3339, and whether it reads spend ("yes", "no").
 * 0 or -EIO. */
int cs_reportdb_token_list(cs_store *s, void (*row)(void *opaque, const char *const *cols),
                           void *opaque, char *err, size_t errsize);

/* 1 if the customer has usage or stored attributes, 0 if not, -EIO. */
int cs_reportdb_customer_known(cs_store *s, const char *customer, char *err, size_t errsize);

#endif
