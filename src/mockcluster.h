/* mockcluster.h - librdkafka's mock Kafka cluster on loopback TCP, for tests
 * and the demo (`costream-kafka-mock`).
 *
 * The mock cluster speaks the Kafka protocol well enough for any client
 * (kcat, kafka-python, costream itself) including consumer groups.  Like a
 * real broker with small retention it keeps only a few MB per partition, so
 * producers must not run far ahead of consumers: create topics with enough
 * partitions.  It is not for production.
 */
#ifndef CS_MOCKCLUSTER_H
#define CS_MOCKCLUSTER_H

#include <signal.h>
#include <stddef.h>

typedef struct cs_mock_topic {
    const char *name;
    int partitions;
} cs_mock_topic;

/* Starts a cluster of nbrokers with the given topics, writes the bootstrap
 * servers ("127.0.0.1:port,...") followed by a newline to bootstrap_path
 * (if not NULL) and stdout, and serves until *stop.  Returns 0, or a
 * negative error with err filled. */
int cs_mockcluster_run(int nbrokers, const cs_mock_topic *topics, size_t ntopics,
                       const char *bootstrap_path, volatile sig_atomic_t *stop, char *err,
                       size_t errsize);

#endif
