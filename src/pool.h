/* pool.h - a fixed set of PostgreSQL connections shared by the report
 * server's request threads (adapter over store.h).
 *
 * The pool never grows: at most `size` connections exist, so a burst of
 * requests cannot exhaust PostgreSQL's max_connections.  Taking a
 * connection never waits: when all are in use the caller answers 503 with
 * Retry-After.  Each connection runs on_connect_sql (session settings
 * such as statement_timeout) every time it (re)connects.  Thread-safe:
 * acquire and release may be called from any thread; a connection is used
 * by one thread at a time.
 */
#ifndef CS_POOL_H
#define CS_POOL_H

#include <stddef.h>

#include "store.h"

typedef struct cs_pool cs_pool;

/* NULL on allocation failure.  Connects lazily. */
cs_pool *cs_pool_new(const char *conninfo, size_t size, const char *on_connect_sql);
void cs_pool_free(cs_pool *p); /* NULL allowed; every connection must be back */

/* A free connection, or NULL when all size are in use. */
cs_store *cs_pool_try_acquire(cs_pool *p);

/* Gives s back (NULL allowed). */
void cs_pool_release(cs_pool *p, cs_store *s);

/* Connections in use now. */
size_t cs_pool_in_use(cs_pool *p);

#endif
