/* chargeback.h - a report as a byte stream: rows pulled from PostgreSQL
 * through reportdb's cursor, formatted by report, handed out in pieces.
 * The command line copies it to a file; the HTTP server hands it to
 * libmicrohttpd as a chunked response.  Memory stays bounded by one fetch
 * block and one output chunk.  Not thread-safe: one stream per thread.
 */
#ifndef CS_CHARGEBACK_H
#define CS_CHARGEBACK_H

#include <sys/types.h>

#include "config.h"
#include "report.h"
#include "reportdb.h"
#include "rules.h"

typedef struct cs_chargeback cs_chargeback;

/* Opens a report on store (which the stream borrows until closed).  The
 * stream keeps its own copies of q's and meta's strings (reportdb.h,
 * report.h), so the caller's may die when it returns.  0 or a negative
 * error with err filled. */
int cs_chargeback_open(cs_store *store, const cs_report_query *q, cs_report_format fmt,
                       const cs_report_meta *meta, cs_chargeback **ret, char *err,
                       size_t errsize);

/* Copies up to max bytes of the report into dst.  Returns the count, 0 at
 * the end, or a negative error (-EIO database, -EDOM totals do not
 * reconcile, -ENOMEM) with err filled. */
ssize_t cs_chargeback_read(cs_chargeback *c, char *dst, size_t max, char *err, size_t errsize);

/* Rows written so far. */
size_t cs_chargeback_rows(const cs_chargeback *c);

void cs_chargeback_close(cs_chargeback *c); /* NULL allowed */

/* Where a product's FOCUS ServiceCategory and ServiceSubcategory come
 * from: the rules' "products" section (rules may be NULL), else
 * report.service_category.<product> in the configuration, else Other. */
typedef struct cs_chargeback_services {
    const cs_rules *rules;
    const cs_config *cfg;
} cs_chargeback_services;

/* A cs_report_meta.service callback; opaque is a cs_chargeback_services. */
void cs_chargeback_service(void *opaque, const char *product, cs_report_service *ret);

#endif
