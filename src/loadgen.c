/* loadgen.c - the traffic generator (see loadgen.h).
 *
 * Everything is derived from a splitmix64 stream seeded by --seed, so a run
 * is reproducible.  Totals of the accepted events are summed with the decimal
 * module (exact) in a cs_agg keyed by customer, product and meter.
 */
#include "loadgen.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agg.h"
#include "decimal.h"
#include "labels.h"
#include "timestamp.h"

typedef struct meter_def {
    const char *product;
    const char *meter;
    unsigned max_int;   /* quantity = 1 + rand % max_int ... */
    unsigned decimals;  /* ... with this many random decimals */
} meter_def;

static const meter_def meters[] = {
    {"agent-orchestration", "agent_runs", 3, 0},
    {"agent-orchestration", "llm_tokens", 40000, 0},
    {"agent-orchestration", "tool_calls", 20, 0},
    {"sandbox-execution", "cpu_seconds", 300, 3},
    {"sandbox-execution", "memory_gib_seconds", 2000, 3},
    {"api-gateway", "requests", 50, 0},
    {"api-gateway", "egress_bytes", 5000000, 0},
    {"data-pipeline", "records", 100000, 0},
    {"data-pipeline", "gb_scanned", 20, 6},
};
#define NMETERS (sizeof(meters) / sizeof(meters[0]))

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const char *plan_of(unsigned c)
{
    unsigned h = (c * 2654435761u) % 10;
    return h < 6 ? "free" : h < 9 ? "pro" : "enterprise";
}

int cs_loadgen_write_redis(const cs_loadgen_opts *o, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    for (unsigned c = 1; c <= o->customers; c++) {
        fprintf(f, "HSET costream:customer:cus_%05u plan %s name \"Customer %05u\" cost_center cc-%02u\n",
                c, plan_of(c), c, c % 17);
        fprintf(f, "SET costream:label:api_key:ak_%05u_live cus_%05u\n", c, c);
        fprintf(f, "SET costream:label:namespace:ns-%05u cus_%05u\n", c, c);
        fprintf(f, "SET costream:label:sandbox_id:sbx-%05u cus_%05u\n", c, c);
    }
    return fclose(f) == 0 ? 0 : -errno;
}

typedef struct gen_event {
    char id[64], subject[64], time[CS_TIMESTAMP_STRLEN], quantity[48];
    const char *product, *meter;
    const char *label_name[3];
    char label_value[3][64];
    int nlabels;
    int quantity_is_string;
    int defect; /* -1: none */
} gen_event;

/* Known defects and the reason costream gives for each. */
static const char *const defect_reason_json[] = {
    "malformed_json", "invalid_quantity", "invalid_quantity", "invalid_time",
    "unpriced",       "missing_field",    "invalid_utf8",     "wrong_type"};
#define NDEFECTS 8

static void make_event(const cs_loadgen_opts *o, uint64_t *rs, uint64_t seq, gen_event *e,
                       const char **ret_customer)
{
    unsigned c = 1 + (unsigned)(next_rand(rs) % o->customers);
    const meter_def *m = &meters[next_rand(rs) % NMETERS];
    static char cust[64];

    memset(e, 0, sizeof(*e));
    e->defect = -1;
    snprintf(e->id, sizeof(e->id), "evt-%" PRIu64 "-%" PRIu64, o->seed, seq);
    e->product = m->product;
    e->meter = m->meter;
    int64_t t = o->start_usec + (int64_t)(next_rand(rs) % (uint64_t)(o->span_usec / CS_USEC_PER_SEC)) * CS_USEC_PER_SEC;
    cs_timestamp_format(t, e->time, sizeof(e->time));
    uint64_t q = 1 + next_rand(rs) % m->max_int;
    if (m->decimals) {
        uint64_t scale = 1;
        for (unsigned i = 0; i < m->decimals; i++)
            scale *= 10;
        snprintf(e->quantity, sizeof(e->quantity), "%" PRIu64 ".%0*" PRIu64, q - 1,
                 (int)m->decimals, next_rand(rs) % scale);
    } else {
        snprintf(e->quantity, sizeof(e->quantity), "%" PRIu64, q);
    }
    e->quantity_is_string = (int)(next_rand(rs) % 2);
    snprintf(cust, sizeof(cust), "cus_%05u", c);
    *ret_customer = cust;
    if (next_rand(rs) % 1000 < o->unattributed_pm) {
        e->label_name[0] = "api_key";
        snprintf(e->label_value[0], sizeof(e->label_value[0]), "ak_unknown_%" PRIu64,
                 next_rand(rs) % 100000);
        e->nlabels = 1;
        *ret_customer = CS_UNATTRIBUTED;
    } else {
        unsigned how = (unsigned)(next_rand(rs) % 20);
        if (how < 12) {
            snprintf(e->subject, sizeof(e->subject), "cus_%05u", c);
        } else if (how < 16) {
            e->label_name[0] = "api_key";
            snprintf(e->label_value[0], sizeof(e->label_value[0]), "ak_%05u_live", c);
            e->nlabels = 1;
        } else if (strcmp(m->product, "sandbox-execution") == 0) {
            e->label_name[0] = "sandbox_id";
            snprintf(e->label_value[0], sizeof(e->label_value[0]), "sbx-%05u", c);
            e->nlabels = 1;
        } else {
            e->label_name[0] = "namespace";
            snprintf(e->label_value[0], sizeof(e->label_value[0]), "ns-%05u", c);
            e->nlabels = 1;
        }
    }
    if (strcmp(m->meter, "llm_tokens") == 0) {
        e->label_name[e->nlabels] = "model";
        snprintf(e->label_value[e->nlabels], 64, "%s", next_rand(rs) % 3 ? "small" : "large");
        e->nlabels++;
    }
    if (strcmp(m->meter, "cpu_seconds") == 0) {
        e->label_name[e->nlabels] = "tier";
        snprintf(e->label_value[e->nlabels], 64, "%s", next_rand(rs) % 5 ? "standard" : "gpu");
        e->nlabels++;
    }
    if (next_rand(rs) % 1000 < o->malformed_pm)
        e->defect = (int)(next_rand(rs) % NDEFECTS);
}

static size_t encode_json(const gen_event *e, char *buf, size_t size)
{
    char labels[512] = "", subject[96] = "", q[64];
    size_t l = 0;
    const char *qv = e->quantity;
    const char *product = e->product, *meter = e->meter, *time = e->time;

    if (e->defect == 1)
        qv = "-5";
    else if (e->defect == 2)
        qv = "NaN";
    if (e->defect == 3)
        time = "2026-13-45T25:61:00Z";
    if (e->defect == 4)
        meter = "teleport_minutes";
    if (e->defect == 7)
        snprintf(q, sizeof(q), "true");
    else if (e->quantity_is_string || e->defect == 2)
        snprintf(q, sizeof(q), "\"%s\"", qv);
    else
        snprintf(q, sizeof(q), "%s", qv);
    for (int i = 0; i < e->nlabels; i++)
        l += (size_t)snprintf(labels + l, sizeof(labels) - l, "%s\"%s\":\"%s\"", i ? "," : "",
                              e->label_name[i], e->label_value[i]);
    if (e->subject[0])
        snprintf(subject, sizeof(subject), "\"subject\":\"%s%s\",", e->subject,
                 e->defect == 6 ? "\xff\xfe" : "");
    else if (e->defect == 6)
        snprintf(subject, sizeof(subject), "\"subject\":\"bad\xc3\x28\",");
    int n = snprintf(buf, size,
                     "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"//platform/%s\","
                     "\"type\":\"com.example.usage.v1\",%s\"time\":\"%s\","
                     "\"datacontenttype\":\"application/json\","
                     "\"data\":{%s%s%s\"meter\":\"%s\",\"quantity\":%s,\"labels\":{%s}}}",
                     e->id, e->product, subject, time, e->defect == 5 ? "" : "\"product\":\"",
                     e->defect == 5 ? "" : product, e->defect == 5 ? "" : "\",", meter, q, labels);
    if (n < 0 || (size_t)n >= size)
        return 0;
    if (e->defect == 0)
        n /= 2; /* truncated */
    return (size_t)n;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void encode_msgpack(const gen_event *e, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int has_subject = e->subject[0] || e->defect == 6;
    msgpack_pack_map(&pk, 6 + (size_t)has_subject);
    pack_str(&pk, "specversion");
    pack_str(&pk, "1.0");
    pack_str(&pk, "id");
    pack_str(&pk, e->id);
    pack_str(&pk, "source");
    char src[96];
    snprintf(src, sizeof(src), "//platform/%s", e->product);
    pack_str(&pk, src);
    pack_str(&pk, "type");
    pack_str(&pk, "com.example.usage.v1");
    if (has_subject) {
        pack_str(&pk, "subject");
        if (e->defect == 6) {
            msgpack_pack_str(&pk, 4);
            msgpack_pack_str_body(&pk, "b\xc3\x28x", 4);
        } else {
            pack_str(&pk, e->subject);
        }
    }
    pack_str(&pk, "time");
    pack_str(&pk, e->defect == 3 ? "yesterday" : e->time);
    pack_str(&pk, "data");
    msgpack_pack_map(&pk, e->defect == 5 ? 3 : 4);
    if (e->defect != 5) {
        pack_str(&pk, "product");
        pack_str(&pk, e->product);
    }
    pack_str(&pk, "meter");
    pack_str(&pk, e->defect == 4 ? "teleport_minutes" : e->meter);
    pack_str(&pk, "quantity");
    if (e->defect == 1)
        msgpack_pack_int64(&pk, -5);
    else if (e->defect == 2)
        pack_str(&pk, "NaN");
    else if (e->defect == 7)
        msgpack_pack_true(&pk);
    else if (!e->quantity_is_string && !strchr(e->quantity, '.'))
        msgpack_pack_uint64(&pk, strtoull(e->quantity, NULL, 10));
    else
        pack_str(&pk, e->quantity);
    pack_str(&pk, "labels");
    msgpack_pack_map(&pk, (size_t)e->nlabels);
    for (int i = 0; i < e->nlabels; i++) {
        pack_str(&pk, e->label_name[i]);
        pack_str(&pk, e->label_value[i]);
    }
    if (e->defect == 0)
        sb->size /= 2;
}

static int write_totals(const cs_loadgen_opts *o, const cs_agg *agg, uint64_t produced,
                        uint64_t duplicates, const uint64_t *defects, char *err, size_t errsize)
{
    FILE *f = fopen(o->totals_path, "w");
    if (!f) {
        snprintf(err, errsize, "%s: %s", o->totals_path, strerror(errno));
        return -errno;
    }
    uint64_t rejected = 0;
    for (int d = 0; d < NDEFECTS; d++)
        rejected += defects[d];
    fprintf(f, "{\"produced\": %" PRIu64 ", \"duplicates\": %" PRIu64 ", \"accepted\": %" PRIu64
               ", \"rejected\": {", produced, duplicates, produced - duplicates - rejected);
    /* several defects share a reason: sum per reason name */
    int first = 1;
    for (int d = 0; d < NDEFECTS; d++) {
        const char *reason = d == 0 && o->msgpack ? "malformed_msgpack" : defect_reason_json[d];
        int dup = 0;
        for (int k = 0; k < d; k++)
            dup = dup || strcmp(defect_reason_json[k], defect_reason_json[d]) == 0;
        if (dup)
            continue;
        uint64_t n = 0;
        for (int k = d; k < NDEFECTS; k++)
            if (strcmp(defect_reason_json[k], defect_reason_json[d]) == 0)
                n += defects[k];
        fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ", reason, n);
        first = 0;
    }
    fprintf(f, "},\n \"lines\": [\n");
    for (size_t i = 0; i < cs_agg_count(agg); i++) {
        const cs_agg_row *r = cs_agg_row_at(agg, i);
        char q[CS_DEC_STRLEN];
        cs_dec_format(r->quantity, 12, q, sizeof(q));
        fprintf(f, "  {\"customer\": \"%s\", \"product\": \"%s\", \"meter\": \"%s\", "
                   "\"quantity\": \"%s\", \"events\": %" PRId64 "}%s\n",
                r->key.customer, r->key.product, r->key.meter, q, r->events,
                i + 1 < cs_agg_count(agg) ? "," : "");
    }
    fprintf(f, " ]}\n");
    if (fclose(f) != 0) {
        snprintf(err, errsize, "%s: %s", o->totals_path, strerror(errno));
        return -EIO;
    }
    return 0;
}

/* A producer for opts (bootstrap and kafka.* settings).  NULL with err. */
static rd_kafka_t *new_producer(const cs_loadgen_opts *o, char *err, size_t errsize)
{
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, e, sizeof(e)) ||
        rd_kafka_conf_set(conf, "linger.ms", "20", e, sizeof(e)) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof(e))) {
        snprintf(err, errsize, "kafka: %s", e);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (size_t i = 0; o->kafka && i < o->kafka->nkafka; i++)
        if (rd_kafka_conf_set(conf, o->kafka->kafka[i].key, o->kafka->kafka[i].value, e,
                              sizeof(e))) {
            snprintf(err, errsize, "kafka.%s: %s", o->kafka->kafka[i].key, e);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!rk) {
        snprintf(err, errsize, "kafka: %s", e);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static int produce_to(rd_kafka_t *rk, const char *topic, int32_t partition, const char *payload,
                      size_t len, char *err, size_t errsize)
{
    for (;;) {
        rd_kafka_resp_err_t re = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (re == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        if (re) {
            snprintf(err, errsize, "kafka: produce: %s", rd_kafka_err2str(re));
            return -EIO;
        }
        rd_kafka_poll(rk, 0);
        return 0;
    }
}

int cs_loadgen_metrics(const cs_loadgen_opts *o, volatile sig_atomic_t *stop, char *err,
                       size_t errsize)
{
    rd_kafka_t *rk = new_producer(o, err, errsize);
    if (!rk)
        return -EINVAL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, o->metrics_topic, NULL);
    int parts = 0, ret = 0;
    if (t && rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            parts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (t)
        rd_kafka_topic_destroy(t);
    if (parts <= 0) {
        snprintf(err, errsize, "kafka: cannot read the partitions of %s", o->metrics_topic);
        rd_kafka_destroy(rk);
        return -EIO;
    }
    uint64_t rs = o->seed ^ 0x5eed;
    unsigned npods = o->metric_pods ? o->metric_pods : 1;
    uint64_t *cpu = calloc(npods, sizeof(*cpu)), *egress = calloc(npods, sizeof(*egress));
    char buf[1024], ts[CS_TIMESTAMP_STRLEN];
    int64_t step = (int64_t)(o->metric_interval_s ? o->metric_interval_s : 15) * CS_USEC_PER_SEC;
    for (int64_t now = o->metric_start_usec; ret == 0 && now < o->metric_end_usec && !*stop;
         now += step) {
        cs_timestamp_format(now, ts, sizeof(ts));
        for (unsigned p = 0; ret == 0 && p < npods; p++) {
            /* one pod in ten runs in a namespace nobody maps: unattributed */
            char ns[32];
            unsigned c = 1 + p % (o->customers ? o->customers : 1);
            if (p % 10 == 9)
                snprintf(ns, sizeof(ns), "kube-system");
            else
                snprintf(ns, sizeof(ns), "ns-%05u", c);
            int sandbox = p % 2 == 0;
            cpu[p] += 1000 + next_rand(&rs) % 60000; /* milli-CPU-seconds */
            if (next_rand(&rs) % 500 == 0)
                cpu[p] = next_rand(&rs) % 1000; /* container restart: counter reset */
            egress[p] += next_rand(&rs) % 50000000;
            uint64_t mem = (64 + next_rand(&rs) % 4000) * 1048576;
            struct { const char *name; char value[48]; } m[2];
            m[0].name = "container_cpu_usage_seconds_total";
            snprintf(m[0].value, sizeof(m[0].value), "%" PRIu64 ".%03" PRIu64, cpu[p] / 1000, cpu[p] % 1000);
            if (sandbox) {
                m[1].name = "container_memory_working_set_bytes";
                snprintf(m[1].value, sizeof(m[1].value), "%" PRIu64, mem);
            } else {
                m[1].name = next_rand(&rs) % 2 ? "container_network_transmit_bytes_total"
                                               : "pipeline_storage_bytes";
                if (m[1].name[0] == 'c')
                    snprintf(m[1].value, sizeof(m[1].value), "%" PRIu64, egress[p]);
                else
                    snprintf(m[1].value, sizeof(m[1].value), "%" PRIu64, (uint64_t)((1000 + (uint64_t)p) * UINT64_C(1073741824)));
            }
            for (int k = 0; ret == 0 && k < 2; k++) {
                int n = snprintf(buf, sizeof(buf),
                                 "{\"timestamp\":\"%s\",\"value\":\"%s\",\"name\":\"%s\","
                                 "\"labels\":{\"__name__\":\"%s\",\"namespace\":\"%s\","
                                 "\"pod\":\"%s-%05u\",\"container\":\"main\"}}",
                                 ts, m[k].value, m[k].name, m[k].name, ns,
                                 sandbox ? "sbx" : "pipe", p);
                ret = produce_to(rk, o->metrics_topic, (int32_t)(next_rand(&rs) % (uint64_t)parts),
                                 buf, (size_t)n, err, errsize);
            }
        }
    }
    /* every partition passes the end: the settlement watermark follows */
    cs_timestamp_format(o->metric_end_usec, ts, sizeof(ts));
    for (int p = 0; ret == 0 && p < parts; p++) {
        int n = snprintf(buf, sizeof(buf),
                         "{\"timestamp\":\"%s\",\"value\":\"1\",\"name\":\"costream_loadgen_tick\","
                         "\"labels\":{}}", ts);
        ret = produce_to(rk, o->metrics_topic, p, buf, (size_t)n, err, errsize);
    }
    if (ret == 0 && rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errsize, "kafka: %d messages not delivered within 60 s", rd_kafka_outq_len(rk));
        ret = -EIO;
    }
    free(cpu);
    free(egress);
    rd_kafka_destroy(rk);
    return ret;
}

static int64_t elapsed_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * CS_USEC_PER_SEC + (now.tv_nsec - t0->tv_nsec) / 1000;
}

static void report_progress(const cs_loadgen_opts *o, uint64_t done, uint64_t duplicates,
                            const uint64_t *defects, int64_t elapsed, int finished)
{
    cs_loadgen_progress p = {done, o->count, duplicates, 0, elapsed, finished};
    for (int d = 0; d < NDEFECTS; d++)
        p.malformed += defects[d];
    o->progress(o->progress_opaque, &p);
}

int cs_loadgen_run(const cs_loadgen_opts *o, volatile sig_atomic_t *stop, char *err,
                   size_t errsize)
{
    uint64_t rs = o->seed, defects[NDEFECTS] = {0}, produced = 0, duplicates = 0;
    char last[2048];
    size_t last_len = 0;
    char last_key[64] = "";
    int ret = 0;

    rd_kafka_t *rk = new_producer(o, err, errsize);
    if (!rk)
        return -EINVAL;
    cs_agg *totals = cs_agg_new();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t next_report = 0;
    uint64_t seq = 0;
    for (; seq < o->count && !*stop; seq++) {
        if (o->progress && (seq & 1023) == 0 && elapsed_since(&t0) >= next_report) {
            report_progress(o, seq, duplicates, defects, elapsed_since(&t0), 0);
            next_report = elapsed_since(&t0) + CS_USEC_PER_SEC / 4;
        }
        gen_event ev;
        const char *customer;
        char buf[2048];
        const void *payload = buf;
        size_t len;

        make_event(o, &rs, seq, &ev, &customer);
        if (o->msgpack) {
            encode_msgpack(&ev, &sb);
            payload = sb.data;
            len = sb.size;
        } else {
            len = encode_json(&ev, buf, sizeof(buf));
        }
        /* now and then, send an earlier valid event again before this one */
        int again = last_len && next_rand(&rs) % 1000 < o->duplicate_pm;
        for (;;) {
            const char *k = again ? last_key : customer;
            rd_kafka_resp_err_t re = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_KEY(k, strlen(k)),
                RD_KAFKA_V_VALUE(again ? (void *)last : (void *)payload, again ? last_len : len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (re == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 50);
                continue;
            }
            if (re) {
                snprintf(err, errsize, "kafka: produce: %s", rd_kafka_err2str(re));
                ret = -EIO;
                goto out;
            }
            produced++;
            if (!again)
                break;
            duplicates++;
            again = 0;
        }
        if (ev.defect < 0 && len <= sizeof(last)) {
            memcpy(last, payload, len);
            last_len = len;
            snprintf(last_key, sizeof(last_key), "%s", customer);
        }
        if (ev.defect >= 0) {
            defects[ev.defect]++;
        } else if (totals) {
            cs_dec q;
            cs_dec_parse(ev.quantity, strlen(ev.quantity), &q);
            cs_agg_key k = {.customer = customer, .product = ev.product, .meter = ev.meter,
                            .rule_id = "", .rules_version = "", .plan = "", .currency = "",
                            .unit = ""};
            cs_agg_add(totals, &k, q, cs_dec_zero(), cs_dec_zero(), cs_dec_zero(), NULL);
        }
        rd_kafka_poll(rk, 0);
        if (o->rate) {
            int64_t elapsed = elapsed_since(&t0);
            int64_t due = (int64_t)((seq + 1) * CS_USEC_PER_SEC / o->rate);
            if (due > elapsed)
                usleep((useconds_t)(due - elapsed));
        }
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errsize, "kafka: %d messages not delivered within 60 s",
                 rd_kafka_outq_len(rk));
        ret = -EIO;
        goto out;
    }
    if (o->totals_path && totals)
        ret = write_totals(o, totals, produced, duplicates, defects, err, errsize);
    if (o->progress)
        report_progress(o, seq, duplicates, defects, elapsed_since(&t0), 1);
out:
    msgpack_sbuffer_destroy(&sb);
    cs_agg_free(totals);
    rd_kafka_destroy(rk);
    return ret;
}
