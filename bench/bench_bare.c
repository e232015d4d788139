/* bench_bare - the ceiling: a bare librdkafka consumer-group member that
 * reads a topic from the beginning and touches every byte of every message
 * (a checksum), as fast as the mock cluster serves it.  Nothing is decoded
 * or stored.
 *
 *   build/bench/bench_bare BROKERS TOPIC MESSAGES
 *
 * Prints "MESSAGES messages, BYTES bytes in SECONDS s = RATE messages/s". */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_bare BROKERS TOPIC MESSAGES\n");
        return 2;
    }
    char err[512], group[64];
    long want = atol(argv[3]);
    snprintf(group, sizeof(group), "bench-bare-%ld", (long)time(NULL));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", argv[1]}, {"group.id", group},
                           {"auto.offset.reset", "earliest"}, {"enable.auto.commit", "false"},
                           {"session.timeout.ms", "6000"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    long n = 0;
    uint64_t bytes = 0, sum = 0;
    double t0 = 0, deadline = now() + 300;
    while (n < want && now() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (n == 0)
                t0 = now(); /* from the first message: joining the group is not reading */
            const unsigned char *p = m->payload;
            for (size_t i = 0; i < m->len; i++)
                sum += p[i];
            bytes += m->len;
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    double dt = now() - t0;
    printf("%ld messages, %llu bytes in %.3f s = %.0f messages/s (checksum %llu)\n", n,
           (unsigned long long)bytes, dt, n / dt, (unsigned long long)sum);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n == want ? 0 : 1;
}
