/* main.c - the costream command line: parses arguments and dispatches to the
 * library.  Exit codes: 0 success, 1 runtime failure, 2 usage or
 * configuration error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chargeback.h"
#include "config.h"
#include "cs_version.h"
#include "file.h"
#include "help.h"
#include "log.h"
#include "period.h"
#include "reattribute.h"
#include "rejects.h"
#include "reportdb.h"
#include "rules.h"
#include "serve.h"
#include "signals.h"
#include "spend.h"
#include "store.h"
#include "timestamp.h"
#include "token.h"
#include "utf8.h"
#include "worker.h"

static volatile sig_atomic_t stop_flag, reload_flag;

static void install_signals(void)
{
    cs_signals_install(&stop_flag, &reload_flag);
}

static void usage(FILE *f)
{
    cs_buf b = {0};
    cs_help_all(&b);
    if (!b.failed)
        fputs(b.data, f);
    cs_buf_free(&b);
}

/* Prints the command's help if its arguments ask for it.  1 if they did. */
static int help_asked(const char *command, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            const char *h = cs_help_command(command);
            fputs(h ? h : "", stdout);
            if (strcmp(command, "rules") && strcmp(command, "version"))
                printf("Options:\n%s", cs_help_common());
            return 1;
        }
    return 0;
}

static void print_errs(const cs_errlist *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->items[i]);
}

/* Options every command that reads the configuration accepts, plus those
 * of report, token and period (each command checks what it needs). */
static const struct option config_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"set", required_argument, NULL, 's'},
    {"period", required_argument, NULL, 'P'},
    {"from", required_argument, NULL, 'f'},
    {"to", required_argument, NULL, 't'},
    {"customer", required_argument, NULL, 'C'},
    {"product", required_argument, NULL, 'p'},
    {"plan", required_argument, NULL, 'l'},
    {"format", required_argument, NULL, 'F'},
    {"output", required_argument, NULL, 'o'},
    {"scope", required_argument, NULL, 'S'},
    {"name", required_argument, NULL, 'n'},
    {"source", required_argument, NULL, 'r'},
    {"keep-bad-rows", no_argument, NULL, 'k'},
    {"kind", required_argument, NULL, 'K'},
    {"force", no_argument, NULL, 'x'},
    {"excel", no_argument, NULL, 'E'},
    {"yes", no_argument, NULL, 'y'},
    {"by", required_argument, NULL, 'B'},
    {"reason", required_argument, NULL, 'R'},
    {"topic", required_argument, NULL, 'T'},
    {"limit", required_argument, NULL, 'L'},
    {"id", required_argument, NULL, 'I'},
    {"into", required_argument, NULL, 'O'},
    {"again", no_argument, NULL, 'A'},
    {"dry-run", no_argument, NULL, 'D'},
    {"focus-version", required_argument, NULL, 'V'},
    {"with-spend", no_argument, NULL, 'W'},
    {NULL, 0, NULL, 0},
};

typedef struct cmd_opts {
    const char *period, *from, *to, *customer, *product, *plan, *format, *output, *scope, *name;
    const char *source, *kind, *by, *reason, *topic, *into, *limit, *focus_version;
    int keep_bad, force, excel, yes, again, dry_run, with_spend;
    int64_t ids[256];
    size_t nids;
    int bad_id; /* an --id that is not a positive number, or too many */
} cmd_opts;

#define CS_DEFAULT_CONFIG "/etc/costream/costream.conf"

/* Without -c: $COSTREAM_CONFIG, else /etc/costream/costream.conf if it
 * exists, else the built-in defaults; says on standard error which, so
 * that nobody wonders why a socket default was tried.  0 or -1. */
static int discover_config(cs_config *cfg, cs_errlist *errs)
{
    const char *env = getenv("COSTREAM_CONFIG");
    const char *path = env && *env ? env : access(CS_DEFAULT_CONFIG, F_OK) == 0 ? CS_DEFAULT_CONFIG
                                                                              : NULL;
    if (!path) {
        fprintf(stderr, "costream: no configuration read (no -c, COSTREAM_CONFIG is not set, no "
                        CS_DEFAULT_CONFIG "): using the built-in defaults\n");
        return 0;
    }
    fprintf(stderr, "costream: using the configuration %s (%s)\n", path,
            env && *env ? "from COSTREAM_CONFIG" : "the default path");
    return cs_config_load(cfg, path, errs) < 0 ? -1 : 0;
}

/* Parses -c FILE and --set KEY=VALUE into cfg and the other options into
 * o (may be NULL).  Returns 0 or 2. */
static int load_config_opts(int argc, char **argv, cs_config *cfg, cmd_opts *o)
{
    const struct option *opts = config_opts;
    cs_errlist errs = {0};
    int c, ret = 0;

    if (cs_config_init(cfg) < 0)
        return 1;
    /* the file first, then every --set, whatever the argument order */
    int given = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        given |= c == 'c';
        if (c == 'c' && cs_config_load(cfg, optarg, &errs) < 0)
            ret = 2;
        else if (c == '?' || (!o && c != 'c' && c != 's'))
            ret = 2;
        else if (o)
            switch (c) {
            case 'P': o->period = optarg; break;
            case 'f': o->from = optarg; break;
            case 't': o->to = optarg; break;
            case 'C': o->customer = optarg; break;
            case 'p': o->product = optarg; break;
            case 'l': o->plan = optarg; break;
            case 'F': o->format = optarg; break;
            case 'o': o->output = optarg; break;
            case 'S': o->scope = optarg; break;
            case 'n': o->name = optarg; break;
            case 'r': o->source = optarg; break;
            case 'k': o->keep_bad = 1; break;
            case 'K': o->kind = optarg; break;
            case 'x': o->force = 1; break;
            case 'W': o->with_spend = 1; break;
            case 'E': o->excel = 1; break;
            case 'y': o->yes = 1; break;
            case 'B': o->by = optarg; break;
            case 'R': o->reason = optarg; break;
            case 'T': o->topic = optarg; break;
            case 'L': o->limit = optarg; break;
            case 'O': o->into = optarg; break;
            case 'A': o->again = 1; break;
            case 'D': o->dry_run = 1; break;
            case 'V': o->focus_version = optarg; break;
            case 'I': {
                char *end;
                long long v = strtoll(optarg, &end, 10);
                if (*end || v <= 0 || o->nids == sizeof(o->ids) / sizeof(o->ids[0]))
                    o->bad_id = 1;
                else
                    o->ids[o->nids++] = v;
                break;
            }
            default: break;
            }
    }
    if (!given && ret == 0 && discover_config(cfg, &errs) < 0)
        ret = 2;
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

static int load_config(int argc, char **argv, cs_config *cfg)
{
    return load_config_opts(argc, argv, cfg, NULL);
}

/* Who runs the command, for the period log: --by, else the login name. */
static const char *actor(const cmd_opts *o, char *buf, size_t size)
{
    const char *sudo = getenv("SUDO_USER"), *user = getenv("USER");
    char raw[256];
    if (o->by && *o->by)
        snprintf(raw, sizeof(raw), "%s", o->by);
    else
        snprintf(raw, sizeof(raw), "cli:%s", sudo && *sudo ? sudo : user && *user ? user : "unknown");
    cs_utf8_escape(buf, size, raw, strlen(raw), NULL); /* stored as text: valid UTF-8 */
    return buf;
}

/* report --kind spend: the period's allocated spend (docs/spend.md). */
static int report_spend(const cs_config *cfg, const cmd_opts *o, cs_report_format fmt,
                        const cs_report_meta *meta, FILE *out)
{
    char err[512];
    cs_buf b = {0};
    cs_store *s = cs_store_new(cfg->postgres);
    if (o->excel && fmt == CS_REPORT_CSV)
        cs_buf_puts(&b, CS_REPORT_BOM);
    int r = s ? cs_reportdb_spend_report(s, o->period, o->customer, fmt, meta, &b, err, sizeof(err))
              : -ENOMEM;
    if (r == 0 && (b.failed || fwrite(b.data, 1, b.len, out) != b.len)) {
        snprintf(err, sizeof(err), "write: %s", b.failed ? "out of memory" : strerror(errno));
        r = -EIO;
    }
    if (r < 0)
        fprintf(stderr, "costream report: %s\n", err);
    cs_buf_free(&b);
    cs_store_free(s);
    return r < 0 ? 1 : 0;
}

static int cmd_report(int argc, char **argv)
{
    cs_config cfg;
    cmd_opts o = {0};
    char err[512];
    cs_report_format fmt = CS_REPORT_TABLE;
    int64_t from = 0, to = 0;
    cs_rules *rules = NULL;
    int r = load_config_opts(argc, argv, &cfg, &o);
    if (r)
        goto out;
    r = 2;
    if (o.format && cs_report_format_parse(o.format, &fmt) < 0) {
        fprintf(stderr, "costream report: --format: \"%s\" is not table, csv, json or focus\n", o.format);
        goto out;
    }
    if (o.period) {
        if (cs_timestamp_month(o.period, &from, &to) < 0) {
            fprintf(stderr, "costream report: --period: \"%s\" is not a month such as 2026-11\n", o.period);
            goto out;
        }
    } else if (!o.from || !o.to || cs_timestamp_parse(o.from, strlen(o.from), &from) < 0 ||
               cs_timestamp_parse(o.to, strlen(o.to), &to) < 0 || from >= to) {
        fprintf(stderr, "costream report: give --period YYYY-MM, or --from and --to as RFC 3339 "
                        "times with from < to\n");
        goto out;
    }
    char label[128];
    if (o.period)
        snprintf(label, sizeof(label), "%s", o.period);
    else
        snprintf(label, sizeof(label), "%s/%s", o.from, o.to);
    cs_report_query q = {.period = o.period, .from = o.period ? NULL : o.from,
                         .to = o.period ? NULL : o.to, .customer = o.customer,
                         .product = o.product, .plan = o.plan};
    if (o.focus_version && strcmp(o.focus_version, "1.4") && strcmp(o.focus_version, "1.2")) {
        fprintf(stderr, "costream report: --focus-version: 1.4 (the default) or 1.2\n");
        goto out;
    }
    cs_errlist rerrs = {0};
    if (fmt == CS_REPORT_FOCUS && cs_rules_load(cfg.rules_path, &rules, &rerrs) < 0)
        fprintf(stderr, "costream report: the rules cannot be read (%s): FOCUS service categories"
                        " come from the configuration only\n", rerrs.n ? rerrs.items[0] : "?");
    cs_errlist_free(&rerrs);
    cs_chargeback_services services = {rules, &cfg};
    cs_report_meta meta = {.period = label, .from_usec = from, .to_usec = to,
                           .provider = cfg.report_provider, .issuer = cfg.report_issuer,
                           .service = cs_chargeback_service, .opaque = &services,
                           .excel = o.excel,
                           .focus_version = o.focus_version && strcmp(o.focus_version, "1.2") == 0
                                                ? CS_FOCUS_1_2 : CS_FOCUS_1_4};
    if (o.kind && strcmp(o.kind, "chargeback") != 0) {
        if (strcmp(o.kind, "spend") != 0 || !o.period) {
            fprintf(stderr, "costream report: --kind is chargeback (the default) or spend, which"
                            " takes --period\n");
            goto out;
        }
        FILE *so = o.output ? fopen(o.output, "w") : stdout;
        r = so ? report_spend(&cfg, &o, fmt, &meta, so) : 1;
        if (!so)
            fprintf(stderr, "costream report: %s: %s\n", o.output, strerror(errno));
        if (so && so != stdout && fclose(so) != 0)
            r = 1;
        goto out;
    }
    FILE *out = o.output ? fopen(o.output, "w") : stdout;
    if (!out) {
        fprintf(stderr, "costream report: %s: %s\n", o.output, strerror(errno));
        r = 1;
        goto out;
    }
    cs_store *store = cs_store_new(cfg.postgres);
    cs_chargeback *cb = NULL;
    char who[128];
    r = 1;
    bool recorded = !store || fmt != CS_REPORT_FOCUS || !o.period ||
                    cs_period_record_export(store, o.period, actor(&o, who, sizeof(who)), err,
                                            sizeof(err)) == 0; /* else said below */
    if (store && recorded && cs_chargeback_open(store, &q, fmt, &meta, &cb, err, sizeof(err)) == 0) {
        char chunk[65536];
        ssize_t n;
        while ((n = cs_chargeback_read(cb, chunk, sizeof(chunk), err, sizeof(err))) > 0)
            if (fwrite(chunk, 1, (size_t)n, out) != (size_t)n) {
                snprintf(err, sizeof(err), "write: %s", strerror(errno));
                n = -1;
                break;
            }
        r = n < 0 ? 1 : 0;
    }
    if (r)
        fprintf(stderr, "costream report: %s\n", err);
    cs_chargeback_close(cb);
    cs_store_free(store);
    if (out != stdout && fclose(out) != 0)
        r = 1;
out:
    cs_rules_free(rules);
    cs_config_free(&cfg);
    return r;
}

static int cmd_serve(int argc, char **argv)
{
    cs_config cfg;
    int r = load_config(argc, argv, &cfg);
    if (r == 0) {
        cs_log_set_level(cfg.log_level);
        install_signals();
        r = cs_serve_run(&cfg, &stop_flag);
        r = r == -EINVAL ? 2 : r < 0 ? 1 : 0; /* -EINVAL: the configuration, said in the log */
    }
    cs_config_free(&cfg);
    return r;
}

static void print_period(void *opaque, const char *period, int closed)
{
    (void)opaque;
    printf("%s  %s\n", period, closed ? "closed" : "open");
}

static void print_history(void *opaque, const char *const *c)
{
    (void)opaque;
    printf("%s  %-12s  %s  %s%s%s\n", c[0], c[1], c[2], c[3], c[4][0] ? "  " : "", c[4]);
}

static const char *const period_usage =
    "usage: costream period close|reopen YYYY-MM [--yes|--force] [--by NAME] [-c FILE]\n"
    "       costream period list|history [-c FILE]\n";

static int cmd_period(int argc, char **argv)
{
    static const char *const subs[] = {"close", "reopen", "list", "history"};
    int sub = -1;
    for (int i = 0; argc >= 2 && i < 4; i++)
        sub = strcmp(argv[1], subs[i]) == 0 ? i : sub;
    int dated = sub == 0 || sub == 1;
    if (sub < 0 || (dated && (argc < 3 || argv[2][0] == '-'))) {
        fputs(period_usage, stderr);
        return 2;
    }
    const char *period = dated ? argv[2] : NULL;
    cs_config cfg;
    cmd_opts o = {0};
    char err[512], who[128];
    int r = load_config_opts(argc - (dated ? 2 : 1), argv + (dated ? 2 : 1), &cfg, &o);
    if (r == 0) {
        cs_store *s = cs_store_new(cfg.postgres);
        const char *by = actor(&o, who, sizeof(who));
        int e = !s       ? -ENOMEM
                : sub == 0 ? cs_period_close(s, period, by, o.yes, err, sizeof(err))
                : sub == 1 ? cs_period_reopen(s, period, by, o.force, err, sizeof(err))
                : sub == 2 ? cs_reportdb_periods(s, NULL, print_period, NULL, err, sizeof(err))
                           : cs_period_history(s, print_history, NULL, err, sizeof(err));
        if (e == -ENOMEM)
            snprintf(err, sizeof(err), "out of memory");
        if (e < 0)
            fprintf(stderr, "costream period %s: %s\n", subs[sub], err);
        else if (sub == 0)
            printf("%s closed by %s: its reports will not change; later usage for it is billed in"
                   " the next open month as a correction\n", period, by);
        else if (sub == 1)
            printf("%s reopened by %s: usage for it is billed in it again; corrections already"
                   " billed in later months stay there\n", period, by);
        r = e == -EINVAL || e == -EPERM ? 2 : e < 0 ? 1 : 0;
        cs_store_free(s);
    }
    cs_config_free(&cfg);
    return r;
}

static void print_token(void *opaque, const char *const *c)
{
    (void)opaque;
    printf("%-14s %-9s %-20s %-20s %-21s %-21s %-21s %s\n", c[0], c[1], c[2][0] ? c[2] : "-", c[3],
           c[4], c[5][0] ? c[5] : "never", c[6][0] ? c[6] : "-", c[7]);
}

/* token list: every token, revoked ones included. */
static int token_list(int argc, char **argv)
{
    cs_config cfg;
    char err[512];
    int r = load_config(argc, argv, &cfg);
    if (r == 0) {
        cs_store *s = cs_store_new(cfg.postgres);
        printf("%-14s %-9s %-20s %-20s %-21s %-21s %-21s %s\n", "id", "scope", "customer", "name",
               "created", "last used", "revoked", "spend");
        if (cs_reportdb_token_list(s, print_token, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "costream token list: %s\n", err);
            r = 1;
        }
        cs_store_free(s);
    }
    cs_config_free(&cfg);
    return r;
}

static void print_reject(void *opaque, const cs_reject_row *x)
{
    const int *json = opaque;
    char detail[1024], raw[400];
    cs_utf8_escape(detail, sizeof(detail), x->detail, strlen(x->detail), NULL);
    cs_utf8_escape(raw, sizeof(raw), (const char *)x->raw, x->raw_len < 120 ? x->raw_len : 120, NULL);
    for (char *c = raw; *c; c++)
        *c = (unsigned char)*c < 0x20 ? ' ' : *c; /* one line */
    if (!*json) {
        printf("%-8lld %s  %s[%d]@%lld  %-18s %6zu B  %s  %s\n    %s%s\n", (long long)x->id,
               x->received_at, x->topic, (int)x->partition, (long long)x->offset, x->reason,
               x->raw_len, x->replayed_at ? "replayed" : "-", detail, raw,
               x->raw_len > 120 ? "..." : "");
        return;
    }
    json_t *o = json_pack("{sIsssssssisIsssssIss}", "id", (json_int_t)x->id, "received_at",
                          x->received_at, "group", x->group, "topic", x->topic, "partition",
                          (int)x->partition, "offset", (json_int_t)x->offset, "reason", x->reason,
                          "detail", detail, "raw_bytes", (json_int_t)x->raw_len, "raw_hex", "");
    cs_buf hex = {0};
    for (size_t i = 0; i < x->raw_len; i++)
        cs_buf_printf(&hex, "%02x", x->raw[i]);
    cs_buf_append(&hex, "", 1);
    if (o && !hex.failed)
        json_object_set_new(o, "raw_hex", json_string(hex.data));
    if (o && x->replayed_at)
        json_object_set_new(o, "replayed", json_pack("{ssss}", "at", x->replayed_at, "to",
                                                      x->replayed_to ? x->replayed_to : ""));
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line)
        puts(line);
    free(line);
    json_decref(o);
    cs_buf_free(&hex);
}

static const char *const rejects_usage =
    "usage: costream rejects list [filters] [--format table|json] [-c FILE]\n"
    "       costream rejects replay [filters] --into TOPIC [--again] [--dry-run] [-c FILE]\n"
    "filters: --reason R --topic T --from TIME --to TIME --id N... --limit N\n";

static int cmd_rejects(int argc, char **argv)
{
    int list = argc >= 2 && strcmp(argv[1], "list") == 0;
    if (!list && (argc < 2 || strcmp(argv[1], "replay") != 0)) {
        fputs(rejects_usage, stderr);
        return 2;
    }
    cs_config cfg;
    cmd_opts o = {0};
    char err[512];
    int r = load_config_opts(argc - 1, argv + 1, &cfg, &o);
    char *end = NULL;
    long limit = o.limit ? strtol(o.limit, &end, 10) : list ? 100 : 0;
    int json = o.format && strcmp(o.format, "json") == 0;
    if (r == 0 && (o.bad_id || (o.limit && (*end || limit <= 0)) ||
                   (o.format && !json && strcmp(o.format, "table") != 0) || (list && o.into))) {
        fprintf(stderr, "costream rejects: --id and --limit take positive numbers (at most 256"
                        " ids), --format table or json, --into only with replay\n%s", rejects_usage);
        r = 2;
    }
    if (r == 0) {
        cs_store *s = cs_store_new(cfg.postgres);
        cs_rejects_filter f = {.group = cfg.group, .reason = o.reason, .topic = o.topic,
                               .from = o.from, .to = o.to, .ids = o.ids, .nids = o.nids,
                               .include_replayed = list || o.again, .limit = limit};
        size_t selected, replayed;
        int e = !s     ? -ENOMEM
                : list ? cs_rejects_list(s, &f, print_reject, &json, err, sizeof(err))
                       : cs_rejects_replay(s, &cfg, &f, o.into, o.dry_run, &selected, &replayed,
                                           err, sizeof(err));
        if (e == -ENOMEM)
            snprintf(err, sizeof(err), "out of memory");
        if (e < 0)
            fprintf(stderr, "costream rejects: %s\n", err);
        if (!list && e != -ENOMEM && e != -EINVAL)
            printf("%zu rejects selected, %zu re-published to %s%s\n", selected, replayed,
                   o.into ? o.into : "?", o.dry_run ? " (dry run: nothing sent)" : "");
        r = e == -EINVAL ? 2 : e < 0 ? 1 : 0;
        cs_store_free(s);
    }
    cs_config_free(&cfg);
    return r;
}

static int cmd_reattribute(int argc, char **argv)
{
    cs_config cfg;
    cmd_opts o = {0};
    char err[512], who[128];
    cs_errlist errs = {0};
    cs_rules *rs = NULL;
    int r = load_config_opts(argc, argv, &cfg, &o);
    if (r == 0 && !o.period) {
        fprintf(stderr, "usage: costream reattribute --period YYYY-MM [--dry-run] [--by NAME]"
                        " [-c FILE]\n");
        r = 2;
    }
    if (r == 0 && cs_rules_load(cfg.rules_path, &rs, &errs) < 0) {
        print_errs(&errs);
        r = 2;
    }
    if (r == 0) {
        cs_store *s = cs_store_new(cfg.postgres);
        cs_labels *l = cs_labels_new(&cfg);
        cs_reattribute_result t;
        int e = !s || !l ? -ENOMEM
                         : cs_reattribute_run(s, l, rs, &cfg, o.period, actor(&o, who, sizeof(who)),
                                              o.dry_run, &t, err, sizeof(err));
        if (e == -ENOMEM)
            snprintf(err, sizeof(err), "out of memory");
        if (e < 0) {
            fprintf(stderr, "costream reattribute: %s\n", err);
        } else {
            char lc[CS_DEC_STRLEN], before[CS_DEC_STRLEN], after[CS_DEC_STRLEN];
            cs_dec_format(t.list_cost, CS_DEC_SCALE, lc, sizeof(lc));
            cs_dec_format(t.cost_before, CS_DEC_SCALE, before, sizeof(before));
            cs_dec_format(t.cost, CS_DEC_SCALE, after, sizeof(after));
            printf("%s%s: %zu of %zu unattributed label sets resolve now; %zu hourly rows, %lld"
                   " events, list cost %s %s (cost %s unattributed, %s at the customers' plans)\n",
                   o.dry_run ? "dry run, nothing moved: " : "", o.period, t.resolved,
                   t.attributions, t.rows, t.events, lc, o.dry_run ? "would move" : "moved",
                   before, after);
        }
        r = e == -EINVAL || e == -EPERM ? 2 : e < 0 ? 1 : 0;
        cs_labels_free(l);
        cs_store_free(s);
    }
    cs_rules_free(rs);
    cs_errlist_free(&errs);
    cs_config_free(&cfg);
    return r;
}

static int cmd_token(int argc, char **argv)
{
    cs_config cfg;
    cmd_opts o = {0};
    char err[512];
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return token_list(argc - 1, argv + 1);
    if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "revoke") != 0)) {
        fprintf(stderr, "usage: costream token create --scope finance|customer [--customer C] "
                        "--name N [--with-spend] [--force] -c FILE | costream token revoke ID -c FILE | "
                        "costream token list -c FILE\n");
        return 2;
    }
    int create = strcmp(argv[1], "create") == 0;
    const char *id = !create && argc > 2 ? argv[2] : NULL;
    int r = load_config_opts(argc - (create ? 1 : 2), argv + (create ? 1 : 2), &cfg, &o);
    if (r)
        goto out;
    cs_store *s = cs_store_new(cfg.postgres);
    if (create) {
        int finance = o.scope && strcmp(o.scope, "finance") == 0;
        int customer = o.scope && strcmp(o.scope, "customer") == 0;
        if ((!finance && !customer) || (customer && !o.customer) || (finance && o.customer) ||
            !o.name || (finance && o.with_spend)) {
            fprintf(stderr, "costream token create: --scope finance, or --scope customer with "
                            "--customer C (and --with-spend to let it read its infrastructure "
                            "spend); and --name are required\n");
            r = 2;
        } else if (customer && !o.force &&
                   (r = cs_reportdb_customer_known(s, o.customer, err, sizeof(err))) <= 0) {
            if (r < 0)
                fprintf(stderr, "costream token create: %s\n", err);
            else
                fprintf(stderr, "costream token create: no customer \"%s\" has usage or stored "
                                "attributes (a typo?); --force creates the token anyway\n",
                        o.customer);
            r = r < 0 ? 1 : 2;
        } else {
            r = 0;
            char token[CS_TOKEN_LEN + 1], tid[CS_TOKEN_ID_LEN + 1];
            unsigned char hash[CS_TOKEN_HASH_LEN];
            if (cs_token_generate(token, tid, hash) < 0 ||
                cs_reportdb_token_add(s, tid, hash, o.scope, o.customer, o.name, o.with_spend,
                                      err, sizeof(err)) < 0) {
                fprintf(stderr, "costream token create: %s\n", err);
                r = 1;
            } else {
                printf("%s\n", token);
                fprintf(stderr, "token %s created (%s%s%s); it is shown once and stored only as "
                                "a hash\n", tid, o.scope, o.customer ? " " : "",
                        o.customer ? o.customer : "");
            }
        }
    } else {
        int e = id ? cs_reportdb_token_revoke(s, id, err, sizeof(err)) : -EINVAL;
        if (e == -ENOENT)
            fprintf(stderr, "costream token revoke: no live token %s\n", id);
        else if (e < 0)
            fprintf(stderr, "costream token revoke: %s\n", id ? err : "usage: token revoke ID -c FILE");
        else
            printf("token %s revoked\n", id);
        r = e == 0 ? 0 : e == -EINVAL ? 2 : 1;
    }
    cs_store_free(s);
out:
    cs_config_free(&cfg);
    return r;
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




typedef struct bill_errors {
    const char *file;
    size_t n;
} bill_errors;

/* One line per bad bill line, file:line: column: reason (the first 50). */
static void print_bill_error(void *opaque, const cs_bill_error *e)
{
    bill_errors *b = opaque;
    if (b->n++ < 50)
        fprintf(stderr, "%s:%zu: %s%s%s\n", b->file, e->line, e->column, e->column[0] ? ": " : "",
                e->reason);
}

/* spend allocate --period YYYY-MM -c FILE: prints each pool's split. */
static int cmd_spend_allocate(int argc, char **argv)
{
    cs_config cfg;
    cmd_opts o = {0};
    cs_errlist errs = {0};
    cs_rules *rules = NULL;
    char err[768];
    int r = load_config_opts(argc, argv, &cfg, &o);
    if (r == 0 && !o.period) {
        fprintf(stderr, "costream spend allocate: --period YYYY-MM is required\n");
        r = 2;
    }
    if (r == 0 && cs_rules_load(cfg.rules_path, &rules, &errs) < 0) {
        print_errs(&errs);
        r = 2;
    }
    if (r == 0) {
        cs_store *s = cs_store_new(cfg.postgres);
        cs_spend_allocate_result res;
        int e = cs_spend_allocate(s, rules, o.period, &res, err, sizeof(err));
        if (e < 0) {
            fprintf(stderr, "costream spend allocate: %s\n", err);
            r = e == -EINVAL ? 2 : 1;
        } else {
            if (res.correction_in[0])
                printf("%s is closed: its allocation is unchanged; %zu correction rows stored in "
                       "%.7s\n", o.period, res.rows, res.correction_in);
            else
                printf("%s: %zu bill lines allocated into %zu rows (%s)\n", o.period, res.lines,
                       res.rows, res.currency[0] ? res.currency : "no lines");
            for (size_t i = 0; i < res.npools; i++) {
                const cs_spend_pool_total *t = &res.pools[i];
                char c[CS_DEC_STRLEN], a[CS_DEC_STRLEN], u[CS_DEC_STRLEN];
                if (!t->pool)
                    continue;
                cs_dec_format(t->cost, 12, c, sizeof(c));
                cs_dec_format(t->allocated, 12, a, sizeof(a));
                cs_dec_format(t->unallocated, 12, u, sizeof(u));
                printf("  pool %-20s %6zu lines  cost %s = allocated %s + unallocated %s\n",
                       t->pool[0] ? t->pool : "(no pool)", t->lines, c, a, u);
            }
            cs_spend_allocate_result_free(&res);
        }
        cs_store_free(s);
    }
    cs_errlist_free(&errs);
    cs_rules_free(rules);
    cs_config_free(&cfg);
    return r;
}

/* spend import FILE... --source NAME [--keep-bad-rows] -c FILE */
static int cmd_spend(int argc, char **argv)
{
    cs_config cfg;
    cmd_opts o = {0};
    char err[768];
    if (argc >= 2 && strcmp(argv[1], "allocate") == 0)
        return cmd_spend_allocate(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "import") != 0) {
        fprintf(stderr, "usage: costream spend import FILE... --source NAME [--keep-bad-rows] -c FILE\n"
                        "       costream spend allocate --period YYYY-MM -c FILE\n");
        return 2;
    }
    int r = load_config_opts(argc - 1, argv + 1, &cfg, &o);
    if (r == 0 && (!o.source || optind >= argc - 1)) {
        fprintf(stderr, "costream spend import: --source NAME and at least one FILE are required\n");
        r = 2;
    }
    cs_store *s = r ? NULL : cs_store_new(cfg.postgres);
    for (int i = optind + 1; r == 0 && i < argc; i++) {
        cs_file_map m;
        bill_errors be = {argv[i], 0};
        cs_spend_import_result res;
        const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
        int fe = cs_file_map_maybe_gzip(argv[i], (uint64_t)cfg.spend_max_import_mb << 20, tmp, &m,
                                        err, sizeof(err));
        if (fe < 0) {
            fprintf(stderr, "costream spend import: %s%s\n", err,
                    fe == -EFBIG ? ": past spend.max_import_mb; raise it for a larger bill" : "");
            r = 1;
            break;
        }
        int e = cs_spend_import(s, o.source, argv[i], m.data, m.len, o.keep_bad != 0,
                                print_bill_error, &be, &res, err, sizeof(err));
        cs_file_map_done(&m);
        if (e == -EBADMSG) {
            if (be.n > 50)
                fprintf(stderr, "%s: ... and %zu more\n", argv[i], be.n - 50);
            fprintf(stderr, "costream spend import: %s: %zu line%s cannot be read; nothing was "
                            "imported (fix them, or pass --keep-bad-rows to import the rest and "
                            "keep these as rejects)\n", argv[i], be.n, be.n == 1 ? "" : "s");
            r = 1;
        } else if (e < 0) {
            fprintf(stderr, "costream spend import: %s: %s\n", argv[i], err);
            r = 1;
        } else if (res.already) {
            printf("%s: already imported for source %s (import %ld); nothing changed\n", argv[i],
                   o.source, res.import_id);
        } else {
            printf("%s: import %ld for source %s: %zu lines, %zu rejected, %zu billing period%s\n",
                   argv[i], res.import_id, o.source, res.lines, res.rejected, res.periods,
                   res.periods == 1 ? "" : "s");
        }
    }
    cs_store_free(s);
    cs_config_free(&cfg);
    return r;
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
    if (strcmp(cmd, "help") == 0 && argc > 1 && cs_help_command(argv[1])) {
        char *h[] = {argv[1], "--help"};
        return help_asked(argv[1], 2, h) ? 0 : 2;
    }
    if (cs_help_command(cmd) && help_asked(cmd, argc, argv))
        return 0;
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(argc, argv);
    if (strcmp(cmd, "rules") == 0)
        return cmd_rules(argc, argv);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc, argv);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc, argv);
    if (strcmp(cmd, "period") == 0)
        return cmd_period(argc, argv);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc, argv);
    if (strcmp(cmd, "rejects") == 0)
        return cmd_rejects(argc, argv);
    if (strcmp(cmd, "reattribute") == 0)
        return cmd_reattribute(argc, argv);
    if (strcmp(cmd, "spend") == 0)
        return cmd_spend(argc, argv);
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
