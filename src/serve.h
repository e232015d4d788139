/* serve.h - `costream serve`: the report server (adapter over
 * libmicrohttpd and PostgreSQL).
 *
 *   GET /                          HTML index: billing periods and download links
 *   GET /reports/chargeback        ?period=YYYY-MM | from=&to=  [customer, product, plan]
 *                                  [format=csv|json|table]  (default csv)
 *   GET /reports/focus             the FOCUS 1.2 export (CSV), same filters
 *   GET /healthz                   200 ok (no token needed)
 *
 * Every other path needs a token (Authorization: Bearer <token>; browsers
 * may present it as the password of HTTP Basic authentication).  A finance
 * token sees every customer; a customer token sees only its own lines,
 * whatever the query asks.  401: no or wrong token; 403: outside the
 * token's scope; 400: bad parameters, with a message saying which.  Reports
 * stream from PostgreSQL in chunks, whatever their size.  One thread and one
 * database connection per request.  Tokens are never logged.
 */
#ifndef CS_SERVE_H
#define CS_SERVE_H

#include <signal.h>

#include "config.h"

/* Serves until *stop.  0, or a negative error if the server cannot start
 * (the reason is logged). */
int cs_serve_run(const cs_config *cfg, volatile sig_atomic_t *stop);

#endif
