/* rejects.c - list, replay and prune rejected events (see rejects.h). */
#include "rejects.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "store_internal.h"

#define SELECT_REJECTS                                                                     \
    "SELECT id, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"  \
    " group_id, topic, partition, \"offset\", reason, detail, raw, msg_key,"                  \
    " to_char(replayed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), replayed_to" \
    " FROM rejected_events"                                                                  \
    " WHERE ($1::text IS NULL OR group_id = $1) AND ($2::text IS NULL OR reason = $2)"       \
    " AND ($3::text IS NULL OR topic = $3)"                                                  \
    " AND ($4::timestamptz IS NULL OR received_at >= $4::timestamptz)"                       \
    " AND ($5::timestamptz IS NULL OR received_at < $5::timestamptz)"                        \
    " AND ($6::bigint[] IS NULL OR id = ANY ($6::bigint[])) AND ($7::bool OR replayed_at IS NULL)" \
    " ORDER BY id LIMIT $8"

/* The filter as the query's eight parameters (texts in buf). */
static int filter_params(const cs_rejects_filter *f, cs_buf *ids, char *limit, size_t lsize,
                         const char *p[8])
{
    if (f->nids) {
        cs_buf_puts(ids, "{");
        for (size_t i = 0; i < f->nids; i++)
            cs_buf_printf(ids, "%s%lld", i ? "," : "", (long long)f->ids[i]);
        cs_buf_append(ids, "}", 2); /* with the NUL */
        if (ids->failed)
            return -ENOMEM;
    }
    snprintf(limit, lsize, "%ld", f->limit > 0 ? f->limit : 2147483647L);
    const char *v[8] = {f->group, f->reason, f->topic, f->from, f->to, f->nids ? ids->data : NULL,
                        f->include_replayed ? "true" : "false", limit};
    memcpy(p, v, sizeof(v));
    return 0;
}

/* Row i of a SELECT_REJECTS result; the bytea cells are unescaped into
 * *ret_raw and *ret_key (PQfreemem them). */
static void read_row(PGresult *res, int i, cs_reject_row *x, unsigned char **ret_raw,
                     unsigned char **ret_key)
{
    memset(x, 0, sizeof(*x));
    x->id = cs__store_i64(res, i, 0);
    x->received_at = PQgetvalue(res, i, 1);
    x->group = PQgetvalue(res, i, 2);
    x->topic = PQgetvalue(res, i, 3);
    x->partition = (int32_t)cs__store_i64(res, i, 4);
    x->offset = cs__store_i64(res, i, 5);
    x->reason = PQgetvalue(res, i, 6);
    x->detail = PQgetvalue(res, i, 7);
    *ret_raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 8), &x->raw_len);
    *ret_key = PQgetisnull(res, i, 9)
                   ? NULL
                   : PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 9), &x->key_len);
    x->raw = *ret_raw ? *ret_raw : (const unsigned char *)""; /* out of memory: shown empty */
    if (!*ret_raw)
        x->raw_len = 0;
    x->key = *ret_key;
    x->replayed_at = PQgetisnull(res, i, 10) ? NULL : PQgetvalue(res, i, 10);
    x->replayed_to = PQgetisnull(res, i, 11) ? NULL : PQgetvalue(res, i, 11);
}

static int select_rejects(cs_store *s, const cs_rejects_filter *f, PGresult **ret, char *err,
                          size_t errsize)
{
    cs_buf ids = {0};
    char limit[24];
    const char *p[8];
    int r = cs_store_connect(s, err, errsize);
    if (r == 0 && (r = filter_params(f, &ids, limit, sizeof(limit), p)) == -ENOMEM)
        snprintf(err, errsize, "out of memory");
    if (r == 0)
        r = cs__store_exec_params(s, SELECT_REJECTS, 8, p, NULL, NULL, "rejected_events", ret,
                                  err, errsize);
    cs_buf_free(&ids);
    return r;
}

int cs_rejects_list(cs_store *s, const cs_rejects_filter *f,
                    void (*fn)(void *opaque, const cs_reject_row *row), void *opaque, char *err,
                    size_t errsize)
{
    PGresult *res;
    int r = select_rejects(s, f, &res, err, errsize);
    if (r < 0)
        return r;
    for (int i = 0; i < PQntuples(res); i++) {
        cs_reject_row x;
        unsigned char *raw, *key;
        read_row(res, i, &x, &raw, &key);
        fn(opaque, &x);
        PQfreemem(raw);
        if (key)
            PQfreemem(key);
    }
    PQclear(res);
    return 0;
}

/* Delivery reports: each message's opaque points at its "acknowledged"
 * flag. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->_private)
        *(bool *)m->_private = true;
}

static rd_kafka_t *producer_new(const cs_config *cfg, char *err, size_t errsize)
{
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nkafka; i++) {
        /* consumer-only properties do not apply to a producer: skip them */
        if (strncmp(cfg->kafka[i].key, "session.", 8) == 0 ||
            strncmp(cfg->kafka[i].key, "heartbeat.", 10) == 0 ||
            strcmp(cfg->kafka[i].key, "group.id") == 0)
            continue;
        if (rd_kafka_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, e, sizeof(e)) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errsize, "kafka.%s: %s", cfg->kafka[i].key, e);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof(e));
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!rk) {
        snprintf(err, errsize, "kafka: %s", e);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* Produces every row of res to into; acked[i] says which Kafka took. */
static int produce_all(rd_kafka_t *rk, PGresult *res, const char *into, bool *acked, char *err,
                       size_t errsize)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        cs_reject_row x;
        unsigned char *raw, *key;
        read_row(res, i, &x, &raw, &key);
        if (!raw) { /* never an empty payload in place of the real one */
            if (key)
                PQfreemem(key);
            snprintf(err, errsize, "out of memory");
            return -ENOMEM;
        }
        rd_kafka_resp_err_t e;
        do {
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(into),
                                  RD_KAFKA_V_VALUE((void *)x.raw, x.raw_len),
                                  RD_KAFKA_V_KEY((void *)x.key, x.key ? x.key_len : 0),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE(&acked[i]), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 100);
        } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        PQfreemem(raw);
        if (key)
            PQfreemem(key);
        if (e) {
            snprintf(err, errsize, "kafka: produce to %s: %s", into, rd_kafka_err2str(e));
            return -EIO;
        }
    }
    if (rd_kafka_flush(rk, 60 * 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errsize, "kafka: %s did not acknowledge every message within 60 s", into);
        return -EIO;
    }
    return 0;
}

/* Marks the acknowledged rows of res as replayed into `into`. */
static int mark_replayed(cs_store *s, PGresult *res, const bool *acked, const char *into,
                         size_t *ret_n, char *err, size_t errsize)
{
    cs_buf ids = {0};
    *ret_n = 0;
    cs_buf_puts(&ids, "{");
    for (int i = 0; i < PQntuples(res); i++)
        if (acked[i])
            cs_buf_printf(&ids, "%s%s", (*ret_n)++ ? "," : "", PQgetvalue(res, i, 0));
    cs_buf_append(&ids, "}", 2);
    int r = ids.failed ? -ENOMEM : 0;
    const char *p[2] = {ids.data, into};
    if (r == 0 && *ret_n)
        r = cs__store_exec_params(s,
                                  "UPDATE rejected_events SET replayed_at = now(), replayed_to = $2"
                                  " WHERE id = ANY ($1::bigint[])",
                                  2, p, NULL, NULL, "rejected_events", NULL, err, errsize);
    cs_buf_free(&ids);
    return r;
}

int cs_rejects_replay(cs_store *s, const cs_config *cfg, const cs_rejects_filter *f,
                      const char *into, bool dry_run, size_t *ret_selected, size_t *ret_replayed,
                      char *err, size_t errsize)
{
    PGresult *res;
    *ret_selected = *ret_replayed = 0;
    if (!into || !*into) {
        snprintf(err, errsize, "give the topic to publish to (--into)");
        return -EINVAL;
    }
    int r = select_rejects(s, f, &res, err, errsize);
    if (r < 0)
        return r;
    *ret_selected = (size_t)PQntuples(res);
    bool *acked = calloc(*ret_selected + 1, sizeof(*acked));
    rd_kafka_t *rk = NULL;
    if (!acked)
        r = -ENOMEM;
    else if (!dry_run && *ret_selected && !(rk = producer_new(cfg, err, errsize)))
        r = -EINVAL;
    if (r == 0 && rk)
        r = produce_all(rk, res, into, acked, err, errsize);
    if (rk) /* even after a failure: what Kafka took is marked */
        r = mark_replayed(s, res, acked, into, ret_replayed, err, errsize) < 0 && r == 0 ? -EIO : r;
    if (rk)
        rd_kafka_destroy(rk);
    free(acked);
    PQclear(res);
    return r;
}

int cs_rejects_prune(cs_store *s, const char *group, int days, long *ret_deleted, char *err,
                     size_t errsize)
{
    char d[16];
    PGresult *res;
    *ret_deleted = 0;
    snprintf(d, sizeof(d), "%d", days);
    const char *p[2] = {group, d};
    int r = cs_store_connect(s, err, errsize);
    if (r == 0)
        r = cs__store_exec_params(s,
                                  "DELETE FROM rejected_events WHERE group_id = $1"
                                  " AND received_at < now() - make_interval(days => $2::int)",
                                  2, p, NULL, NULL, "rejected_events", &res, err, errsize);
    if (r == 0) {
        *ret_deleted = strtol(PQcmdTuples(res), NULL, 10);
        PQclear(res);
    }
    return r;
}
