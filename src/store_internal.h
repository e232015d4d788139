/* store_internal.h - shared by the store's files (store*.c) and adapters
 * that reuse its connection handling (reportdb.c).  Not part of the public
 * API; internal names start with cs__store_. */
#ifndef CS_STORE_INTERNAL_H
#define CS_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "buf.h"

#include "store.h"

struct cs_store {
    char *conninfo;
    char *on_connect; /* session settings run after every connect, or NULL */
    PGconn *conn;
    unsigned long connects;
    char sqlstate[6]; /* of the last failure, "" when none was given */
    cs_buf copy;      /* binary COPY data, kept between flushes (see store_flush.c) */
};

/* Connects if needed and returns the connection, or NULL with err filled. */
PGconn *cs_store_conn(cs_store *s, char *err, size_t errsize);

/* snprintf into err (trailing newlines dropped); err may be NULL. */
void cs__store_set_err(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Closes the connection (the next call reconnects). */
void cs__store_disconnect(cs_store *s);

/* Records a failed command (err names what and the SQLSTATE) and returns
 * its error class (store.h); a broken connection is dropped. */
int cs__store_fail(cs_store *s, const PGresult *res, const char *what, char *err, size_t errsize);

/* Runs sql expecting status want.  0 or an error class. */
int cs__store_exec_ok(cs_store *s, const char *sql, ExecStatusType want, char *err,
                      size_t errsize);

/* ROLLBACK if the connection is usable. */
void cs__store_rollback(cs_store *s);

/* A parameterised command (text results); *ret_res (may be NULL) gets the
 * result on success for the caller to PQclear.  0 or an error class. */
int cs__store_exec_params(cs_store *s, const char *sql, int n, const char *const *values,
                          const int *lengths, const int *formats, const char *what,
                          PGresult **ret_res, char *err, size_t errsize);

/* As cs__store_exec_params with text parameters, but the result's cells
 * are in binary format (bytea as its bytes, bigint as 8 bytes in network
 * order); *ret_res is required. */
int cs__store_query_binary(cs_store *s, const char *sql, int n, const char *const *values,
                           const char *what, PGresult **ret_res, char *err, size_t errsize);

/* A NUMERIC cell of a text result as a decimal (zero when NULL or, which
 * cannot happen for NUMERIC(38,12), unreadable); an integer cell. */
cs_dec cs__store_dec(const PGresult *r, int row, int col);
int64_t cs__store_i64(const PGresult *r, int row, int col);

/* COPY helpers: row(ctx, i, cols, scratch) fills ncols column texts of row i
 * (NULL for SQL NULL), or returns 0 to skip it. */
#define CS__STORE_CELL 96 /* scratch per column: numbers, timestamps, hex ids */
typedef int (*cs__store_row_fn)(const void *ctx, size_t i, const char **cols,
                                char (*scratch)[CS__STORE_CELL]);

int cs__store_copy_rows(cs_store *s, size_t nrows, size_t ncols, cs__store_row_fn row,
                        const void *ctx, char *err, size_t errsize);

/* Sends len bytes to a COPY ... FROM STDIN in progress (text or binary
 * format) and ends it.  0 or an error class. */
int cs__store_copy_data(cs_store *s, const char *data, size_t len, char *err, size_t errsize);

/* Creates the session's temporary table (create_sql) and COPYs rows into
 * it with copy_sql.  0 or an error class. */
int cs__store_stage_rows(cs_store *s, const char *create_sql, const char *copy_sql, size_t nrows,
                         size_t ncols, cs__store_row_fn row, const void *ctx, char *err,
                         size_t errsize);

/* Adds the aggregates' rows (events > 0) to usage_cost: COPY into a
 * staging table, one upsert in key order.  0 or an error class. */
int cs__store_stage_aggregates(cs_store *s, const cs_agg *agg, char *err, size_t errsize);

#endif
