/* bench_pipeline - single-thread throughput of the pure processing path:
 * decode (JSON or MessagePack) → rule match → price → aggregate, over events
 * shaped like the load generator's, against rules/example.json.  Redis and
 * PostgreSQL are not involved (their cost is measured end to end by
 * scripts/demo; see docs/performance.md).
 *
 *   build/bench/bench_pipeline [EVENTS]
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg.h"
#include "event.h"
#include "pricing.h"
#include "rules.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const products[][3] = {
    {"agent-orchestration", "llm_tokens", "\"model\":\"large\""},
    {"agent-orchestration", "agent_runs", "\"api_key\":\"ak_00042_live\""},
    {"sandbox-execution", "cpu_seconds", "\"tier\":\"gpu-a100\",\"sandbox_id\":\"sbx-00042\""},
    {"api-gateway", "requests", "\"region\":\"eu-west-1\""},
    {"data-pipeline", "gb_scanned", "\"namespace\":\"ns-00042\""},
};

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    cs_rules *rs;
    cs_errlist errs = {0};
    if (cs_rules_load(CS_SOURCE_ROOT "/rules/example.json", &rs, &errs) < 0) {
        fprintf(stderr, "rules: %s\n", errs.n ? errs.items[0] : "?");
        return 1;
    }
    enum { NSAMPLES = 1000 };
    char **json = calloc(NSAMPLES, sizeof(char *));
    msgpack_sbuffer *mp = calloc(NSAMPLES, sizeof(msgpack_sbuffer));
    size_t json_bytes = 0;
    for (int i = 0; i < NSAMPLES; i++) {
        const char *const *p = products[i % 5];
        char q[32];
        snprintf(q, sizeof(q), i % 2 ? "%d.%03d" : "%d", 1 + i * 7 % 5000, i % 1000);
        if (asprintf(&json[i],
                     "{\"specversion\":\"1.0\",\"id\":\"evt-%d\",\"source\":\"//platform/%s\","
                     "\"type\":\"com.example.usage.v1\",\"subject\":\"cus_%05d\","
                     "\"time\":\"2026-11-%02dT%02d:15:00Z\",\"datacontenttype\":\"application/json\","
                     "\"data\":{\"product\":\"%s\",\"meter\":\"%s\",\"quantity\":%s%s%s,\"labels\":{%s}}}",
                     i, p[0], i % 200, 1 + i % 28, i % 24, p[0], p[1], i % 4 ? "" : "\"", q,
                     i % 4 ? "" : "\"", p[2]) < 0)
            return 1;
        json_bytes += strlen(json[i]);
        cs_event ev;
        cs_event_error err;
        if (cs_event_decode(json[i], strlen(json[i]), 0, CS_EVENT_FORMAT_AUTO, &ev, &err) < 0) {
            fprintf(stderr, "sample %d: %s\n", i, err.detail);
            return 1;
        }
        /* the same event as MessagePack */
        msgpack_sbuffer_init(&mp[i]);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &mp[i], msgpack_sbuffer_write);
#define S(s) do { msgpack_pack_str(&pk, strlen(s)); msgpack_pack_str_body(&pk, s, strlen(s)); } while (0)
        msgpack_pack_map(&pk, 7);
        S("specversion"); S("1.0"); S("id"); S(ev.id); S("source"); S(ev.source);
        S("type"); S(ev.type); S("subject"); S(ev.subject); S("time");
        char tbuf[32];
        snprintf(tbuf, sizeof(tbuf), "2026-11-%02dT%02d:15:00Z", 1 + i % 28, i % 24);
        S(tbuf); S("data");
        msgpack_pack_map(&pk, 4);
        S("product"); S(ev.product); S("meter"); S(ev.meter); S("quantity"); S(q);
        S("labels");
        msgpack_pack_map(&pk, ev.nlabels);
        for (size_t l = 0; l < ev.nlabels; l++) {
            S(ev.labels[l].name);
            S(ev.labels[l].value);
        }
#undef S
    }
    static cs_event ev;
    for (int fmt = 0; fmt < 2; fmt++) {
        cs_agg *agg = cs_agg_new();
        double t0 = now();
        for (long i = 0; i < n; i++) {
            cs_event_error err;
            int k = (int)(i % NSAMPLES);
            const void *buf = fmt ? (const void *)mp[k].data : json[k];
            size_t len = fmt ? mp[k].size : strlen(json[k]);
            if (cs_event_decode(buf, len, 65536, CS_EVENT_FORMAT_AUTO, &ev, &err) < 0)
                return 1;
            const cs_rule *r = cs_pricing_match(rs, ev.product, ev.meter, ev.time_usec, ev.labels,
                                                ev.nlabels);
            cs_price p;
            if (!r || cs_pricing_price(rs, r, "pro", ev.quantity, &p) < 0)
                return 1;
            cs_agg_key key = {.hour_usec = ev.time_usec - ev.time_usec % 3600000000LL,
                              .customer = ev.subject, .product = ev.product, .meter = ev.meter,
                              .rule_id = r->id, .rules_version = rs->version, .plan = "pro",
                              .currency = rs->currency, .unit = r->unit,
                              .unit_price = r->unit_price, .discount_rate = p.discount_rate};
            if (cs_agg_add(agg, &key, ev.quantity, p.list_cost, p.discount, p.cost, NULL) < 0)
                return 1;
        }
        double dt = now() - t0;
        printf("%-8s %ld events in %.3f s: %.0f events/s per core (%zu aggregate rows)\n",
               fmt ? "msgpack" : "json", n, dt, (double)n / dt, cs_agg_count(agg));
        cs_agg_free(agg);
    }
    printf("average JSON event: %zu bytes\n", json_bytes / NSAMPLES);
    for (int i = 0; i < NSAMPLES; i++) {
        free(json[i]);
        msgpack_sbuffer_destroy(&mp[i]);
    }
    free(json);
    free(mp);
    cs_rules_free(rs);
    cs_errlist_free(&errs);
    return 0;
}
