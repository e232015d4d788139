/* help.c - the command-line help of costream and its tools (see help.h). */
#include "help.h"

#include <string.h>

typedef struct command_help {
    const char *name;
    const char *text;
} command_help;

static const char common[] =
    "  -c, --config FILE     the configuration (default: $COSTREAM_CONFIG, then\n"
    "                        /etc/costream/costream.conf; docs/operations.md)\n"
    "  --set KEY=VALUE       override one configuration key (repeatable)\n"
    "  -h, --help            this help\n";

static const command_help commands[] = {
    {"run",
     "costream run [-c FILE] [--set KEY=VALUE]...\n"
     "  Consume usage events and metric samples from Kafka as a consumer-group\n"
     "  member, price and attribute them, and store costs and offsets in\n"
     "  PostgreSQL exactly once.  Run one per process; more share the partitions.\n"
     "  SIGHUP reloads the rules; SIGTERM flushes and leaves the group.\n"
     "  Example: costream run -c /etc/costream/costream.conf --set log.level=debug\n"},
    {"migrate",
     "costream migrate [-c FILE] [--set KEY=VALUE]...\n"
     "  Apply the SQL migrations (sql/, embedded) to PostgreSQL; safe to repeat.\n"
     "  Example: costream migrate -c costream.conf\n"},
    {"rules",
     "costream rules check FILE...\n"
     "  Validate pricing rules files (and their allocation pools); every problem\n"
     "  as file:line:column.  Exit 0 when all are valid, 2 otherwise.\n"
     "  Example: costream rules check rules/example.json\n"},
    {"report",
     "costream report [-c FILE] (--period YYYY-MM | --from T --to T) [options]\n"
     "  --kind chargeback|spend   what to report (default chargeback; spend: the\n"
     "                            allocated infrastructure bill, --period only)\n"
     "  --customer C, --product P, --plan P   filters (chargeback; spend: --customer)\n"
     "  --format table|csv|json|focus         default table\n"
     "  --output FILE                         default standard output\n"
     "  --excel                               CSV with a UTF-8 byte-order mark (Excel)\n"
     "  --focus-version 1.4|1.2               the FOCUS export's version (default 1.4)\n"
     "  --by NAME                             who exports (FOCUS: period history)\n"
     "  Example: costream report -c costream.conf --period 2026-11 --format csv\n"},
    {"serve",
     "costream serve [-c FILE]\n"
     "  Serve the finance page, chargeback reports, FOCUS exports and spend\n"
     "  reports over HTTP on serve.listen, with tokens (costream token).\n"
     "  Example: costream serve -c costream.conf\n"},
    {"period",
     "costream period close YYYY-MM [--yes] [--by NAME] [-c FILE]\n"
     "costream period reopen YYYY-MM [--force] [--by NAME] [-c FILE]\n"
     "costream period list|history [-c FILE]\n"
     "  Close a finished billing month (its reports stop changing; later usage\n"
     "  is billed in the next open month as a correction): a month without usage\n"
     "  or other than the last finished one needs --yes.  Reopen a month closed\n"
     "  by mistake (--force once its FOCUS export was downloaded).  List months,\n"
     "  or the history of closes, reopens and exports (who: --by, default the\n"
     "  login name).\n"
     "  Example: costream period close 2026-10 -c costream.conf\n"},
    {"token",
     "costream token create --scope finance|customer [--customer C] --name N [--with-spend]\n"
     "                      [--force] [-c FILE]\n"
     "costream token revoke ID [-c FILE]\n"
     "costream token list [-c FILE]\n"
     "  Create a report token (printed once, stored as a hash; a customer token\n"
     "  for a customer with no usage or attributes needs --force), revoke one, or\n"
     "  list them all (id, scope, customer, name, created, last used, revoked,\n"
     "  spend).  A customer token reads its customer's billing; with --with-spend\n"
     "  also the infrastructure spend allocated to it (internal chargeback).\n"
     "  Example: costream token create --scope customer --customer acme --name acme-finops\n"},
    {"spend",
     "costream spend import FILE... --source NAME [--keep-bad-rows] [-c FILE]\n"
     "costream spend allocate --period YYYY-MM [-c FILE]\n"
     "  Import the infrastructure bill (FOCUS CSV, plain or gzip; all or nothing\n"
     "  unless --keep-bad-rows; the same file twice changes nothing), and allocate\n"
     "  a month of it to customers and products by the rules' pools (docs/spend.md).\n"
     "  Example: costream spend import aws-2026-10.csv.gz --source aws -c costream.conf\n"},
    {"reattribute",
     "costream reattribute --period YYYY-MM [--dry-run] [--by NAME] [-c FILE]\n"
     "  Move an open month's unattributed usage whose labels Redis now resolves\n"
     "  (after an outage) to its customers, at their plans' discounts; every move\n"
     "  is recorded (table reattributions).  --dry-run says what would move.\n"
     "  Example: costream reattribute --period 2026-11 -c costream.conf\n"},
    {"rejects",
     "costream rejects list [--reason R] [--topic T] [--from T] [--to T] [--id N]...\n"
     "                      [--limit N] [--format table|json] [-c FILE]\n"
     "costream rejects replay [same filters] --into TOPIC [--again] [--dry-run] [-c FILE]\n"
     "  List the group's rejected messages (reason, detail, raw bytes; default the\n"
     "  oldest 100), or re-publish chosen raw payloads, with their keys, to a topic\n"
     "  after the cause is fixed.  A replayed reject is marked and not replayed again\n"
     "  without --again; de-duplication counts a replayed event once.\n"
     "  Example: costream rejects replay --reason unpriced --into usage-events\n"},
    {"version", "costream version\n  Print the version.\n"},
};

static const char loadgen[] =
    "costream-loadgen --brokers B [options]\n"
    "  Produces realistic usage events (and container metrics) to any Kafka.\n"
    "  --topic T                    default usage-events\n"
    "  --count N                    events (default 1000; duplicates come on top)\n"
    "  --rate R                     events per second (default: as fast as possible)\n"
    "  --customers C                default 200\n"
    "  --format json|msgpack        default json\n"
    "  --malformed-permille M       default 0\n"
    "  --unattributed-permille U    default 0\n"
    "  --duplicate-permille D       default 0\n"
    "  --seed S                     default 1\n"
    "  --start TIME --span-hours H  event times (default: the last 72 hours)\n"
    "  --totals FILE                write the exact sums produced\n"
    "  --redis-out FILE             write the redis-cli commands defining the customers\n"
    "  --set kafka.K=V              librdkafka properties\n"
    "  --metrics-topic M [--metric-pods P] [--metric-interval-seconds S] [--metric-span-hours H]\n"
    "                               also container metrics (default 40 pods, 15 s, 6 hours)\n"
    "  Example: costream-loadgen --brokers localhost:9092 --count 100000 --customers 1000\n";

const char *cs_help_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].text;
    return NULL;
}

const char *cs_help_common(void)
{
    return common;
}

const char *cs_help_loadgen(void)
{
    return loadgen;
}

void cs_help_all(cs_buf *b)
{
    cs_buf_puts(b, "usage: costream COMMAND [OPTIONS]   (costream COMMAND --help for one)\n\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        cs_buf_puts(b, commands[i].text);
        cs_buf_puts(b, "\n");
    }
    cs_buf_puts(b, "Options of every command that reads the configuration:\n");
    cs_buf_puts(b, common);
    cs_buf_puts(b, "\nTools (own executables; costream-kafka-mock --help for the mock cluster):\n");
    cs_buf_puts(b, loadgen);
    cs_buf_puts(b, "\nSee docs/operations.md for every configuration key.\n");
}
