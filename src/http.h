/* http.h - the worker's HTTP endpoint (adapter over libmicrohttpd).
 *
 *   GET /metrics   Prometheus text format 0.0.4, or OpenMetrics 1.0 when the
 *                  Accept header asks for application/openmetrics-text
 *   GET /healthz   200 "ok" while the process serves requests
 *   GET /readyz    200 "ready", or 503 with the reason
 *
 * Every request is read within limits (cs_http_limits, guard.h), so a
 * flood of slow clients cannot silence /metrics and /readyz.
 * libmicrohttpd runs its own thread; the handlers are called on it and must
 * be thread-safe.  Anything else answers 404, other methods 405.
 */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <stddef.h>

typedef struct cs_http_handlers {
    void *opaque;
    /* Renders metrics into a malloc'd buffer.  0 or a negative error. */
    int (*metrics)(void *opaque, int openmetrics, char **ret_buf, size_t *ret_len);
    /* Returns 1 if ready (with a warning in reason, or reason ""), else 0
     * with the reason written to reason. */
    int (*ready)(void *opaque, char *reason, size_t size);
} cs_http_handlers;

typedef struct cs_http cs_http;

/* Connection limits (guard.h): a scrape finds a place while slow or
 * excess clients hold the rest. */
typedef struct cs_http_limits {
    unsigned max_connections; /* an eighth of them kept free for whole requests */
    unsigned per_ip;          /* 0: no cap per client address */
    unsigned header_timeout_s;
} cs_http_limits;

/* Listens on listen ("host:port"; port 0 picks a free one).  Returns the
 * server, or NULL with err filled. */
cs_http *cs_http_start(const char *listen, const cs_http_handlers *h,
                       const cs_http_limits *limits, char *err, size_t errsize);

/* The port actually bound. */
int cs_http_port(const cs_http *s);

/* Stops the server and waits for its thread; NULL allowed. */
void cs_http_stop(cs_http *s);

#endif
