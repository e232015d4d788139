/* labels.c - Redis lookups behind an LRU/TTL cache (see labels.h).
 *
 * hiredis's blocking API with connect and command timeouts: a lookup is a
 * single GET or HGET, and on any I/O error the context is dropped and
 * re-created on the next call.
 */
#include "labels.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "strmap.h"
#include "utf8.h"

struct cs_labels {
    redisContext *rc;
    char *host, *socket, *username, *password, *prefix;
    int port, db;
    char **order;
    size_t norder;
    cs_cache *cache;
    unsigned long connects;
    unsigned long fixed; /* values that were not valid UTF-8 or too long */
    char err[256];
    /* prefetch: per event added, a block "S" subject or "L" label keys,
     * each NUL-terminated, ending with an empty string */
    char **pf;
    size_t npf, cappf;
};

cs_labels *cs_labels_new(const cs_config *cfg)
{
    cs_labels *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->host = strdup(cfg->redis_host);
    l->socket = cfg->redis_socket ? strdup(cfg->redis_socket) : NULL;
    l->password = cfg->redis_password ? strdup(cfg->redis_password) : NULL;
    l->username = cfg->redis_username ? strdup(cfg->redis_username) : NULL;
    l->prefix = strdup(cfg->redis_prefix);
    l->port = cfg->redis_port;
    l->db = cfg->redis_db;
    l->order = calloc(cfg->nlabel_order + 1, sizeof(char *));
    for (size_t i = 0; l->order && i < cfg->nlabel_order; i++)
        l->order[l->norder++] = strdup(cfg->label_order[i]);
    l->cache = cs_cache_new(cfg->cache_size, (int64_t)cfg->cache_ttl_ms * 1000);
    if (l->cache) /* an absence is trusted briefly: a refilled Redis is seen within it */
        cs_cache_set_negative_ttl(l->cache, (int64_t)(cfg->negative_ttl_ms < cfg->cache_ttl_ms
                                                          ? cfg->negative_ttl_ms
                                                          : cfg->cache_ttl_ms) * 1000);
    if (!l->host || !l->prefix || !l->order || !l->cache) {
        cs_labels_free(l);
        return NULL;
    }
    return l;
}

void cs_labels_free(cs_labels *l)
{
    if (!l)
        return;
    if (l->rc)
        redisFree(l->rc);
    for (size_t i = 0; i < l->norder; i++)
        free(l->order[i]);
    free(l->order);
    free(l->host);
    free(l->socket);
    free(l->password);
    free(l->username);
    free(l->prefix);
    cs_cache_free(l->cache);
    for (size_t i = 0; i < l->npf; i++)
        free(l->pf[i]);
    free(l->pf);
    free(l);
}

static void drop(cs_labels *l, const char *what)
{
    snprintf(l->err, sizeof(l->err), "redis: %s: %s", what,
             l->rc && l->rc->errstr[0] ? l->rc->errstr : "error");
    if (l->rc)
        redisFree(l->rc);
    l->rc = NULL;
}

static redisReply *command(cs_labels *l, const char *fmt, ...);

static int connect_redis(cs_labels *l)
{
    struct timeval tv = {2, 0};
    if (l->rc)
        return 0;
    l->rc = l->socket ? redisConnectUnixWithTimeout(l->socket, tv)
                      : redisConnectWithTimeout(l->host, l->port, tv);
    if (!l->rc || l->rc->err) {
        drop(l, "connect");
        return -EIO;
    }
    redisSetTimeout(l->rc, tv);
    l->connects++;
    if (l->password) {
        redisReply *r = l->username ? command(l, "AUTH %s %s", l->username, l->password)
                                    : command(l, "AUTH %s", l->password);
        if (!r)
            return -EIO;
        freeReplyObject(r);
    }
    if (l->db) {
        redisReply *r = command(l, "SELECT %d", l->db);
        if (!r)
            return -EIO;
        freeReplyObject(r);
    }
    return 0;
}

/* Runs a command; NULL (connection dropped, l->err set) on failure or on an
 * error reply. */
static redisReply *command(cs_labels *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(l->rc, fmt, ap);
    va_end(ap);
    if (!r) {
        drop(l, "command");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(l->err, sizeof(l->err), "redis: %s", r->str);
        freeReplyObject(r);
        if (l->rc)
            redisFree(l->rc);
        l->rc = NULL;
        return NULL;
    }
    return r;
}

/* Copies a value from Redis into dst as valid UTF-8 without control
 * characters (invalid bytes escaped as \xNN, cut between characters), so
 * that no name can break a flush; counts the values that had to change. */
static void take_text(cs_labels *l, char *dst, size_t size, const char *src, size_t len)
{
    int cut;
    size_t escaped = cs_utf8_escape(dst, size, src, len, &cut);
    int ctl = 0;
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = ' ';
            ctl = 1;
        }
    if (escaped || cut || ctl)
        l->fixed++;
}

/* Caches the reply to GET key; copies the value to out.  1 found, 0 absent. */
static int remember_label(cs_labels *l, const char *key, const redisReply *r, int64_t now,
                          char *out, size_t outsize)
{
    int found = r->type == REDIS_REPLY_STRING && r->len > 0;
    if (found)
        take_text(l, out, outsize, r->str, r->len);
    cs_cache_put(l->cache, key, found ? out : NULL, now);
    return found;
}

/* Concatenates the n parts into buf as snprintf("%s%s...") would: at most
 * size - 1 bytes and a NUL; returns the untruncated length.  Lookups build
 * two keys per event: no printf for them. */
static size_t cat(char *buf, size_t size, const char *const *parts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(parts[i]);
        if (total < size) {
            size_t room = size - 1 - total;
            memcpy(buf + total, parts[i], len < room ? len : room);
        }
        total += len;
    }
    if (size)
        buf[total < size ? total : size - 1] = '\0';
    return total;
}

#define CAT(buf, size, ...) \
    cat(buf, size, (const char *const[]){__VA_ARGS__}, \
        sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Caches the reply to HMGET key plan name cost_center as one value
 * "plan\x1fname\x1fcost_center" (take_text() leaves no control character
 * in the parts) and fills c.  1 found, 0 absent. */
static int remember_customer(cs_labels *l, const char *key, const redisReply *r, int64_t now,
                             cs_customer *c)
{
    char joined[sizeof(c->plan) + sizeof(c->name) + sizeof(c->cost_center) + 8];
    int found = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len > 0;
    if (found) {
        char *dst[3] = {c->plan, c->name, c->cost_center};
        size_t size[3] = {sizeof(c->plan), sizeof(c->name), sizeof(c->cost_center)};
        for (int i = 0; i < 3; i++) {
            const redisReply *e = r->element[i];
            if (e->type == REDIS_REPLY_STRING)
                take_text(l, dst[i], size[i], e->str, e->len);
            else
                dst[i][0] = '\0';
        }
        CAT(joined, sizeof(joined), c->plan, "\x1f", c->name, "\x1f", c->cost_center);
    }
    cs_cache_put(l->cache, key, found ? joined : NULL, now);
    return found;
}

/* Looks key up with GET, through the cache.  Returns 1 and copies the
 * value, 0 if absent, -EIO on failure. */
static int lookup(cs_labels *l, const char *key, int64_t now, char *out, size_t outsize)
{
    const char *cached;
    if (cs_cache_get(l->cache, key, now, &cached)) {
        if (!cached)
            return 0;
        CAT(out, outsize, cached);
        return 1;
    }
    if (connect_redis(l) < 0)
        return -EIO;
    redisReply *r = command(l, "GET %s", key);
    if (!r)
        return -EIO;
    int found = remember_label(l, key, r, now, out, outsize);
    freeReplyObject(r);
    return found;
}

/* Reads the customer hash (plan, name, cost_center) through the cache.
 * 1 found, 0 absent, -EIO. */
static int lookup_customer(cs_labels *l, const char *key, int64_t now, cs_customer *c)
{
    char joined[sizeof(c->plan) + sizeof(c->name) + sizeof(c->cost_center) + 8];
    const char *cached;
    if (cs_cache_get(l->cache, key, now, &cached)) {
        if (!cached)
            return 0;
        CAT(joined, sizeof(joined), cached);
        char *a = strchr(joined, '\x1f'), *b = a ? strchr(a + 1, '\x1f') : NULL;
        if (!a || !b)
            return 0;
        *a = *b = '\0';
        take_text(l, c->plan, sizeof(c->plan), joined, strlen(joined));
        take_text(l, c->name, sizeof(c->name), a + 1, strlen(a + 1));
        take_text(l, c->cost_center, sizeof(c->cost_center), b + 1, strlen(b + 1));
        return 1;
    }
    if (connect_redis(l) < 0)
        return -EIO;
    redisReply *r = command(l, "HMGET %s plan name cost_center", key);
    if (!r)
        return -EIO;
    int found = remember_customer(l, key, r, now, c);
    freeReplyObject(r);
    return found;
}

static const char *find_label(const cs_label *labels, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(labels[i].name, name) == 0)
            return labels[i].value;
    return NULL;
}

static int resolve(cs_labels *l, const char *subject, const cs_label *labels, size_t nlabels,
                   char *const *order, size_t norder, int64_t now, cs_customer *ret,
                   const char **ret_err)
{
    char key[1024];
    int r;

    ret->attributed = 1;
    ret->name[0] = ret->cost_center[0] = '\0';
    if (subject) {
        CAT(ret->id, sizeof(ret->id), subject);
    } else {
        r = 0;
        for (size_t i = 0; i < norder && r == 0; i++) {
            const char *v = find_label(labels, nlabels, order[i]);
            if (!v)
                continue;
            CAT(key, sizeof(key), l->prefix, "label:", order[i], ":", v);
            r = lookup(l, key, now, ret->id, sizeof(ret->id));
        }
        if (r < 0)
            goto fail;
        if (r == 0) {
            CAT(ret->id, sizeof(ret->id), CS_UNATTRIBUTED);
            CAT(ret->plan, sizeof(ret->plan), CS_PLAN_NONE);
            ret->attributed = 0;
            return 0;
        }
    }
    CAT(key, sizeof(key), l->prefix, "customer:", ret->id);
    r = lookup_customer(l, key, now, ret);
    if (r < 0)
        goto fail;
    if (r == 0)
        CAT(ret->plan, sizeof(ret->plan), CS_PLAN_UNKNOWN);
    return 0;
fail:
    *ret_err = l->err;
    return -EIO;
}

int cs_labels_resolve(cs_labels *l, const cs_event *ev, int64_t now, cs_customer *ret,
                      const char **ret_err)
{
    return resolve(l, ev->subject, ev->labels, ev->nlabels, l->order, l->norder, now, ret, ret_err);
}

int cs_labels_resolve_series(cs_labels *l, const cs_label *labels, size_t nlabels,
                             char *const *order, size_t norder, int64_t now, cs_customer *ret,
                             const char **ret_err)
{
    return resolve(l, NULL, labels, nlabels, order, norder, now, ret, ret_err);
}

int cs_labels_prefetch_add(cs_labels *l, const cs_event *ev)
{
    char key[1024];
    size_t len = 2, n;
    if (cs_array_reserve(&l->pf, &l->cappf, l->npf + 1, sizeof(*l->pf)) < 0)
        return -ENOMEM;
    if (ev->subject) {
        len += strlen(ev->subject) + 1;
    } else {
        for (size_t i = 0; i < l->norder; i++) {
            const char *v = find_label(ev->labels, ev->nlabels, l->order[i]);
            if (v)
                len += strlen(l->prefix) + strlen(l->order[i]) + strlen(v) + 9;
        }
    }
    char *block = malloc(len), *p = block;
    if (!block)
        return -ENOMEM;
    *p++ = ev->subject ? 'S' : 'L';
    if (ev->subject) {
        n = strlen(ev->subject) + 1;
        memcpy(p, ev->subject, n);
        p += n;
    } else {
        for (size_t i = 0; i < l->norder; i++) {
            const char *v = find_label(ev->labels, ev->nlabels, l->order[i]);
            if (!v)
                continue;
            n = CAT(key, sizeof(key), l->prefix, "label:", l->order[i], ":", v);
            if (n >= sizeof(key))
                continue; /* resolve() cuts it the same way: looked up one by one */
            memcpy(p, key, n + 1);
            p += n + 1;
        }
    }
    *p = '\0';
    l->pf[l->npf++] = block;
    return 0;
}

/* Distinct keys not in the cache, in first-seen order. */
typedef struct keyset {
    cs_strmap seen;
    char **keys; /* owned copies */
    size_t n, cap;
} keyset;

static int keyset_add(keyset *k, const cs_cache *cache, const char *key, int64_t now)
{
    const char *v;
    if (cs_cache_peek(cache, key, now, &v) || cs_strmap_find(&k->seen, key))
        return 0;
    char *copy = strdup(key);
    if (!copy || cs_array_reserve(&k->keys, &k->cap, k->n + 1, sizeof(*k->keys)) < 0 ||
        cs_strmap_put(&k->seen, key, NULL) < 0) {
        free(copy);
        return -ENOMEM;
    }
    k->keys[k->n++] = copy;
    return 0;
}

/* Sends fmt for every key of k in one pipeline, then reads the replies and
 * caches them.  0 or -EIO. */
static int pipeline(cs_labels *l, const keyset *k, const char *fmt, int customers, int64_t now)
{
    if (k->n == 0)
        return 0;
    if (connect_redis(l) < 0)
        return -EIO;
    for (size_t i = 0; i < k->n; i++)
        if (redisAppendCommand(l->rc, fmt, k->keys[i]) != REDIS_OK) {
            drop(l, "command");
            return -EIO;
        }
    for (size_t i = 0; i < k->n; i++) {
        void *reply;
        if (redisGetReply(l->rc, &reply) != REDIS_OK || !reply) {
            drop(l, "command");
            return -EIO;
        }
        redisReply *r = reply;
        if (r->type != REDIS_REPLY_ERROR) {
            char out[CS_CUSTOMER_MAX];
            cs_customer c;
            if (customers)
                remember_customer(l, k->keys[i], r, now, &c);
            else
                remember_label(l, k->keys[i], r, now, out, sizeof(out));
        }
        freeReplyObject(r); /* an error reply: that key is looked up again one by one */
    }
    return 0;
}

static void keyset_clear(keyset *k)
{
    cs_strmap_clear(&k->seen, NULL);
    for (size_t i = 0; i < k->n; i++)
        free(k->keys[i]);
    free(k->keys);
    *k = (keyset){0};
}

/* The customer key of prefetched event block b, from the cache: "" when
 * its labels are not all known yet or map to nobody. */
static void block_customer_key(cs_labels *l, const char *b, int64_t now, char *key, size_t size)
{
    const char *id = NULL, *v;
    key[0] = '\0';
    if (b[0] == 'S') {
        id = b + 1;
    } else {
        for (const char *k = b + 1; *k && !id; k += strlen(k) + 1) {
            if (!cs_cache_peek(l->cache, k, now, &v))
                return;
            id = v;
        }
    }
    if (id && CAT(key, size, l->prefix, "customer:", id) >= size)
        key[0] = '\0';
}

int cs_labels_prefetch_run(cs_labels *l, int64_t now, const char **ret_err)
{
    keyset k = {0};
    char key[CS_CUSTOMER_MAX + 512];
    int r = 0;
    size_t fetched = 0;
    for (size_t i = 0; i < l->npf && r == 0; i++)
        if (l->pf[i][0] == 'L')
            for (const char *p = l->pf[i] + 1; *p && r == 0; p += strlen(p) + 1)
                r = keyset_add(&k, l->cache, p, now);
    if (r == 0)
        r = pipeline(l, &k, "GET %s", 0, now);
    fetched += k.n;
    keyset_clear(&k);
    for (size_t i = 0; i < l->npf && r == 0; i++) {
        block_customer_key(l, l->pf[i], now, key, sizeof(key));
        if (key[0])
            r = keyset_add(&k, l->cache, key, now);
    }
    if (r == 0)
        r = pipeline(l, &k, "HMGET %s plan name cost_center", 1, now);
    fetched += k.n;
    keyset_clear(&k);
    for (size_t i = 0; i < l->npf; i++)
        free(l->pf[i]);
    l->npf = 0;
    if (r == -EIO)
        *ret_err = l->err;
    return r < 0 ? r : (int)(fetched < 1000000 ? fetched : 1000000);
}

int cs_labels_ping(cs_labels *l, const char **ret_err)
{
    if (connect_redis(l) < 0)
        goto fail;
    redisReply *r = command(l, "PING");
    if (!r)
        goto fail;
    freeReplyObject(r);
    return 0;
fail:
    *ret_err = l->err;
    return -EIO;
}

unsigned long cs_labels_fixed_values(const cs_labels *l)
{
    return l->fixed;
}

unsigned long cs_labels_reconnects(const cs_labels *l)
{
    return l->connects ? l->connects - 1 : 0;
}

cs_cache_stats cs_labels_cache_stats(const cs_labels *l)
{
    return cs_cache_get_stats(l->cache);
}
