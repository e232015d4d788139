/* spend.h - importing the infrastructure bill into PostgreSQL (adapter).
 *
 * cs_spend_import() reads a FOCUS bill already in memory (bill.h) and stores
 * it for a source (e.g. "aws-main") in one transaction (sql/0008_spend.sql):
 * an import row with the file's SHA-256, a new version of every billing
 * period the file holds, its lines, and, with keep_bad, the lines it could
 * not read (line, column, reason, raw bytes: at most CS_SPEND_MAX_RAW of a
 * line, the reason saying it was cut).  Without keep_bad a file with
 * any bad line imports nothing: every bad line is reported through
 * on_error(opaque, error) and the call returns -EBADMSG.  Importing the
 * same file for the same source again changes nothing (*ret says which
 * import it was).  source must be valid UTF-8 (-EINVAL otherwise); the
 * file name is stored escaped (utf8.h) whatever its bytes.  Concurrent imports of one source are serialised by an
 * advisory lock.  Not thread-safe per cs_store.
 */
#ifndef CS_SPEND_H
#define CS_SPEND_H

#include <stdbool.h>
#include <stddef.h>

#include "bill.h"
#include "decimal.h"
#include "rules.h"
#include "store.h"

#define CS_SPEND_MAX_RAW 65536u /* bytes of a bad line kept */

typedef struct cs_spend_import_result {
    long import_id;       /* the new import, or the earlier one of the same file */
    bool already;         /* the same file was imported for this source before */
    size_t lines;         /* lines stored */
    size_t rejected;      /* bad lines (stored as rejects with keep_bad) */
    size_t periods;       /* billing periods that got a new version */
} cs_spend_import_result;

/* 0; -EBADMSG (bad lines and !keep_bad, or a bad header: nothing stored);
 * -ENOMEM; or a store error class (err says why). */
int cs_spend_import(cs_store *s, const char *source, const char *file_name, const char *data,
                    size_t len, bool keep_bad,
                    void (*on_error)(void *opaque, const cs_bill_error *e), void *opaque,
                    cs_spend_import_result *ret, char *err, size_t errsize);

typedef struct cs_spend_pool_total {
    const char *pool;   /* "" for unpooled lines (owned by the result) */
    size_t lines;
    cs_dec cost, allocated, unallocated; /* cost = allocated + unallocated */
} cs_spend_pool_total;

typedef struct cs_spend_allocate_result {
    size_t lines, rows;        /* rows written (corrections: rows that changed) */
    char correction_in[16];    /* a closed period: the open one its correction went to, else "" */
    char currency[4];
    cs_spend_pool_total *pools; /* per pool with lines; free with cs_spend_allocate_result_free */
    size_t npools;
} cs_spend_allocate_result;

/* Allocates the bill in force for period ("YYYY-MM") with the rules'
 * pools (allocate.h) over the usage stored in usage_cost, and replaces the
 * period's rows of spend_allocations, in one transaction (REPEATABLE READ:
 * the bill and the usage are read from one snapshot).  Allocated from each
 * line's EffectiveCost.  A closed period keeps its rows: the difference of
 * the fresh allocation from what is counted for it is stored as a
 * correction in the first open period after it (sql/0009).  0; -EINVAL with
 * err (a bad period, rules without pools, several currencies in one pool);
 * -ERANGE; -ENOMEM; or a store error class. */
int cs_spend_allocate(cs_store *s, const cs_rules *rules, const char *period,
                      cs_spend_allocate_result *ret, char *err, size_t errsize);

void cs_spend_allocate_result_free(cs_spend_allocate_result *r);

/* Recomputed, not streamed once: allocates again every open period that
 * has a bill (usage arrived since, or a bill was restated), as workers do
 * every spend.reallocate_interval_s.  -EBUSY, doing nothing, when another
 * allocation is running (a session advisory lock; cs_spend_allocate waits
 * for the same lock); else 0 with *ret_periods allocated, or the first
 * failure. */
int cs_spend_reallocate_open(cs_store *s, const cs_rules *rules, size_t *ret_periods,
                             char *err, size_t errsize);

#endif
