/* http.c - libmicrohttpd server for /metrics, /healthz and /readyz (see
 * http.h).  One internal polling thread; responses are built in memory and
 * handed to libmicrohttpd, which frees them. */
#include "http.h"

#include "guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_http {
    cs_guard *g;
    cs_http_handlers h;
    int port;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    cs_http *s = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                         "method not allowed\n", 19, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
        int om = accept && strstr(accept, "application/openmetrics-text") != NULL;
        char *buf;
        size_t len;
        if (s->h.metrics(s->h.opaque, om, &buf, &len) < 0)
            return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                             "cannot render metrics\n", 22, MHD_RESPMEM_PERSISTENT);
        return send_text(c, MHD_HTTP_OK,
                         om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                            : "text/plain; version=0.0.4; charset=utf-8",
                         buf, len, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0)
        return send_text(c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n", 3,
                         MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/readyz") == 0) {
        char reason[256] = "", body[300];
        if (s->h.ready(s->h.opaque, reason, sizeof(reason))) {
            int n = snprintf(body, sizeof(body), reason[0] ? "ready; warning: %s\n" : "ready\n",
                             reason);
            return send_text(c, MHD_HTTP_OK, "text/plain; charset=utf-8", body, (size_t)n,
                             MHD_RESPMEM_MUST_COPY);
        }
        int n = snprintf(body, sizeof(body), "not ready: %s\n", reason);
        return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body,
                         (size_t)n, MHD_RESPMEM_MUST_COPY);
    }
    return send_text(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "not found\n", 10,
                     MHD_RESPMEM_PERSISTENT);
}

cs_http *cs_http_start(const char *listen, const cs_http_handlers *h,
                       const cs_http_limits *limits, char *err, size_t errsize)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct sockaddr_in sa = {0};

    if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
        snprintf(err, errsize, "http.listen: \"%s\" is not host:port", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (*end || port < 0 || port > 65535 ||
        inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1) {
        snprintf(err, errsize, "http.listen: \"%s\" is not an IPv4 host:port", listen);
        return NULL;
    }
    cs_http *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    s->h = *h;
    struct MHD_OptionItem opts[] = {{MHD_OPTION_SOCK_ADDR, 0, &sa}, {MHD_OPTION_END, 0, NULL}};
    cs_guard_limits lim = {limits->max_connections, cs_guard_reserve(limits->max_connections),
                           limits->per_ip, limits->header_timeout_s, 30};
    s->g = cs_guard_start(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, &lim, handle, NULL, s,
                          opts);
    if (!s->g) {
        snprintf(err, errsize, "http: cannot listen on %s: %s", listen, strerror(errno));
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(cs_guard_daemon(s->g), MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : (int)port;
    return s;
}

int cs_http_port(const cs_http *s)
{
    return s->port;
}

void cs_http_stop(cs_http *s)
{
    if (!s)
        return;
    cs_guard_stop(s->g);
    free(s);
}
