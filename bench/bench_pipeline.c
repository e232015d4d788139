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
#include "sample.h"

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

enum { NSAMPLES = 1000 };

/* Metric samples shaped like prometheus-kafka-adapter's, JSON or
 * MessagePack: a Kubernetes series with six labels. */
static void make_sample(int i, const char *name, char **ret_json, msgpack_sbuffer *ret_mp)
{
    char ts[32], v[32], pod[32];
    snprintf(ts, sizeof(ts), "2026-11-%02dT%02d:%02d:%02dZ", 1 + i % 28, i % 24, i % 60, i % 60);
    snprintf(v, sizeof(v), "%d.%d", i * 37, i % 10);
    snprintf(pod, sizeof(pod), "sbx-%05d-7f9c", i);
    if (asprintf(ret_json,
                 "{\"timestamp\":\"%s\",\"value\":\"%s\",\"name\":\"%s\",\"labels\":{\"__name__\":\"%s\","
                 "\"namespace\":\"ns-%05d\",\"pod\":\"%s\",\"container\":\"runner\",\"node\":\"node-%02d\","
                 "\"instance\":\"10.0.%d.%d:9100\",\"job\":\"kubelet\"}}",
                 ts, v, name, name, i % 1000, pod, i % 40, i % 250, i % 200) < 0)
        abort();
    msgpack_sbuffer_init(ret_mp);
    msgpack_packer pk;
    msgpack_packer_init(&pk, ret_mp, msgpack_sbuffer_write);
#define S(s) do { msgpack_pack_str(&pk, strlen(s)); msgpack_pack_str_body(&pk, s, strlen(s)); } while (0)
    char ns[32], node[32], inst[32];
    snprintf(ns, sizeof(ns), "ns-%05d", i % 1000);
    snprintf(node, sizeof(node), "node-%02d", i % 40);
    snprintf(inst, sizeof(inst), "10.0.%d.%d:9100", i % 250, i % 200);
    msgpack_pack_map(&pk, 4);
    S("timestamp"); S(ts); S("value"); S(v); S("name"); S(name);
    S("labels");
    msgpack_pack_map(&pk, 7);
    S("__name__"); S(name); S("namespace"); S(ns); S("pod"); S(pod); S("container"); S("runner");
    S("node"); S(node); S("instance"); S(inst); S("job"); S("kubelet");
#undef S
}

/* Samples per second of one path over the prepared messages. */
static double sample_rate(const cs_rules *rs, char **json, msgpack_sbuffer *mp, int fmt, int full,
                          long n)
{
    static cs_sample s;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        int k = (int)(i % NSAMPLES);
        const void *buf = fmt ? (const void *)mp[k].data : json[k];
        size_t len = fmt ? mp[k].size : strlen(json[k]);
        cs_sample_head h;
        cs_event_error err;
        /* the worker's path: the head first; a priced metric is then decoded */
        if (!full && cs_sample_peek(buf, len, 65536, CS_EVENT_FORMAT_AUTO, &h) == 0 &&
            !cs_pricing_prices_metric(rs, h.name))
            continue;
        if (cs_sample_decode(buf, len, 65536, CS_EVENT_FORMAT_AUTO, &s, &err) < 0)
            abort();
        const cs_rule *r = cs_pricing_match_metric(rs, s.name, s.time_usec, s.labels, s.nlabels);
        cs_price p;
        if (r && cs_pricing_price(rs, r, "pro", cs_dec_zero(), &p) < 0)
            abort();
    }
    return (double)n / (now() - t0);
}

/* Unpriced samples skipped on their head (the worker's path), the same
 * decoded fully (the path before), and priced samples through the worker's
 * path (head, then decoded, matched and priced; settlement, which needs the
 * series state, is not included) and decoded directly, which shows what
 * reading the head first costs them. */
static void bench_samples(const cs_rules *rs, long n)
{
    static char *json[2][NSAMPLES];
    static msgpack_sbuffer mp[2][NSAMPLES];
    for (int i = 0; i < NSAMPLES; i++) {
        make_sample(i, i % 2 ? "node_cpu_seconds_total" : "kube_pod_status_phase", &json[0][i],
                    &mp[0][i]);
        make_sample(i, "container_cpu_usage_seconds_total", &json[1][i], &mp[1][i]);
    }
    static const char *const fmts[] = {"json", "msgpack"};
    for (int fmt = 0; fmt < 2; fmt++) {
        printf("samples-unpriced-%s: %.0f samples/s per core skipped on name and time\n", fmts[fmt],
               sample_rate(rs, json[0], mp[0], fmt, 0, n));
        printf("samples-unpriced-decoded-%s: %.0f samples/s per core decoded fully\n", fmts[fmt],
               sample_rate(rs, json[0], mp[0], fmt, 1, n / 4));
        printf("samples-priced-%s: %.0f samples/s per core head, decoded, matched, priced\n",
               fmts[fmt], sample_rate(rs, json[1], mp[1], fmt, 0, n / 4));
        printf("samples-priced-direct-%s: %.0f samples/s per core decoded, matched, priced\n",
               fmts[fmt], sample_rate(rs, json[1], mp[1], fmt, 1, n / 4));
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < NSAMPLES; i++) {
            free(json[k][i]);
            msgpack_sbuffer_destroy(&mp[k][i]);
        }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    cs_rules *rs;
    cs_errlist errs = {0};
    if (cs_rules_load(CS_SOURCE_ROOT "/rules/example.json", &rs, &errs) < 0) {
        fprintf(stderr, "rules: %s\n", errs.n ? errs.items[0] : "?");
        return 1;
    }
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
    bench_samples(rs, 2 * n);
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
