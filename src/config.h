/* config.h - the worker's configuration file.
 *
 * A plain "key = value" file (docs/operations.md lists every key): '#'
 * starts a comment, values may be double-quoted, lists are comma-separated.
 * Keys starting with "kafka." are handed to librdkafka without the prefix,
 * so any librdkafka property (security.protocol, sasl.*, ...) can be set.
 * Every error names the file, the line and the key.  Values set later win,
 * so command-line overrides (--set key=value) are applied after the file.
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>

#include "event.h"
#include "rules.h"

#define CS_CONFIG_MAX_LIST 16

typedef struct cs_config_kv {
    char *key;
    char *value;
} cs_config_kv;

typedef struct cs_config {
    char *topics[CS_CONFIG_MAX_LIST];
    size_t ntopics;
    char *group;
    char *postgres;        /* libpq conninfo string or URI */
    char *redis_host;
    int redis_port;
    char *redis_socket;    /* unix socket path; wins over host/port */
    char *redis_username;  /* ACL user (Redis 6): AUTH username password */
    char *redis_password;
    int redis_db;
    char *redis_prefix;    /* key prefix, "costream:" */
    char *rules_path;
    int flush_interval_ms;     /* time between flushes when PostgreSQL keeps up */
    int flush_max_interval_ms; /* under load the interval grows up to this */
    int flush_max_events;
    char *label_order[CS_CONFIG_MAX_LIST];
    size_t nlabel_order;
    size_t cache_size;
    int cache_ttl_ms;
    int negative_ttl_ms;     /* how long "no such label or customer" is trusted */
    size_t max_message_bytes;
    char *start_offset;    /* "earliest" or "latest", for partitions never consumed */
    cs_event_format format;
    char *log_level;
    char *http_listen;      /* "host:port" of /metrics etc., or NULL when "off" */
    int metrics_max_customers; /* cardinality cap on the customer label */
    int mtd_refresh_ms;     /* month-to-date gauge refresh from PostgreSQL */
    int dedup;              /* 1: count each (source, id) once per group */
    int dedup_window_hours; /* how long ids are remembered */
    int dedup_max_events;   /* fingerprints held in memory at most */
    int rejects_retention_days; /* rejected events kept this long; 0: for ever */
    int spend_reallocate_s;     /* open months' spend re-allocated this often; 0: never */
    int spend_max_import_mb;    /* a bill file at most, once decompressed */
    cs_config_kv *kafka;   /* passthrough librdkafka properties */
    size_t nkafka;
    char *metric_topics[CS_CONFIG_MAX_LIST]; /* metric sample topics */
    size_t nmetric_topics;
    char *metric_label_order[CS_CONFIG_MAX_LIST];
    size_t nmetric_label_order;
    int settle_interval_ms;  /* how often pending samples are settled */
    int lateness_ms;         /* settle below the watermark minus this */
    int partition_idle_ms;   /* a partition this long without samples stops holding it back */
    int series_idle_ms;      /* gauges without samples this long are forgotten */
    int counter_retention_hours; /* counters are kept this long, to charge across gaps */
    int settle_max_samples;  /* about the most samples one shard's settlement holds */
    char *serve_listen;    /* costream serve: "host:port" */
    char *serve_tls_cert;  /* PEM files: HTTPS when both are set */
    char *serve_tls_key;
    int serve_allow_plaintext; /* 1: plain HTTP off loopback (a trusted network) */
    int serve_db_pool;     /* PostgreSQL connections of the report server */
    int serve_per_token;   /* concurrent requests per token */
    int serve_threads;     /* request threads */
    int serve_max_connections;  /* open client connections at most */
    int serve_client_timeout_s; /* a client idle this long is dropped */
    int serve_per_ip;           /* open connections per client address (0: no cap) */
    int serve_header_timeout_s; /* a request's headers complete within this */
    int serve_per_customer;     /* concurrent requests per customer (its tokens together) */
    int serve_finance_reserve;  /* pool connections customer tokens leave free */
    int serve_max_report_mb;    /* a download's spool at most */
    char *serve_spool_dir;      /* where downloads are spooled (NULL: $TMPDIR, /var/tmp) */
    int http_max_connections;   /* the worker's /metrics port: as serve.* */
    int http_per_ip;
    int http_header_timeout_s;
    int serve_statement_timeout_ms;  /* per report statement */
    int serve_idle_tx_timeout_ms;    /* a download stalled this long is ended */
    char *report_provider; /* FOCUS ProviderName / PublisherName */
    char *report_issuer;   /* FOCUS InvoiceIssuerName */
    cs_config_kv *categories; /* product → FOCUS ServiceCategory */
    size_t ncategories;
} cs_config;

/* Sets the Redis keys from a URL: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
 * or unix://[[USER]:PASSWORD@]/PATH[?db=DB] (userinfo percent-decoded).
 * rediss:// is refused with a hint (no TLS in this hiredis).  0, or -EINVAL
 * with a message naming where and the key appended to errs. */
int cs_config_redis_url(cs_config *cfg, const char *v, const char *where, cs_errlist *errs);

/* Fills cfg with the defaults.  Returns 0 or -ENOMEM. */
int cs_config_init(cs_config *cfg);

/* Frees what cfg owns; cfg may be zeroed or initialised. */
void cs_config_free(cs_config *cfg);

/* Applies one key.  where ("costream.conf:12" or "--set") prefixes errors.
 * Returns 0 or -EINVAL with a message appended to errs. */
int cs_config_set(cs_config *cfg, const char *key, const char *value, const char *where,
                  cs_errlist *errs);

/* The FOCUS ServiceCategory configured for product, or NULL. */
const char *cs_config_service_category(const cs_config *cfg, const char *product);

/* Reads a file of key = value lines.  Returns 0, or a negative error with
 * every problem in errs. */
int cs_config_load(cs_config *cfg, const char *path, cs_errlist *errs);

/* Splits a listen address "host:port" or "host:first-last" (ports 0 to
 * 65535, first <= last; 0 alone means any free port).  0 or -EINVAL. */
int cs_config_listen_range(const char *v, char *ret_host, size_t hostsize, int *ret_lo,
                           int *ret_hi);

#endif
