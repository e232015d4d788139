/* consumer.c - librdkafka high-level consumer with caller-chosen start
 * offsets (see consumer.h). */
#include "consumer.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cs_consumer {
    rd_kafka_t *rk;
    cs_consumer_callbacks cb;
    const char *start_offset;
    rd_kafka_topic_partition_list_t *assigned; /* our copy, NULL when none */
};

/* Asks the caller for start offsets and assigns parts with them. */
static int assign_from_store(cs_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    size_t n = (size_t)parts->cnt;
    cs_tp *tps = calloc(n + 1, sizeof(*tps));
    int64_t *start = calloc(n + 1, sizeof(*start));
    int r = -ENOMEM;
    if (!tps || !start)
        goto out;
    for (size_t i = 0; i < n; i++)
        tps[i] = (cs_tp){parts->elems[i].topic, parts->elems[i].partition};
    for (unsigned attempt = 0;; attempt++) {
        r = c->cb.on_assign(c->cb.opaque, tps, n, start);
        if (r == 0)
            break;
        if (c->cb.stop && *c->cb.stop)
            goto out; /* shutting down: assign nothing */
        sleep(attempt < 5 ? 1 : 5); /* the store is down: nothing to consume safely */
    }
    for (size_t i = 0; i < n; i++) {
        if (start[i] >= 0)
            parts->elems[i].offset = start[i];
        else
            parts->elems[i].offset = strcmp(c->start_offset, "latest") == 0
                                         ? RD_KAFKA_OFFSET_END
                                         : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, parts);
    if (e) {
        c->cb.on_error(c->cb.opaque, "assign", rd_kafka_err2str(e));
        r = -EIO;
        goto out;
    }
    if (c->assigned)
        rd_kafka_topic_partition_list_destroy(c->assigned);
    c->assigned = rd_kafka_topic_partition_list_copy(parts);
    r = 0;
out:
    free(tps);
    free(start);
    return r;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    cs_consumer *c = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign_from_store(c, parts);
        return;
    }
    if (c->assigned && c->assigned->cnt > 0) {
        size_t n = (size_t)c->assigned->cnt;
        cs_tp *tps = calloc(n, sizeof(*tps));
        if (tps) {
            for (size_t i = 0; i < n; i++)
                tps[i] = (cs_tp){c->assigned->elems[i].topic, c->assigned->elems[i].partition};
            c->cb.on_revoke(c->cb.opaque, tps, n);
            free(tps);
        }
    }
    rd_kafka_assign(c->rk, NULL);
    if (c->assigned)
        rd_kafka_topic_partition_list_destroy(c->assigned);
    c->assigned = NULL;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    cs_consumer *c = opaque;
    (void)rk;
    c->cb.on_error(c->cb.opaque, rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err,
                    size_t errsize)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errsize, "kafka.%s: %s", k, e);
        return -EINVAL;
    }
    return 0;
}

cs_consumer *cs_consumer_new(const cs_config *cfg, const cs_consumer_callbacks *cb, char *err,
                             size_t errsize)
{
    cs_consumer *c = calloc(1, sizeof(*c));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];

    if (!c || !conf) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    c->cb = *cb;
    c->start_offset = cfg->start_offset;
    if (conf_set(conf, "group.id", cfg->group, err, errsize) < 0 ||
        conf_set(conf, "enable.auto.commit", "false", err, errsize) < 0 ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errsize) < 0 ||
        conf_set(conf, "partition.assignment.strategy", "range", err, errsize) < 0 ||
        conf_set(conf, "enable.partition.eof", "false", err, errsize) < 0 ||
        /* a stored offset that retention has passed resumes at the oldest
         * message still there (and the worker logs the gap), never at the end */
        conf_set(conf, "auto.offset.reset", "earliest", err, errsize) < 0 ||
        conf_set(conf, "client.id", "costream", err, errsize) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->nkafka; i++)
        if (conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, err, errsize) < 0)
            goto fail;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!c->rk) {
        snprintf(err, errsize, "kafka: %s", e);
        goto fail;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)(cfg->ntopics + cfg->nmetric_topics));
    for (size_t i = 0; i < cfg->ntopics; i++)
        rd_kafka_topic_partition_list_add(topics, cfg->topics[i], RD_KAFKA_PARTITION_UA);
    for (size_t i = 0; i < cfg->nmetric_topics; i++)
        rd_kafka_topic_partition_list_add(topics, cfg->metric_topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t re = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (re) {
        snprintf(err, errsize, "kafka: subscribe: %s", rd_kafka_err2str(re));
        goto fail;
    }
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c && c->rk)
        rd_kafka_destroy(c->rk);
    free(c);
    return NULL;
}

int cs_consumer_poll(cs_consumer *c, int timeout_ms, cs_message *ret, char *err, size_t errsize)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!m)
        return 0;
    if (m->err) {
        int fatal = m->err == RD_KAFKA_RESP_ERR__FATAL;
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            c->cb.on_error(c->cb.opaque, rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
        if (fatal)
            snprintf(err, errsize, "kafka: fatal: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return fatal ? -EIO : 0;
    }
    ret->topic = rd_kafka_topic_name(m->rkt);
    ret->partition = m->partition;
    ret->offset = m->offset;
    ret->payload = m->payload;
    ret->len = m->len;
    ret->key = m->key;
    ret->key_len = m->key_len;
    ret->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    ret->handle = m;
    return 1;
}

void cs_consumer_release(cs_message *m)
{
    if (m && m->handle)
        rd_kafka_message_destroy(m->handle);
    if (m)
        m->handle = NULL;
}

int cs_consumer_reassign(cs_consumer *c)
{
    if (!c->assigned || c->assigned->cnt == 0)
        return 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_copy(c->assigned);
    int r = assign_from_store(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    return r;
}

void cs_consumer_pause(cs_consumer *c, int pause)
{
    if (!c->assigned || c->assigned->cnt == 0)
        return;
    if (pause)
        rd_kafka_pause_partitions(c->rk, c->assigned);
    else
        rd_kafka_resume_partitions(c->rk, c->assigned);
}

void cs_consumer_commit_async(cs_consumer *c, const cs_tp *parts, const int64_t *next, size_t n)
{
    if (n == 0)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset = next[i];
    rd_kafka_commit(c->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
}

int64_t cs_consumer_high_watermark(cs_consumer *c, const char *topic, int32_t partition)
{
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi) != 0)
        return -1;
    return hi;
}

int64_t cs_consumer_log_start(cs_consumer *c, const char *topic, int32_t partition,
                              int timeout_ms)
{
    int64_t lo = -1, hi = -1;
    if (rd_kafka_query_watermark_offsets(c->rk, topic, partition, &lo, &hi, timeout_ms) != 0)
        return -1;
    return lo;
}

int cs_consumer_partition_count(cs_consumer *c, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(c->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -EIO;
    if (!t)
        return -ENOMEM;
    if (rd_kafka_metadata(c->rk, 0, t, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

size_t cs_consumer_assigned(const cs_consumer *c)
{
    return c->assigned ? (size_t)c->assigned->cnt : 0;
}

void cs_consumer_free(cs_consumer *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    if (c->assigned)
        rd_kafka_topic_partition_list_destroy(c->assigned);
    free(c);
}
