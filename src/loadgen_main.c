/* loadgen_main.c - `costream-loadgen`: realistic usage events and container
 * metrics for any Kafka (a tool, not part of the service binary).  See
 * docs/operations.md for the options.  Exit status: 0, 1 failure, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "help.h"
#include "loadgen.h"
#include "rules.h"
#include "timestamp.h"
#include "signals.h"

static volatile sig_atomic_t stop_flag;

static void install_signals(void)
{
    cs_signals_install(&stop_flag, NULL);
}

static int parse_u64(const char *name, const char *v, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "costream-loadgen: %s: \"%s\" is not a whole number\n", name, v);
        return -1;
    }
    *ret = n;
    return 0;
}

/* On a terminal: a progress line redrawn in place (count, rate, ETA);
 * always: a one-line summary at the end. */
static void progress(void *opaque, const cs_loadgen_progress *p)
{
    const char *topic = opaque;
    double secs = (double)p->elapsed_usec / 1e6, rate = secs > 0 ? (double)p->done / secs : 0;
    if (!p->finished) {
        if (!isatty(STDERR_FILENO))
            return;
        double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
        fprintf(stderr, "\rcostream-loadgen: %llu of %llu events (%.0f %%), %.0f events/s, ETA %.0f s   ",
                (unsigned long long)p->done, (unsigned long long)p->total,
                p->total ? 100.0 * (double)p->done / (double)p->total : 100.0, rate, eta);
        return;
    }
    fprintf(stderr, "%scostream-loadgen: produced %llu events to %s in %.1f s (%.0f events/s);"
                    " %llu of them malformed, %llu duplicates on top\n",
            isatty(STDERR_FILENO) ? "\r\033[K" : "", (unsigned long long)p->done, topic, secs,
            rate, (unsigned long long)p->malformed, (unsigned long long)p->duplicates);
}

int main(int argc, char **argv)
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
        {"metrics-topic", required_argument, NULL, 'M'},
        {"metric-pods", required_argument, NULL, 'K'},
        {"metric-interval-seconds", required_argument, NULL, 'I'},
        {"metric-span-hours", required_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    uint64_t metric_span_hours = 6;
    cs_loadgen_opts o = {.topic = "usage-events", .count = 1000, .customers = 200,
                         .seed = 1, .span_usec = 72 * CS_USEC_PER_HOUR};
    cs_config kcfg;
    cs_errlist errs = {0};
    uint64_t v, span_hours = 72;
    int c, bad = 0;
    char err[512];
    const char *start = NULL;

    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(cs_help_loadgen(), stdout);
        return 0;
    }
    cs_config_init(&kcfg);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': o.brokers = optarg; break;
        case 't': o.topic = optarg; break;
        case 'n': bad |= parse_u64("--count", optarg, &o.count); break;
        case 'r': bad |= parse_u64("--rate", optarg, &o.rate); break;
        case 'C': bad |= parse_u64("--customers", optarg, &v); o.customers = (unsigned)v; break;
        case 'F':
            if (strcmp(optarg, "json") && strcmp(optarg, "msgpack")) {
                fprintf(stderr, "costream-loadgen: --format: json or msgpack\n");
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
        case 'M': o.metrics_topic = optarg; break;
        case 'K': bad |= parse_u64("--metric-pods", optarg, &v); o.metric_pods = (unsigned)v; break;
        case 'I': bad |= parse_u64("--metric-interval-seconds", optarg, &v); o.metric_interval_s = (unsigned)v; break;
        case 'H': bad |= parse_u64("--metric-span-hours", optarg, &metric_span_hours); break;
        case 'R': o.redis_path = optarg; break;
        case 'x': {
            char *eq = strchr(optarg, '=');
            if (!eq || strncmp(optarg, "kafka.", 6) != 0) {
                fprintf(stderr, "costream-loadgen: --set takes kafka.KEY=VALUE\n");
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
        fprintf(stderr, "costream-loadgen: --brokers, --customers >= 1 and --span-hours >= 1 "
                        "are required\n");
        bad = 1;
    }
    o.span_usec = (int64_t)span_hours * CS_USEC_PER_HOUR;
    if (start) {
        if (cs_timestamp_parse(start, strlen(start), &o.start_usec) < 0) {
            fprintf(stderr, "costream-loadgen: --start: \"%s\" is not an RFC 3339 time\n", start);
            bad = 1;
        }
    } else {
        o.start_usec = cs_timestamp_hour((int64_t)time(NULL) * CS_USEC_PER_SEC) - o.span_usec;
    }
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    cs_errlist_free(&errs);
    if (bad) {
        cs_config_free(&kcfg);
        return 2;
    }
    o.kafka = &kcfg;
    int r = 0;
    if (o.redis_path && (r = cs_loadgen_write_redis(&o, o.redis_path)) < 0)
        fprintf(stderr, "costream-loadgen: %s: %s\n", o.redis_path, strerror(-r));
    if (r == 0 && o.brokers && o.count) {
        install_signals();
        o.progress = progress;
        o.progress_opaque = (void *)o.topic;
        r = cs_loadgen_run(&o, &stop_flag, err, sizeof(err));
        if (r < 0)
            fprintf(stderr, "costream-loadgen: %s\n", err);
    }
    if (r == 0 && o.brokers && o.metrics_topic) {
        o.metric_end_usec = (int64_t)time(NULL) * CS_USEC_PER_SEC / (60 * CS_USEC_PER_SEC) *
                            (60 * CS_USEC_PER_SEC);
        o.metric_start_usec = o.metric_end_usec - (int64_t)metric_span_hours * CS_USEC_PER_HOUR;
        if (o.metric_pods == 0)
            o.metric_pods = 40;
        install_signals();
        r = cs_loadgen_metrics(&o, &stop_flag, err, sizeof(err));
        if (r < 0)
            fprintf(stderr, "costream-loadgen: %s\n", err);
    }
    cs_config_free(&kcfg);
    return r < 0 ? 1 : 0;
}
