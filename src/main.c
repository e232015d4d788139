/* main.c - the costream command line: parses arguments and dispatches to the
 * library.  Exit codes: 0 success, 1 runtime failure, 2 usage or
 * configuration error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "cs_version.h"
#include "loadgen.h"
#include "log.h"
#include "mockcluster.h"
#include "rules.h"
#include "store.h"
#include "timestamp.h"
#include "worker.h"

static volatile sig_atomic_t stop_flag, reload_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload_flag = 1;
}

static void install_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: costream COMMAND [OPTIONS]\n"
            "\n"
            "  run -c FILE [--set KEY=VALUE]...   consume, price and aggregate usage events\n"
            "  migrate -c FILE [--set KEY=VALUE]  apply the SQL migrations to PostgreSQL\n"
            "  rules check FILE...                validate pricing rules files\n"
            "  loadgen --brokers B --topic T --count N [options]\n"
            "                                     produce realistic usage events\n"
            "  kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file F]\n"
            "                                     serve a throwaway Kafka on loopback\n"
            "  version                            print the version\n"
            "\n"
            "See docs/operations.md for the configuration keys.\n");
}

static void print_errs(const cs_errlist *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->items[i]);
}

/* Parses -c FILE and --set KEY=VALUE into cfg.  Returns 0 or 2. */
static int load_config(int argc, char **argv, cs_config *cfg)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    cs_errlist errs = {0};
    int c, ret = 0;

    if (cs_config_init(cfg) < 0)
        return 1;
    /* the file first, then every --set, whatever the argument order */
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (c == 'c' && cs_config_load(cfg, optarg, &errs) < 0)
            ret = 2;
        else if (c == '?')
            ret = 2;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (c != 's')
            continue;
        char *eq = strchr(optarg, '=');
        if (!eq) {
            cs_errlist_addf(&errs, "--set %s: expected KEY=VALUE", optarg);
            ret = 2;
            continue;
        }
        *eq = '\0';
        if (cs_config_set(cfg, optarg, eq + 1, "--set", &errs) < 0)
            ret = 2;
        *eq = '=';
    }
    print_errs(&errs);
    cs_errlist_free(&errs);
    return ret;
}

static int cmd_run(int argc, char **argv)
{
    cs_config cfg;
    int r = load_config(argc, argv, &cfg);
    if (r) {
        cs_config_free(&cfg);
        return r;
    }
    cs_log_set_level(cfg.log_level);
    install_signals();
    r = cs_worker_run(&cfg, &stop_flag, &reload_flag);
    cs_config_free(&cfg);
    return r == 0 ? 0 : r == -EINVAL ? 2 : 1;
}

static int cmd_migrate(int argc, char **argv)
{
    cs_config cfg;
    char err[1024];
    unsigned applied = 0;
    int r = load_config(argc, argv, &cfg);
    if (r) {
        cs_config_free(&cfg);
        return r;
    }
    cs_store *s = cs_store_new(cfg.postgres);
    r = s ? cs_store_migrate(s, &applied, err, sizeof(err)) : -ENOMEM;
    if (r < 0)
        fprintf(stderr, "costream migrate: %s\n", s ? err : "out of memory");
    else
        printf("migrations applied: %u\n", applied);
    cs_store_free(s);
    cs_config_free(&cfg);
    return r < 0 ? 1 : 0;
}

static int cmd_rules(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "usage: costream rules check FILE...\n");
        return 2;
    }
    int ret = 0;
    for (int i = 2; i < argc; i++) {
        cs_rules *rs = NULL;
        cs_errlist errs = {0};
        if (cs_rules_load(argv[i], &rs, &errs) < 0) {
            print_errs(&errs);
            ret = 1;
        } else {
            printf("%s: ok: version %s, %zu rules, currency %s\n", argv[i], rs->version,
                   rs->nrules, rs->currency);
        }
        cs_errlist_free(&errs);
        cs_rules_free(rs);
    }
    return ret;
}

static int cmd_kafka_mock(int argc, char **argv)
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

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'b') {
            nbrokers = atoi(optarg);
        } else if (c == 't' && ntopics < 32) {
            char *colon = strrchr(optarg, ':');
            int parts = colon ? atoi(colon + 1) : 1;
            if (colon)
                *colon = '\0';
            if (parts < 1 || !*optarg) {
                fprintf(stderr, "costream kafka-mock: --topic %s: expected NAME:PARTITIONS\n",
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
        fprintf(stderr, "costream kafka-mock: --brokers must be at least 1\n");
        return 2;
    }
    install_signals();
    if (cs_mockcluster_run(nbrokers, topics, ntopics, file, &stop_flag, err, sizeof(err)) < 0) {
        fprintf(stderr, "costream kafka-mock: %s\n", err);
        return 1;
    }
    return 0;
}

static int parse_u64(const char *name, const char *v, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "costream loadgen: %s: \"%s\" is not a whole number\n", name, v);
        return -1;
    }
    *ret = n;
    return 0;
}

static int cmd_loadgen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"customers", required_argument, NULL, 'C'},
        {"format", required_argument, NULL, 'F'},
        {"malformed-permille", required_argument, NULL, 'm'},
        {"unattributed-permille", required_argument, NULL, 'u'},
        {"duplicate-permille", required_argument, NULL, 'd'},
        {"seed", required_argument, NULL, 'S'},
        {"start", required_argument, NULL, 's'},
        {"span-hours", required_argument, NULL, 'h'},
        {"totals", required_argument, NULL, 'T'},
        {"redis-out", required_argument, NULL, 'R'},
        {"set", required_argument, NULL, 'x'},
        {NULL, 0, NULL, 0},
    };
    cs_loadgen_opts o = {.topic = "usage-events", .count = 1000, .customers = 200,
                         .seed = 1, .span_usec = 72 * CS_USEC_PER_HOUR};
    cs_config kcfg;
    cs_errlist errs = {0};
    uint64_t v, span_hours = 72;
    int c, bad = 0;
    char err[512];
    const char *start = NULL;

    cs_config_init(&kcfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': o.brokers = optarg; break;
        case 't': o.topic = optarg; break;
        case 'n': bad |= parse_u64("--count", optarg, &o.count); break;
        case 'r': bad |= parse_u64("--rate", optarg, &o.rate); break;
        case 'C': bad |= parse_u64("--customers", optarg, &v); o.customers = (unsigned)v; break;
        case 'F':
            if (strcmp(optarg, "json") && strcmp(optarg, "msgpack")) {
                fprintf(stderr, "costream loadgen: --format: json or msgpack\n");
                bad = 1;
            }
            o.msgpack = strcmp(optarg, "msgpack") == 0;
            break;
        case 'm': bad |= parse_u64("--malformed-permille", optarg, &v); o.malformed_pm = (unsigned)v; break;
        case 'u': bad |= parse_u64("--unattributed-permille", optarg, &v); o.unattributed_pm = (unsigned)v; break;
        case 'd': bad |= parse_u64("--duplicate-permille", optarg, &v); o.duplicate_pm = (unsigned)v; break;
        case 'S': bad |= parse_u64("--seed", optarg, &o.seed); break;
        case 's': start = optarg; break;
        case 'h': bad |= parse_u64("--span-hours", optarg, &span_hours); break;
        case 'T': o.totals_path = optarg; break;
        case 'R': o.redis_path = optarg; break;
        case 'x': {
            char *eq = strchr(optarg, '=');
            if (!eq || strncmp(optarg, "kafka.", 6) != 0) {
                fprintf(stderr, "costream loadgen: --set takes kafka.KEY=VALUE\n");
                bad = 1;
                break;
            }
            *eq = '\0';
            if (cs_config_set(&kcfg, optarg, eq + 1, "--set", &errs) < 0)
                bad = 1;
            break;
        }
        default: bad = 1;
        }
    }
    if (o.customers == 0 || span_hours == 0 || (!o.brokers && !o.redis_path)) {
        fprintf(stderr, "costream loadgen: --brokers, --customers >= 1 and --span-hours >= 1 "
                        "are required\n");
        bad = 1;
    }
    o.span_usec = (int64_t)span_hours * CS_USEC_PER_HOUR;
    if (start) {
        if (cs_timestamp_parse(start, strlen(start), &o.start_usec) < 0) {
            fprintf(stderr, "costream loadgen: --start: \"%s\" is not an RFC 3339 time\n", start);
            bad = 1;
        }
    } else {
        o.start_usec = cs_timestamp_hour((int64_t)time(NULL) * CS_USEC_PER_SEC) - o.span_usec;
    }
    print_errs(&errs);
    cs_errlist_free(&errs);
    if (bad) {
        cs_config_free(&kcfg);
        return 2;
    }
    o.kafka = &kcfg;
    int r = 0;
    if (o.redis_path && (r = cs_loadgen_write_redis(&o, o.redis_path)) < 0)
        fprintf(stderr, "costream loadgen: %s: %s\n", o.redis_path, strerror(-r));
    if (r == 0 && o.brokers && o.count) {
        install_signals();
        r = cs_loadgen_run(&o, &stop_flag, err, sizeof(err));
        if (r < 0)
            fprintf(stderr, "costream loadgen: %s\n", err);
    }
    cs_config_free(&kcfg);
    return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(argc, argv);
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(argc, argv);
    if (strcmp(cmd, "kafka-mock") == 0)
        return cmd_kafka_mock(argc, argv);
    if (strcmp(cmd, "loadgen") == 0)
        return cmd_loadgen(argc, argv);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("costream %s\n", CS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "costream: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}
