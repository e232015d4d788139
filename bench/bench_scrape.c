/* bench_scrape - how long a /metrics scrape takes with many customers.
 *
 * Fills the worker's telemetry with CUSTOMERS customers, each with cost,
 * list cost, usage and event counters for 4 product/meter pairs plus a
 * month-to-date gauge, serves it with the real HTTP endpoint on loopback, and
 * times complete GET /metrics requests (connect to last byte).
 *
 *   build/bench/bench_scrape [CUSTOMERS] [SCRAPES]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "http.h"
#include "telemetry.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int render(void *opaque, int om, char **buf, size_t *len)
{
    return cs_telemetry_render(opaque, om, buf, len);
}

static int ready(void *opaque, char *reason, size_t size)
{
    (void)opaque;
    (void)reason;
    (void)size;
    return 1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int customers = argc > 1 ? atoi(argv[1]) : 10000;
    int scrapes = argc > 2 ? atoi(argv[2]) : 20;
    cs_telemetry *t = cs_telemetry_new((size_t)customers + 1, "bench");
    static const char *const pm[][3] = {{"agent-orchestration", "llm_tokens", "token"},
                                        {"sandbox-execution", "cpu_seconds", "cpu-second"},
                                        {"api-gateway", "requests", "request"},
                                        {"data-pipeline", "gb_scanned", "GB"}};
    cs_agg *agg = cs_agg_new();
    char cust[32], cost[32];
    for (int c = 0; c < customers; c++) {
        snprintf(cust, sizeof(cust), "cus_%05d", c);
        for (int k = 0; k < 4; k++) {
            cs_agg_key key = {.customer = cust, .product = pm[k][0], .meter = pm[k][1],
                              .rule_id = "r", .rules_version = "v", .plan = c % 3 ? "pro" : "free",
                              .currency = "USD", .unit = pm[k][2]};
            cs_dec q = cs_dec_from_int(c + k);
            cs_agg_add(agg, &key, q, q, cs_dec_zero(), q, NULL);
        }
        snprintf(cost, sizeof(cost), "%d.25", c);
        cs_telemetry_month_to_date(t, cust, "USD", cost);
    }
    cs_telemetry_flush(t, CS_FLUSH_OK, 12345, agg);
    cs_agg_free(agg);

    char err[256];
    cs_http_handlers h = {t, render, ready};
    cs_http_limits lim = {128, 0, 5};
    cs_http *srv = cs_http_start("127.0.0.1:0", &h, &lim, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double *times = calloc((size_t)scrapes, sizeof(double));
    size_t bytes = 0;
    char *buf = malloc(1 << 20);
    for (int i = 0; i < scrapes; i++) {
        double t0 = now();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cs_http_port(srv))};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
            return 1;
        const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        if (write(fd, req, sizeof(req) - 1) < 0)
            return 1;
        ssize_t n;
        bytes = 0;
        while ((n = read(fd, buf, 1 << 20)) > 0)
            bytes += (size_t)n;
        close(fd);
        times[i] = now() - t0;
    }
    qsort(times, (size_t)scrapes, sizeof(double), cmp);
    printf("%d customers, %zu bytes per scrape: median %.1f ms, max %.1f ms over %d scrapes\n",
           customers, bytes, times[scrapes / 2] * 1000, times[scrapes - 1] * 1000, scrapes);
    free(buf);
    free(times);
    cs_http_stop(srv);
    cs_telemetry_free(t);
    return 0;
}
