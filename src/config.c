/* config.c - parsing the key = value configuration (see config.h). */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "focus.h"
#include "hex.h"

static int set_str(char **dst, const char *v)
{
    char *s = strdup(v);
    if (!s)
        return -ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

static void free_list(char **items, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free(items[i]);
    *n = 0;
}

static int set_list(char **items, size_t *n, const char *v, const char *where, const char *key,
                    cs_errlist *errs)
{
    char *copy = strdup(v), *save = NULL;
    if (!copy)
        return -ENOMEM;
    free_list(items, n);
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t l = strlen(tok);
        while (l && tok[l - 1] == ' ')
            tok[--l] = '\0';
        if (!*tok)
            continue;
        if (*n >= CS_CONFIG_MAX_LIST) {
            cs_errlist_addf(errs, "%s: %s: at most %d items", where, key, CS_CONFIG_MAX_LIST);
            free(copy);
            return -EINVAL;
        }
        items[(*n)++] = strdup(tok);
    }
    free(copy);
    return 0;
}

static int set_int(int *dst, const char *v, long min, long max, const char *where,
                   const char *key, cs_errlist *errs)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) {
        cs_errlist_addf(errs, "%s: %s: \"%s\" is not a whole number from %ld to %ld", where, key,
                        v, min, max);
        return -EINVAL;
    }
    *dst = (int)n;
    return 0;
}

int cs_config_init(cs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cs_errlist errs = {0};
    int r = 0;
    r |= set_list(cfg->topics, &cfg->ntopics, "usage-events", "defaults", "topics", &errs);
    r |= set_str(&cfg->group, "costream");
    r |= set_str(&cfg->postgres, "dbname=costream");
    r |= set_str(&cfg->redis_host, "127.0.0.1");
    r |= set_str(&cfg->redis_prefix, "costream:");
    r |= set_str(&cfg->rules_path, "rules/example.json");
    r |= set_list(cfg->label_order, &cfg->nlabel_order, "api_key,namespace,sandbox_id", "defaults",
                  "labels.order", &errs);
    r |= set_str(&cfg->start_offset, "earliest");
    r |= set_str(&cfg->log_level, "info");
    r |= set_str(&cfg->http_listen, "127.0.0.1:9464-9473"); /* several workers per host */
    r |= set_str(&cfg->serve_listen, "127.0.0.1:9465");
    r |= set_str(&cfg->report_provider, "costream");
    r |= set_str(&cfg->report_issuer, "costream");
    cfg->metrics_max_customers = 1000;
    r |= set_list(cfg->metric_label_order, &cfg->nmetric_label_order,
                  "namespace,sandbox_id,pod", "defaults", "metrics.labels.order", &errs);
    cfg->settle_interval_ms = 5000;
    cfg->lateness_ms = 10000;
    cfg->partition_idle_ms = 600000;
    cfg->series_idle_ms = 3600000;
    cfg->counter_retention_hours = 840;
    cfg->settle_max_samples = 100000;
    cfg->mtd_refresh_ms = 30000;
    cfg->redis_port = 6379;
    cfg->dedup = 1;
    cfg->dedup_window_hours = 168;
    cfg->dedup_max_events = 4000000;
    cfg->rejects_retention_days = 90;
    cfg->spend_reallocate_s = 3600;
    cfg->spend_max_import_mb = 1024;
    cfg->flush_interval_ms = 500;
    cfg->flush_max_interval_ms = 5000;
    cfg->serve_db_pool = 8;
    cfg->serve_per_token = 2;
    cfg->serve_threads = 4;
    cfg->serve_max_connections = 256;
    cfg->serve_client_timeout_s = 30;
    cfg->serve_per_ip = 32;
    cfg->serve_header_timeout_s = 10;
    cfg->serve_per_customer = 4;
    cfg->serve_finance_reserve = 2;
    cfg->serve_max_report_mb = 4096;
    cfg->http_max_connections = 128;
    cfg->http_per_ip = 16;
    cfg->http_header_timeout_s = 5;
    cfg->serve_statement_timeout_ms = 300000;
    cfg->serve_idle_tx_timeout_ms = 60000;
    cfg->flush_max_events = 200000;
    cfg->cache_size = 100000;
    cfg->cache_ttl_ms = 30000;
    cfg->negative_ttl_ms = 2000;
    cfg->max_message_bytes = 65536;
    cs_errlist_free(&errs);
    return r ? -ENOMEM : 0;
}

void cs_config_free(cs_config *cfg)
{
    if (!cfg)
        return;
    free_list(cfg->topics, &cfg->ntopics);
    free_list(cfg->label_order, &cfg->nlabel_order);
    free_list(cfg->metric_topics, &cfg->nmetric_topics);
    free_list(cfg->metric_label_order, &cfg->nmetric_label_order);
    free(cfg->group);
    free(cfg->postgres);
    free(cfg->redis_host);
    free(cfg->redis_socket);
    free(cfg->redis_password);
    free(cfg->redis_username);
    free(cfg->serve_tls_cert);
    free(cfg->serve_tls_key);
    free(cfg->serve_spool_dir);
    free(cfg->redis_prefix);
    free(cfg->rules_path);
    free(cfg->start_offset);
    free(cfg->log_level);
    free(cfg->http_listen);
    free(cfg->serve_listen);
    free(cfg->report_provider);
    free(cfg->report_issuer);
    for (size_t i = 0; i < cfg->ncategories; i++) {
        free(cfg->categories[i].key);
        free(cfg->categories[i].value);
    }
    free(cfg->categories);
    for (size_t i = 0; i < cfg->nkafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    memset(cfg, 0, sizeof(*cfg));
}

/* Sets key in a list of key/value pairs, replacing an earlier value. */
static int set_kv(cs_config_kv **list, size_t *n, const char *key, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].key, key) == 0)
            return set_str(&(*list)[i].value, value);
    cs_config_kv *kv = realloc(*list, (*n + 1) * sizeof(*kv));
    if (!kv)
        return -ENOMEM;
    *list = kv;
    kv[*n].key = strdup(key);
    kv[*n].value = strdup(value);
    (*n)++;
    return 0;
}

const char *cs_config_service_category(const cs_config *cfg, const char *product)
{
    for (size_t i = 0; i < cfg->ncategories; i++)
        if (strcmp(cfg->categories[i].key, product) == 0)
            return cfg->categories[i].value;
    return NULL;
}

/* Whole-number keys: name, field, range. */
static const struct int_key {
    const char *key;
    size_t offset;
    long min, max;
} int_keys[] = {
    {"redis.port", offsetof(cs_config, redis_port), 1, 65535},
    {"redis.db", offsetof(cs_config, redis_db), 0, 1000},
    {"flush.interval_ms", offsetof(cs_config, flush_interval_ms), 10, 3600000},
    {"flush.max_interval_ms", offsetof(cs_config, flush_max_interval_ms), 10, 3600000},
    {"flush.max_events", offsetof(cs_config, flush_max_events), 1, 100000000},
    {"labels.cache_ttl_ms", offsetof(cs_config, cache_ttl_ms), 0, 86400000},
    {"labels.negative_cache_ttl_ms", offsetof(cs_config, negative_ttl_ms), 0, 86400000},
    {"metrics.settle_interval_ms", offsetof(cs_config, settle_interval_ms), 10, 3600000},
    {"metrics.lateness_ms", offsetof(cs_config, lateness_ms), 0, 86400000},
    {"metrics.partition_idle_ms", offsetof(cs_config, partition_idle_ms), 1000, 604800000},
    {"metrics.series_idle_ms", offsetof(cs_config, series_idle_ms), 1000, 2000000000},
    {"metrics.counter_retention_hours", offsetof(cs_config, counter_retention_hours), 1, 87600},
    {"metrics.settle_max_samples", offsetof(cs_config, settle_max_samples), 1000, 100000000},
    {"metrics.max_customers", offsetof(cs_config, metrics_max_customers), 2, 10000000},
    {"metrics.month_to_date_refresh_ms", offsetof(cs_config, mtd_refresh_ms), 100, 86400000},
    {"dedup.window_hours", offsetof(cs_config, dedup_window_hours), 1, 87600},
    {"dedup.max_events_in_memory", offsetof(cs_config, dedup_max_events), 1000, 2000000000},
    {"rejects.retention_days", offsetof(cs_config, rejects_retention_days), 0, 36500},
    {"spend.reallocate_interval_s", offsetof(cs_config, spend_reallocate_s), 0, 604800},
    {"spend.max_import_mb", offsetof(cs_config, spend_max_import_mb), 1, 16777216},
    {"serve.db_pool", offsetof(cs_config, serve_db_pool), 1, 1000},
    {"serve.max_requests_per_token", offsetof(cs_config, serve_per_token), 1, 1000},
    {"serve.threads", offsetof(cs_config, serve_threads), 1, 256},
    {"serve.max_connections", offsetof(cs_config, serve_max_connections), 1, 100000},
    {"serve.client_timeout_s", offsetof(cs_config, serve_client_timeout_s), 1, 86400},
    {"serve.max_connections_per_ip", offsetof(cs_config, serve_per_ip), 0, 100000},
    {"serve.header_timeout_s", offsetof(cs_config, serve_header_timeout_s), 1, 3600},
    {"serve.max_requests_per_customer", offsetof(cs_config, serve_per_customer), 1, 1000},
    {"serve.db_pool_finance_reserve", offsetof(cs_config, serve_finance_reserve), 0, 1000},
    {"serve.max_report_mb", offsetof(cs_config, serve_max_report_mb), 1, 1048576},
    {"http.max_connections", offsetof(cs_config, http_max_connections), 1, 100000},
    {"http.max_connections_per_ip", offsetof(cs_config, http_per_ip), 0, 100000},
    {"http.header_timeout_s", offsetof(cs_config, http_header_timeout_s), 1, 3600},
    {"serve.statement_timeout_ms", offsetof(cs_config, serve_statement_timeout_ms), 100, 86400000},
    {"serve.idle_in_transaction_timeout_ms", offsetof(cs_config, serve_idle_tx_timeout_ms), 100, 86400000},
};

/* A two-valued key: 1 for on, 0 for off, else an error naming both. */
static int set_switch(int *dst, const char *v, const char *on, const char *off, const char *where,
                      const char *key, cs_errlist *errs)
{
    if (strcmp(v, on) != 0 && strcmp(v, off) != 0) {
        cs_errlist_addf(errs, "%s: %s: \"%s\" is not %s or %s", where, key, v, on, off);
        return -EINVAL;
    }
    *dst = strcmp(v, on) == 0;
    return 0;
}

/* Plain text keys: name, field. */
static const struct str_key {
    const char *key;
    size_t offset;
} str_keys[] = {
    {"report.provider", offsetof(cs_config, report_provider)},
    {"report.issuer", offsetof(cs_config, report_issuer)},
    {"group", offsetof(cs_config, group)},
    {"postgres", offsetof(cs_config, postgres)},
    {"redis.host", offsetof(cs_config, redis_host)},
    {"redis.socket", offsetof(cs_config, redis_socket)},
    {"redis.username", offsetof(cs_config, redis_username)},
    {"redis.password", offsetof(cs_config, redis_password)},
    {"redis.prefix", offsetof(cs_config, redis_prefix)},
    {"rules", offsetof(cs_config, rules_path)},
    {"serve.tls_cert", offsetof(cs_config, serve_tls_cert)},
    {"serve.tls_key", offsetof(cs_config, serve_tls_key)},
    {"serve.spool_dir", offsetof(cs_config, serve_spool_dir)},
};

/* Decodes URL percent escapes of s[0..n) into a new string; NULL on a bad
 * escape or no memory. */
static char *url_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    for (size_t i = 0; out && i < n; i++) {
        int hi = s[i] == '%' && i + 2 < n ? cs_hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? cs_hex_digit(s[i + 2]) : -1;
        if (s[i] != '%') {
            *o++ = s[i];
        } else if (lo >= 0 && (hi | lo)) { /* never %00 */
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            free(out);
            return NULL;
        }
    }
    if (out)
        *o = '\0';
    return out;
}

int cs_config_redis_url(cs_config *cfg, const char *v, const char *where, cs_errlist *errs)
{
    const char *rest = NULL;
    bool unix_socket = false;
    if (strncmp(v, "redis://", 8) == 0)
        rest = v + 8;
    else if (strncmp(v, "unix://", 7) == 0)
        rest = v + 7, unix_socket = true;
    if (strncmp(v, "rediss://", 9) == 0) {
        cs_errlist_addf(errs, "%s: redis.url: rediss:// (TLS) needs hiredis with SSL, which this"
                              " build's hiredis lacks: reach Redis through a TLS tunnel (stunnel,"
                              " ghostunnel) on localhost and give redis://localhost:PORT"
                              " (docs/redis.md)", where);
        return -EINVAL;
    }
    const char *at = rest ? strrchr(rest, '@') : NULL;
    char *user = NULL, *pass = NULL, *host = NULL;
    long port = 6379, db = 0;
    bool ok = rest != NULL;
    if (ok && at) { /* [user][:password]@ */
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ulen = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
        user = ulen ? url_decode(rest, ulen) : NULL;
        pass = colon ? url_decode(colon + 1, (size_t)(at - colon - 1)) : NULL;
        ok = (!ulen || user) && (!colon || pass);
        if (!colon) { /* redis://password@host: a lone userinfo is the password */
            pass = user;
            user = NULL;
        }
        rest = at + 1;
    }
    const char *q = rest ? rest + strcspn(rest, unix_socket ? "?" : "/?") : NULL;
    if (ok && unix_socket) {
        host = q > rest && rest[0] == '/' ? strndup(rest, (size_t)(q - rest)) : NULL;
        ok = host && (!*q || sscanf(q, "?db=%ld", &db) == 1);
    } else if (ok) {
        const char *colon = memchr(rest, ':', (size_t)(q - rest));
        size_t hlen = colon ? (size_t)(colon - rest) : (size_t)(q - rest);
        host = hlen ? strndup(rest, hlen) : NULL;
        char *end = NULL;
        if (colon)
            port = strtol(colon + 1, &end, 10);
        ok = host && (!colon || (end == q && end > colon + 1 && port >= 1 && port <= 65535));
        if (ok && *q == '/' && q[1]) {
            db = strtol(q + 1, &end, 10);
            ok = *end == '\0' && end > q + 1;
        } else if (ok && *q == '/') {
            ok = q[1] == '\0';
        } else if (ok && *q) {
            ok = false;
        }
    }
    ok = ok && db >= 0 && db <= 1000;
    if (!ok) {
        free(user);
        free(pass);
        free(host);
        cs_errlist_addf(errs, "%s: redis.url: \"%s\" is not redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"
                              " or unix://[[USER]:PASSWORD@]/PATH[?db=DB] (percent-escape @ : /"
                              " in the password)", where, v);
        return -EINVAL;
    }
    free(cfg->redis_username);
    free(cfg->redis_password);
    cfg->redis_username = user;
    cfg->redis_password = pass;
    cfg->redis_db = (int)db;
    if (unix_socket) {
        free(cfg->redis_socket);
        cfg->redis_socket = host;
    } else {
        free(cfg->redis_host);
        free(cfg->redis_socket);
        cfg->redis_socket = NULL;
        cfg->redis_host = host;
        cfg->redis_port = (int)port;
    }
    return 0;
}

int cs_config_listen_range(const char *v, char *ret_host, size_t hostsize, int *ret_lo,
                           int *ret_hi)
{
    const char *colon = strrchr(v, ':');
    if (!colon || !colon[1] || (size_t)(colon - v) >= hostsize)
        return -EINVAL;
    long p[2] = {-1, -1};
    const char *s = colon + 1;
    for (int k = 0; k < 2; k++) {
        char *end;
        if (*s < '0' || *s > '9')
            return -EINVAL;
        errno = 0;
        p[k] = strtol(s, &end, 10);
        if (errno || p[k] > 65535)
            return -EINVAL;
        if (k == 0 && *end == '-') {
            s = end + 1;
            continue;
        }
        if (*end)
            return -EINVAL;
        if (k == 0)
            p[1] = p[0];
        break;
    }
    if (p[1] < p[0] || (p[0] == 0 && p[1] != 0))
        return -EINVAL;
    memcpy(ret_host, v, (size_t)(colon - v));
    ret_host[colon - v] = '\0';
    *ret_lo = (int)p[0];
    *ret_hi = (int)p[1];
    return 0;
}

/* "host:port" (0: any free port) or "host:first-last" (the first free one). */
static int check_listen(const char *v, const char *where, const char *key, cs_errlist *errs)
{
    char host[256];
    int lo, hi;
    if (cs_config_listen_range(v, host, sizeof(host), &lo, &hi) < 0) {
        cs_errlist_addf(errs, "%s: %s: \"%s\" is not host:port or host:first-last with ports"
                              " from 0 to 65535", where, key, v);
        return -EINVAL;
    }
    return 0;
}

int cs_config_set(cs_config *cfg, const char *key, const char *v, const char *where,
                  cs_errlist *errs)
{
    int n;
    for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
        if (strcmp(key, int_keys[i].key) == 0)
            return set_int((int *)((char *)cfg + int_keys[i].offset), v, int_keys[i].min,
                           int_keys[i].max, where, key, errs);
    for (size_t i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++)
        if (strcmp(key, str_keys[i].key) == 0)
            return set_str((char **)((char *)cfg + str_keys[i].offset), v);
    if (strcmp(key, "redis.url") == 0)
        return cs_config_redis_url(cfg, v, where, errs);
    if (strcmp(key, "serve.allow_plaintext") == 0)
        return set_switch(&cfg->serve_allow_plaintext, v, "yes", "no", where, key, errs);
    if (strncmp(key, "kafka.", 6) == 0 && key[6])
        return set_kv(&cfg->kafka, &cfg->nkafka, key + 6, v);
    if (strncmp(key, "report.service_category.", 24) == 0 && key[24]) {
        if (cs_focus_service_category_valid(v))
            return set_kv(&cfg->categories, &cfg->ncategories, key + 24, v);
        cs_errlist_addf(errs, "%s: %s: \"%s\" is not a FOCUS ServiceCategory (Compute, "
                              "AI and Machine Learning, Networking, Storage, Analytics, ..., Other)",
                        where, key, v);
        return -EINVAL;
    }
    if (strcmp(key, "serve.listen") == 0)
        return check_listen(v, where, key, errs) < 0 ? -EINVAL : set_str(&cfg->serve_listen, v);
    if (strcmp(key, "topics") == 0)
        return set_list(cfg->topics, &cfg->ntopics, v, where, key, errs);
    if (strcmp(key, "labels.order") == 0)
        return set_list(cfg->label_order, &cfg->nlabel_order, v, where, key, errs);
    if (strcmp(key, "labels.cache_size") == 0) {
        int r = set_int(&n, v, 1, 100000000, where, key, errs);
        if (r == 0)
            cfg->cache_size = (size_t)n;
        return r;
    }
    if (strcmp(key, "events.max_bytes") == 0) {
        int r = set_int(&n, v, 64, 100000000, where, key, errs);
        if (r == 0)
            cfg->max_message_bytes = (size_t)n;
        return r;
    }
    if (strcmp(key, "events.format") == 0) {
        if (strcmp(v, "auto") == 0)
            cfg->format = CS_EVENT_FORMAT_AUTO;
        else if (strcmp(v, "json") == 0)
            cfg->format = CS_EVENT_FORMAT_JSON;
        else if (strcmp(v, "msgpack") == 0)
            cfg->format = CS_EVENT_FORMAT_MSGPACK;
        else {
            cs_errlist_addf(errs, "%s: %s: \"%s\" is not one of auto, json, msgpack", where, key, v);
            return -EINVAL;
        }
        return 0;
    }
    if (strcmp(key, "start_offset") == 0) {
        if (strcmp(v, "earliest") != 0 && strcmp(v, "latest") != 0) {
            cs_errlist_addf(errs, "%s: %s: \"%s\" is not earliest or latest", where, key, v);
            return -EINVAL;
        }
        return set_str(&cfg->start_offset, v);
    }
    if (strcmp(key, "metrics.topics") == 0)
        return set_list(cfg->metric_topics, &cfg->nmetric_topics, v, where, key, errs);
    if (strcmp(key, "metrics.labels.order") == 0)
        return set_list(cfg->metric_label_order, &cfg->nmetric_label_order, v, where, key, errs);
    if (strcmp(key, "http.listen") == 0) {
        if (strcmp(v, "off") == 0) {
            free(cfg->http_listen);
            cfg->http_listen = NULL;
            return 0;
        }
        return check_listen(v, where, key, errs) < 0 ? -EINVAL : set_str(&cfg->http_listen, v);
    }
    if (strcmp(key, "dedup") == 0)
        return set_switch(&cfg->dedup, v, "on", "off", where, key, errs);
    if (strcmp(key, "log.level") == 0) {
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error")) {
            cs_errlist_addf(errs, "%s: %s: \"%s\" is not one of debug, info, warn, error", where,
                            key, v);
            return -EINVAL;
        }
        return set_str(&cfg->log_level, v);
    }
    cs_errlist_addf(errs, "%s: %s: unknown key", where, key);
    return -EINVAL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' || s[l - 1] == '\r'))
        s[--l] = '\0';
    return s;
}

/* Applies one line ("key = value", a comment or blank).  0 or -EINVAL. */
static int load_line(cs_config *cfg, char *s, const char *where, cs_errlist *errs)
{
    s = trim(s);
    if (!*s || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq) {
        cs_errlist_addf(errs, "%s: expected \"key = value\"", where);
        return -EINVAL;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    size_t vl = strlen(val);
    if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
        val[vl - 1] = '\0';
        val++;
    } else {
        char *hash = strstr(val, " #");
        if (hash) {
            *hash = '\0';
            val = trim(val);
        }
    }
    if (!*key) {
        cs_errlist_addf(errs, "%s: missing key before '='", where);
        return -EINVAL;
    }
    return cs_config_set(cfg, key, val, where, errs);
}

int cs_config_load(cs_config *cfg, const char *path, cs_errlist *errs)
{
    char *buf, where[512], err[512];
    size_t len;
    int ret = cs_file_read(path, CS_FILE_MAX_CONFIG, &buf, &len, err, sizeof(err));
    if (ret < 0) {
        cs_errlist_addf(errs, "%s", err);
        return ret;
    }
    int lineno = 0;
    for (char *line = buf; line < buf + len;) {
        char *end = memchr(line, '\n', (size_t)(buf + len - line));
        size_t n = end ? (size_t)(end - line) : (size_t)(buf + len - line);
        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (memchr(line, '\0', n)) {
            cs_errlist_addf(errs, "%s: contains a NUL byte", where);
            ret = -EINVAL;
        } else {
            line[n] = '\0';
            int r = load_line(cfg, line, where, errs);
            if (r < 0)
                ret = r;
        }
        line += n + 1;
    }
    free(buf);
    return ret;
}
