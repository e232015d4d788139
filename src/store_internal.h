/* store_internal.h - for adapters that share cs_store's connection handling
 * (reportdb.c).  Not part of the public API. */
#ifndef CS_STORE_INTERNAL_H
#define CS_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "store.h"

/* Connects if needed and returns the connection, or NULL with err filled. */
PGconn *cs_store_conn(cs_store *s, char *err, size_t errsize);

#endif
