/* mockcluster.c - serve librdkafka's mock cluster (see mockcluster.h).
 *
 * The mock cluster lives inside an rd_kafka_t handle; its brokers listen on
 * ephemeral loopback ports, which is why the bootstrap list is written to a
 * file for the scripts that start it.
 */
#include "mockcluster.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cs_mockcluster_run(int nbrokers, const cs_mock_topic *topics, size_t ntopics,
                       const char *bootstrap_path, volatile sig_atomic_t *stop, char *err,
                       size_t errsize)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "costream-kafka-mock", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!rk) {
        snprintf(err, errsize, "kafka: %s", e);
        rd_kafka_conf_destroy(conf);
        return -EINVAL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mc) {
        snprintf(err, errsize, "cannot create the mock cluster");
        rd_kafka_destroy(rk);
        return -EIO;
    }
    for (size_t i = 0; i < ntopics; i++) {
        rd_kafka_resp_err_t re =
            rd_kafka_mock_topic_create(mc, topics[i].name, topics[i].partitions, 1);
        if (re) {
            snprintf(err, errsize, "topic %s: %s", topics[i].name, rd_kafka_err2str(re));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return -EINVAL;
        }
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    if (bootstrap_path) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", bootstrap_path);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", bs) < 0 || fclose(f) != 0 || rename(tmp, bootstrap_path)) {
            snprintf(err, errsize, "%s: %s", bootstrap_path, strerror(errno));
            rd_kafka_mock_cluster_destroy(mc);
            rd_kafka_destroy(rk);
            return -EIO;
        }
    }
    printf("%s\n", bs);
    fflush(stdout);
    while (!*stop)
        usleep(100000);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
