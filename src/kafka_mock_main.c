/* kafka_mock_main.c - `costream-kafka-mock`: librdkafka's mock cluster on
 * loopback, for tests and demos (a tool, not part of the service binary).
 *
 *   costream-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file F]
 *
 * Prints the bootstrap address (and writes it to F), serves until SIGTERM or
 * SIGINT.  Exit status: 0, 1 failure, 2 usage. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mockcluster.h"
#include "signals.h"

static volatile sig_atomic_t stop_flag;

static void install_signals(void)
{
    cs_signals_install(&stop_flag, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: costream-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... "
               "[--bootstrap-file F]\n"
               "  serves a throwaway Kafka (librdkafka's mock cluster) on loopback until\n"
               "  SIGTERM; keeps at most 5 MB per partition, like retention\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    cs_mock_topic topics[32];
    size_t ntopics = 0;
    int nbrokers = 1, c;
    const char *file = NULL;
    char err[512];

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'b') {
            nbrokers = atoi(optarg);
        } else if (c == 't' && ntopics < 32) {
            char *colon = strrchr(optarg, ':');
            int parts = colon ? atoi(colon + 1) : 1;
            if (colon)
                *colon = '\0';
            if (parts < 1 || !*optarg) {
                fprintf(stderr, "costream-kafka-mock: --topic %s: expected NAME:PARTITIONS\n",
                        optarg);
                return 2;
            }
            topics[ntopics++] = (cs_mock_topic){optarg, parts};
        } else if (c == 'f') {
            file = optarg;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (nbrokers < 1) {
        fprintf(stderr, "costream-kafka-mock: --brokers must be at least 1\n");
        return 2;
    }
    install_signals();
    if (cs_mockcluster_run(nbrokers, topics, ntopics, file, &stop_flag, err, sizeof(err)) < 0) {
        fprintf(stderr, "costream-kafka-mock: %s\n", err);
        return 1;
    }
    return 0;
}
