/* worker.c - the consume/price/aggregate/flush loop (see worker.h).
 *
 * Exactly-once bookkeeping: for every assigned partition the worker keeps
 * `expected`, the next offset stored in PostgreSQL, and `next`, the offset
 * after the last message it has folded into memory.  A flush writes the
 * aggregates, the rejects, and every `next` that moved, by compare-and-set
 * on `expected`, in one transaction.  If the store says a partition moved on
 * without us (fenced), everything in memory is dropped and the partitions
 * restart from the stored offsets.  If the store or Redis is unreachable, the
 * worker stops taking messages and retries; nothing is skipped and nothing
 * is attributed without Redis.
 */
#include "worker.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "array.h"
#include "attribution.h"
#include "cs_version.h"
#include "log.h"
#include "pricing.h"
#include "rejects.h"
#include "spend.h"
#include "worker_internal.h"

static bool is_metric_topic(const cs_worker *w, const char *topic)
{
    for (size_t i = 0; i < w->cfg->nmetric_topics; i++)
        if (strcmp(w->cfg->metric_topics[i], topic) == 0)
            return true;
    return false;
}

typedef struct load_ctx {
    cs_worker *w;
    int64_t hour;
    size_t *dups;
    size_t ndups;
} load_ctx;

static int merge_rows(void *opaque, const unsigned char *fps, size_t n, int64_t seq)
{
    load_ctx *c = opaque;
    return cs_dedup_merge(c->w->dedup, c->hour, fps, n, seq, c->dups, &c->ndups);
}

/* Makes sure the fingerprints stored for hour are in memory.  0, or
 * -EAGAIN when PostgreSQL cannot be read (the message is retried). */
static int dedup_load(cs_worker *w, int64_t hour)
{
    if (cs_dedup_loaded(w->dedup, hour, NULL))
        return 0;
    char err[512];
    size_t none[1];
    load_ctx c = {w, hour, none, 0}; /* an hour not loaded has no pending entry */
    busy(w, "reading event fingerprints from PostgreSQL");
    w->hour_loads++;
    int64_t seq;
    int r = cs_store_dedup_load(w->store, w->cfg->group, hour, -1, merge_rows, &c, &seq, err,
                                sizeof(err));
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        w->n.store_errors++;
        store_state(w, r, err);
        cs_log(CS_LOG_ERROR, "cannot read stored event fingerprints; retrying the message",
               "error", err, NULL);
        return -EAGAIN;
    }
    store_state(w, 0, NULL);
    return cs_dedup_mark_loaded(w->dedup, hour, seq);
}

static int merge_hour(void *opaque, int64_t hour, const unsigned char *fps, size_t n, int64_t seq)
{
    size_t none[1];
    load_ctx c = {opaque, hour, none, 0}; /* an hour not loaded has no pending entry */
    return merge_rows(&c, fps, n, seq);
}

/* Reads the stored fingerprints of those of the n event hours (room for
 * n + 1) that are not loaded yet, in one statement.  Failures are left to
 * dedup_load(), which reports and retries them one by one. */
static void dedup_prefetch(cs_worker *w, int64_t *hours, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = cs_dedup_loaded(w->dedup, hours[i], NULL);
        for (size_t j = 0; j < k && !dup; j++)
            dup = hours[j] == hours[i];
        if (!dup)
            hours[k++] = hours[i];
    }
    if (!cs_dedup_loaded(w->dedup, CS_DEDUP_ANY_HOUR, NULL))
        hours[k++] = CS_DEDUP_ANY_HOUR;
    int64_t *seen = malloc((k + 1) * sizeof(*seen)), *ret = malloc((k + 1) * sizeof(*ret));
    char err[512];
    for (size_t i = 0; seen && i < k; i++)
        seen[i] = -1;
    cs_store_dedup d = {k, hours, seen, ret, merge_hour, NULL, w};
    if (k && seen && ret) {
        busy(w, "reading event fingerprints from PostgreSQL");
        if (cs_store_dedup_load_many(w->store, w->cfg->group, &d, err, sizeof(err)) == 0)
            for (size_t i = 0; i < k; i++)
                cs_dedup_mark_loaded(w->dedup, hours[i], ret[i]);
    }
    free(seen);
    free(ret);
}

static bool same_customer(const char *plan, const char *name, const char *cost_center,
                          const cs_customer *b)
{
    return strcmp(plan, b->plan) == 0 && strcmp(name, b->name) == 0 &&
           strcmp(cost_center, b->cost_center) == 0;
}

/* Keeps c's attributes for the flush, unless they are what is stored or
 * already kept: a customer costs a lookup per event, a copy per change. */
static int remember_customer(cs_worker *w, const cs_customer *c)
{
    const cs_batch_customer *kept = cs_batch_find_customer(w->batch, c->id);
    if (kept && same_customer(kept->plan, kept->name, kept->cost_center, c))
        return 0;
    void **known = kept ? NULL : cs_strmap_find(&w->stored_customers, c->id);
    const customer_rec *k = known ? *known : NULL;
    if (k && same_customer(k->plan, k->name, k->cost_center, c))
        return 0; /* unchanged: customer attributes are written only when they change */
    cs_batch_customer bc = {c->id, c->name, c->plan, c->cost_center};
    return cs_batch_set_customer(w->batch, &bc);
}

/* Forgets the messages taken from Kafka but not folded in: after a
 * rewind or a rebalance they are read again from the right offsets. */
void cs__worker_inbox_clear(cs_worker *w)
{
    for (size_t i = w->inbox_head; i < w->inbox_n; i++)
        cs_consumer_release(&w->inbox[i]);
    w->inbox_head = w->inbox_n = 0;
    w->waiting = false;
}

static int on_assign(void *opaque, const cs_tp *parts, size_t n, int64_t *ret_start)
{
    cs_worker *w = opaque;
    char err[512];
    int32_t *pids = calloc(n + 1, sizeof(*pids));
    int r = 0;

    if (!pids)
        return -ENOMEM;
    cs__worker_flush_wait(w); /* its offsets first: the assignment reads the stored ones */
    cs__worker_inbox_clear(w); /* read again from the offsets stored for the new assignment */
    cs_ledger_deactivate(&w->ledger);
    /* one query per distinct topic */
    for (size_t i = 0; i < n && r == 0; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || strcmp(parts[j].topic, parts[i].topic) == 0;
        if (seen)
            continue;
        size_t m = 0;
        size_t *idx = calloc(n, sizeof(*idx));
        int64_t *offs = calloc(n, sizeof(*offs));
        if (!idx || !offs) {
            free(idx);
            free(offs);
            r = -ENOMEM;
            break;
        }
        for (size_t j = i; j < n; j++)
            if (strcmp(parts[j].topic, parts[i].topic) == 0) {
                idx[m] = j;
                pids[m++] = parts[j].partition;
            }
        r = cs_store_load_offsets(w->store, w->cfg->group, parts[i].topic, pids, m, offs, err,
                                  sizeof(err));
        for (size_t k = 0; r == 0 && k < m; k++)
            ret_start[idx[k]] = offs[k];
        free(idx);
        free(offs);
    }
    free(pids);
    if (r < 0) {
        w->n.store_errors++;
        store_state(w, r, err);
        cs_log(CS_LOG_ERROR, "cannot read stored offsets for the assignment; retrying", "error",
               err, NULL);
        return r;
    }
    store_state(w, 0, NULL);
    atomic_store(&w->st_assigned, (int)n);
    for (size_t i = 0; i < n; i++) {
        cs_ledger_part *p = cs_ledger_add(&w->ledger, parts[i].topic, parts[i].partition,
                                          is_metric_topic(w, parts[i].topic));
        if (!p)
            return -ENOMEM;
        cs_ledger_assign(p, ret_start[i]);
        char part[24], off[24];
        fmt_i64(part, sizeof(part), parts[i].partition);
        fmt_i64(off, sizeof(off), ret_start[i]);
        cs_log(CS_LOG_INFO, "partition assigned", "topic", parts[i].topic, "partition", part,
               "stored_offset", off, NULL);
    }
    return 0;
}

static void on_revoke(void *opaque, const cs_tp *parts, size_t n)
{
    cs_worker *w = opaque;
    int r = -EIO;
    w->revoking = true;
    for (int attempt = 0; attempt < 3 && r == -EIO; attempt++) {
        if (attempt)
            sleep(1);
        r = cs__worker_flush(w, "revoke");
    }
    w->revoking = false;
    cs__worker_inbox_clear(w);
    if (r != 0) {
        /* Not stored: the next owner reads the same stored offsets and
         * redoes this work, so dropping it loses and doubles nothing. */
        cs_log(CS_LOG_WARN, "could not flush before revocation; the next owner will redo it",
               NULL);
        cs__worker_discard(w);
    }
    for (size_t i = 0; i < n; i++) {
        cs_ledger_part *p = cs_ledger_find(&w->ledger, parts[i].topic, parts[i].partition);
        if (p)
            p->active = false;
    }
    char cnt[24];
    fmt_i64(cnt, sizeof(cnt), (int64_t)n);
    atomic_store(&w->st_assigned, 0);
    cs_log(CS_LOG_INFO, "partitions revoked", "count", cnt, NULL);
}

static void on_error(void *opaque, const char *what, const char *reason)
{
    (void)opaque;
    cs_log(CS_LOG_WARN, "kafka", "code", what, "reason", reason, NULL);
}

static int add_reject(cs_worker *w, const cs_message *m, cs_reject_code code, const char *detail)
{
    cs_ledger_part *p = cs_ledger_find(&w->ledger, m->topic, m->partition);
    cs_batch_reject rj = {p->topic, m->partition, m->offset, cs_reject_code_name(code), detail,
                          m->payload, m->len, m->key && m->key_len ? m->key : NULL,
                          m->key && m->key_len ? m->key_len : 0};
    if (cs_batch_add_reject(w->batch, &rj) < 0)
        return -ENOMEM;
    w->n.rejected[code]++;
    return 0;
}

_Static_assert(CS_SERIES_ID_LEN == CS_BATCH_SERIES_ID_LEN, "a series id is copied whole");

/* Keeps a priced metric sample for the flush.  0 or -ENOMEM. */
static int add_sample(cs_worker *w, const cs_message *m, const cs_sample *x, const cs_rule *rule,
                      const cs_customer *cust, const cs_price *price)
{
    char series[CS_EVENT_ARENA];
    if (cs_sample_series_text(x, series, sizeof(series)) < 0)
        return -ENOMEM;
    cs_batch_sample s = {
        .series_id = x->series_id, .series = series, .time_usec = x->time_usec,
        .value = x->value, /* stored only when special is NULL (finite) */
        .special = cs_sample_special_name(x->special),
        .kind = rule->metric_kind == CS_METRIC_KIND_GAUGE ? "gauge" : "counter",
        .unit_divisor = rule->unit_divisor, .max_gap_usec = rule->max_gap_usec,
        .customer = cust->id, .plan = cust->plan, .product = rule->product, .meter = rule->meter,
        .rule_id = rule->id, .rules_version = w->rules->version, .currency = w->rules->currency,
        .unit = rule->unit, .unit_price = rule->unit_price, .discount_rate = price->discount_rate,
        .topic = m->topic, .partition = m->partition, .offset = m->offset};
    return cs_batch_add_sample(w->batch, &s);
}

/* Counts a sample older than its partition's newest by more than the
 * lateness, and says so (at most once a minute): exactness across
 * partitions rests on producers writing each partition in time order. */
static void warn_out_of_order(cs_worker *w, const cs_ledger_part *p, int64_t t)
{
    w->n.samples_out_of_order++;
    int64_t now = mono_usec();
    if (w->ooo_warned_usec && now - w->ooo_warned_usec < 60 * 1000000)
        return;
    w->ooo_warned_usec = now;
    char part[16], behind[24], total[24];
    snprintf(part, sizeof(part), "%d", (int)p->partition);
    fmt_i64(behind, sizeof(behind), (p->newest_sample - t) / 1000000);
    fmt_i64(total, sizeof(total), (int64_t)w->n.samples_out_of_order);
    cs_log(CS_LOG_WARN,
           "metric samples go back in time on a partition: the producer does not write it in"
           " time order (one series at a time?), so samples below the group's watermark are"
           " settled as late and not charged; see docs/metric-streams.md",
           "topic", p->topic, "partition", part, "behind_s", behind, "out_of_order_total", total,
           NULL);
}

/* Folds one metric sample in: decode, price, attribute, keep.  Same
 * contract as handle(). */
static int handle_sample(cs_worker *w, const cs_message *m, cs_ledger_part *p, cs_event_error *err)
{
    cs_sample_head h;
    if (cs_sample_peek(m->payload, m->len, w->cfg->max_message_bytes, w->cfg->format, &h) == 0 &&
        !cs_pricing_prices_metric(w->rules, h.name)) {
        /* no rule names this metric: its name and time are all we need */
        if (cs_ledger_sample(p, h.time_usec, (int64_t)w->cfg->lateness_ms * 1000))
            warn_out_of_order(w, p, h.time_usec);
        w->n.samples_unpriced++;
        return 0;
    }
    cs_sample *x = &w->sample;
    int r = cs_sample_decode(m->payload, m->len, w->cfg->max_message_bytes, w->cfg->format, x, err);
    if (r < 0)
        return 0; /* rejected by the caller */
    /* the partition advanced, priced or not */
    if (cs_ledger_sample(p, x->time_usec, (int64_t)w->cfg->lateness_ms * 1000))
        warn_out_of_order(w, p, x->time_usec);
    const cs_rule *rule = cs_pricing_match_metric(w->rules, x->name, x->time_usec, x->labels,
                                                  x->nlabels);
    if (!rule) {
        w->n.samples_unpriced++;
        return 0;
    }
    cs_customer cust;
    const char *rerr;
    if (cs_labels_resolve_series(w->labels, x->labels, x->nlabels, w->cfg->metric_label_order,
                                 w->cfg->nmetric_label_order, now_usec(), &cust, &rerr) < 0) {
        w->n.redis_errors++;
        redis_state(w, -EIO, rerr);
        cs_log(CS_LOG_ERROR, "customer lookup failed; retrying the message", "error", rerr,
               "topic", m->topic, NULL);
        return -EAGAIN;
    }
    redis_state(w, 0, NULL);
    cs_price price;
    if (cs_pricing_price(w->rules, rule, cust.plan, cs_dec_zero(), &price) < 0)
        return 0;
    if ((r = add_sample(w, m, x, rule, &cust, &price)) < 0)
        return r;
    if (cust.attributed && remember_customer(w, &cust) < 0)
        return -ENOMEM;
    w->batch_accepted++; /* counted once its flush is stored */
    if (!cust.attributed)
        w->n.unattributed++;
    return 0;
}

/* Offsets gap..m->offset-1 were not delivered.  Those below the log start
 * offset were deleted by retention before anyone read them: lost input,
 * counted, logged as an error and shown on /readyz for an hour.  Those
 * above it are transaction markers or compacted records, not messages. */
static void note_gap(cs_worker *w, const cs_message *m, int64_t gap)
{
    char from[24], to[24], n[24];
    int64_t start = cs_consumer_log_start(w->consumer, m->topic, m->partition, 2000);
    int64_t lost = start > gap ? (start < m->offset ? start : m->offset) - gap : 0;
    fmt_i64(from, sizeof(from), gap);
    fmt_i64(to, sizeof(to), m->offset - 1);
    if (lost <= 0) {
        cs_log(CS_LOG_DEBUG, "offsets skipped (transaction markers or compaction)", "topic",
               m->topic, "from", from, "to", to, NULL);
        return;
    }
    fmt_i64(to, sizeof(to), gap + lost - 1);
    fmt_i64(n, sizeof(n), lost);
    w->n.lost += (uint64_t)lost;
    cs_log(CS_LOG_ERROR, "messages lost: Kafka's retention deleted them before they were read",
           "topic", m->topic, "first_offset", from, "last_offset", to, "messages", n, NULL);
    pthread_mutex_lock(&w->st_lock);
    snprintf(w->st_lost, sizeof(w->st_lost),
             "%" PRId64 " messages of %s [%" PRId32 "] (offsets %" PRId64 "-%" PRId64
             ") were deleted by Kafka's retention before they were read",
             lost, m->topic, m->partition, gap, gap + lost - 1);
    w->st_lost_at = mono_usec();
    pthread_mutex_unlock(&w->st_lock);
}

/* Folds one message in.  0 when done (accepted or rejected), -EAGAIN when
 * Redis is unavailable (retry the same message later), -ENOMEM. */
static int handle(cs_worker *w, const cs_message *m)
{
    cs_event_error err;
    cs_event *ev = &w->ev;
    cs_ledger_part *p = cs_ledger_find(&w->ledger, m->topic, m->partition);
    int r;

    if (!cs_ledger_wants(p, m->offset))
        return 0; /* not ours any more, or already folded in */
    if (m->timestamp_ms > 0 && (w->oldest_ms == 0 || m->timestamp_ms < w->oldest_ms))
        w->oldest_ms = m->timestamp_ms;
    poison *x = w->npoison ? cs__worker_find_poison(w, m->topic, m->partition, m->offset) : NULL;
    if (x) {
        err.code = x->drop ? CS_REJECT_NONE : CS_REJECT_STORE_REFUSED;
        memcpy(err.detail, x->detail, sizeof(err.detail));
        w->n.dropped += x->drop;
        r = -1;
    } else if (p->metric) {
        err.code = CS_REJECT_NONE;
        r = handle_sample(w, m, p, &err);
        if (r < 0)
            return r;
        r = -1; /* the event path below is not taken */
    } else {
        r = cs_event_decode(m->payload, m->len, w->cfg->max_message_bytes, w->cfg->format, ev,
                            &err);
    }
    if (r == 0) {
        cs_customer cust;
        const char *rerr;
        if (cs_labels_resolve(w->labels, ev, now_usec(), &cust, &rerr) < 0) {
            w->n.redis_errors++;
            redis_state(w, -EIO, rerr);
            cs_log(CS_LOG_ERROR, "customer lookup failed; retrying the message", "error", rerr,
                   "topic", m->topic, NULL);
            return -EAGAIN;
        }
        redis_state(w, 0, NULL);
        const cs_rule *rule = cs_pricing_match(w->rules, ev->product, ev->meter, ev->time_usec,
                                               ev->labels, ev->nlabels);
        cs_price price;
        if (!rule) {
            char tbuf[CS_TIMESTAMP_STRLEN];
            cs_timestamp_format(ev->time_usec, tbuf, sizeof(tbuf));
            err.code = CS_REJECT_UNPRICED;
            snprintf(err.detail, sizeof(err.detail),
                     "no rule in rules version %s prices product \"%.*s\" meter \"%.*s\" at %s",
                     w->rules->version, cs_utf8_prefix(ev->product, strlen(ev->product), 64),
                     ev->product, cs_utf8_prefix(ev->meter, strlen(ev->meter), 64), ev->meter,
                     tbuf);
        } else if (cs_pricing_price(w->rules, rule, cust.plan, ev->quantity, &price) < 0) {
            err.code = CS_REJECT_COST_OVERFLOW;
            snprintf(err.detail, sizeof(err.detail), "data.quantity: cost exceeds 38 digits");
        } else {
            cs_agg_key key = {
                .hour_usec = cs_timestamp_hour(ev->time_usec),
                .customer = cust.id,
                .product = ev->product,
                .meter = ev->meter,
                .rule_id = rule->id,
                .rules_version = w->rules->version,
                .plan = cust.plan,
                .currency = w->rules->currency,
                .unit = rule->unit,
                .unit_price = rule->unit_price,
                .discount_rate = price.discount_rate,
            };
            char attribution[CS_ATTRIBUTION_MAX];
            if (!cust.attributed &&
                cs_attribution_format(w->cfg->label_order, w->cfg->nlabel_order, ev->labels,
                                      ev->nlabels, attribution, sizeof(attribution)) > 0)
                key.attribution = attribution; /* kept for costream reattribute */
            size_t idx;
            unsigned char fp[CS_DEDUP_FP_LEN];
            int64_t hour = key.hour_usec;
            if (w->dedup) {
                cs_dedup_fingerprint(ev->source, ev->id, fp);
                /* the hour's fingerprints, and those converted from before
                 * hours were kept (migration 0005), once each */
                if ((r = dedup_load(w, CS_DEDUP_ANY_HOUR)) < 0 || (r = dedup_load(w, hour)) < 0)
                    return r; /* -EAGAIN: PostgreSQL unavailable, the message waits */
                if (cs_dedup_seen(w->dedup, hour, fp)) {
                    w->n.duplicates++; /* counted before: once is enough */
                    goto done;
                }
            }
            r = cs_batch_add(w->batch, &key, ev->quantity, price.list_cost, price.discount,
                             price.cost, w->dedup != NULL, &idx);
            if (r == 0 && w->dedup) /* its fingerprint pending under the same index */
                r = cs_dedup_check(w->dedup, hour, fp, idx) < 0 ? -ENOMEM : 0;
            if (r == -ENOMEM)
                return r;
            if (r == -ERANGE) {
                err.code = CS_REJECT_COST_OVERFLOW;
                snprintf(err.detail, sizeof(err.detail), "hourly sum would exceed 38 digits");
            } else {
                w->batch_accepted++; /* counted once its flush is stored */
                if (!cust.attributed)
                    w->n.unattributed++;
                else if (remember_customer(w, &cust) < 0)
                    return -ENOMEM;
                err.code = CS_REJECT_NONE;
            }
        }
    }
done:
    if (err.code != CS_REJECT_NONE && (r = add_reject(w, m, err.code, err.detail)) < 0)
        return r;
    int64_t gap = cs_ledger_advance(p, m->offset);
    if (gap >= 0) {
        note_gap(w, m, gap);
    }
    w->pending++;
    w->n.consumed++;
    return 0;
}

static void reload_rules(cs_worker *w)
{
    cs_rules *nr;
    cs_errlist errs = {0};
    if (cs_rules_load(w->cfg->rules_path, &nr, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            cs_log(CS_LOG_ERROR, "rules reload rejected; keeping the current rules", "error",
                   errs.items[i], "version", w->rules->version, NULL);
        cs_errlist_free(&errs);
        return;
    }
    /* Aggregate keys hold copies of rule strings, so the old rules can go
     * now; rows priced by them keep their own rule id and version. */
    cs_log(CS_LOG_INFO, "rules reloaded", "old_version", w->rules->version, "version",
           nr->version, NULL);
    cs_telemetry_rules(w->tm, nr->version, nr->currency);
    cs_rules_free(w->rules);
    w->rules = nr;
}

static int http_metrics(void *opaque, int openmetrics, char **ret_buf, size_t *ret_len)
{
    cs_worker *w = opaque;
    return cs_telemetry_render(w->tm, openmetrics, ret_buf, ret_len);
}

/* The reason the worker is not ready (into reason), or NULL when it is. */
static const char *not_ready(cs_worker *w, char *reason, size_t size)
{
    int st = atomic_load(&w->st_store), rs = atomic_load(&w->st_redis);
    pthread_mutex_lock(&w->st_lock);
    if (st)
        snprintf(reason, size, "%s; consumption is paused (%s)", cs__worker_store_cause(st), w->st_store_err);
    else if (rs)
        snprintf(reason, size, "Redis is unreachable; consumption is paused (%s)", w->st_redis_err);
    pthread_mutex_unlock(&w->st_lock);
    if (st || rs)
        return reason;
    int64_t blocked = mono_usec() - atomic_load(&w->beat);
    if (blocked > BLOCKED_USEC) {
        snprintf(reason, size, "the worker has been blocked for %" PRId64 " s while %s",
                 blocked / CS_USEC_PER_SEC, atomic_load(&w->doing));
        return reason;
    }
    if (atomic_load(&w->st_assigned) == 0) {
        snprintf(reason, size, "no partitions assigned (joining the group, or more workers than partitions)");
        return reason;
    }
    return NULL;
}

#define LOST_NOTICE_USEC (3600 * CS_USEC_PER_SEC) /* /readyz mentions a loss this long */

static int http_ready(void *opaque, char *reason, size_t size)
{
    cs_worker *w = opaque;
    if (not_ready(w, reason, size))
        return 0;
    reason[0] = '\0';
    pthread_mutex_lock(&w->st_lock);
    if (w->st_lost_at && mono_usec() - w->st_lost_at < LOST_NOTICE_USEC)
        snprintf(reason, size, "%s", w->st_lost);
    pthread_mutex_unlock(&w->st_lock);
    return 1;
}

/* Publishes readiness, partitions and how long the loop has been stuck,
 * every second, from its own thread: these move even while the worker
 * waits inside a call to a backend that does not answer. */
static void *watchdog_main(void *opaque)
{
    cs_worker *w = opaque;
    char why[512];
    while (!atomic_load(&w->wd_stop)) {
        int64_t blocked = mono_usec() - atomic_load(&w->beat);
        cs_telemetry_liveness(w->tm, not_ready(w, why, sizeof(why)) == NULL,
                              (size_t)atomic_load(&w->st_assigned),
                              blocked > 2 * CS_USEC_PER_SEC ? blocked : 0);
        for (int i = 0; i < 10 && !atomic_load(&w->wd_stop); i++)
            usleep(100000);
    }
    return NULL;
}

/* Publishes counters, partition lag. */
static void publish(cs_worker *w, bool lag)
{
    w->n.fixed_values = cs_labels_fixed_values(w->labels);
    w->n.cache = cs_labels_cache_stats(w->labels);
    w->n.redis_reconnects = cs_labels_reconnects(w->labels);
    w->n.store_reconnects = cs_store_reconnects(w->store);
    cs_telemetry_counters_set(w->tm, &w->n);
    for (size_t i = 0; lag && i < w->ledger.n; i++) {
        cs_ledger_part *p = &w->ledger.parts[i];
        if (!p->active || p->next < 0)
            continue;
        int64_t hi = cs_consumer_high_watermark(w->consumer, p->topic, p->partition);
        if (hi >= 0)
            cs_telemetry_lag(w->tm, p->topic, p->partition, hi - p->next);
    }
}

static void mtd_row(void *opaque, const char *customer, const char *currency, const char *cost)
{
    cs_telemetry_month_to_date(opaque, customer, currency, cost);
}

static void admit_row(void *opaque, const char *customer)
{
    cs_telemetry_admit(opaque, customer);
}

static void spend_row(void *opaque, const char *customer, const char *currency, const char *amount)
{
    cs_telemetry_spend(opaque, customer, currency, amount);
}

/* Rebuilds the month-to-date gauge and the allocated spend from PostgreSQL. */
static void refresh_month_to_date(cs_worker *w)
{
    char err[512];
    cs_telemetry_month_to_date_begin(w->tm);
    if (cs_store_month_to_date(w->store, mtd_row, w->tm, err, sizeof(err)) < 0) {
        w->n.store_errors++;
        cs_log(CS_LOG_WARN, "cannot read month-to-date costs; will retry", "error", err, NULL);
    }
    /* one worker of the group exports the allocated spend, so that a sum
     * over workers counts it once: the owner of the first topic's partition 0 */
    cs_ledger_part *first = w->cfg->ntopics ? cs_ledger_find(&w->ledger, w->cfg->topics[0], 0) : NULL;
    cs_telemetry_spend_begin(w->tm);
    if (first && first->active &&
        cs_store_spend_totals(w->store, spend_row, w->tm, err, sizeof(err)) < 0) {
        w->n.store_errors++;
        cs_log(CS_LOG_WARN, "cannot read allocated spend; will retry", "error", err, NULL);
    }
}

/* Settles one shard (if no other worker holds it).  true if it did. */
static bool settle_shard(cs_worker *w, int shard, const cs_settle_options *o,
                         cs_settle_result *sum)
{
    char err[512];
    cs_settle_result res;
    int64_t t0 = mono_usec();
    int r = cs_store_settle(w->store, w->cfg->group, o, shard, w->settled, &res, err,
                            sizeof(err));
    if (r < 0) {
        w->n.store_errors++;
        cs_agg_clear(w->settled);
        cs_log(CS_LOG_WARN, "settling metric samples failed; will retry", "error", err, NULL);
        return false;
    }
    if (!res.settled)
        return false;
    cs_telemetry_flush(w->tm, CS_FLUSH_OK, mono_usec() - t0, w->settled);
    for (size_t i = 0; i < cs_agg_count(w->settled); i++)
        w->n.rows_written += cs_agg_row_at(w->settled, i)->events > 0;
    cs_agg_clear(w->settled);
    sum->settled++;
    sum->watermark_usec = res.watermark_usec;
    sum->samples += res.samples;
    for (int i = 0; i < CS_SERIES__COUNT; i++)
        sum->outcomes[i] += res.outcomes[i];
    sum->evicted_gauges += res.evicted_gauges;
    sum->evicted_counters += res.evicted_counters;
    return true;
}

/* Settles pending metric samples below the watermark, shard by shard,
 * starting at a shard that moves every round so that workers of the group
 * meet different shards first and settle in parallel. */
static void settle(cs_worker *w)
{
    cs_settle_options o = {(int64_t)w->cfg->lateness_ms * 1000,
                           (int64_t)w->cfg->partition_idle_ms * 1000,
                           (int64_t)w->cfg->series_idle_ms * 1000,
                           (int64_t)w->cfg->counter_retention_hours * 3600 * 1000000,
                           (uint64_t)w->cfg->settle_max_samples};
    cs_settle_result sum = {0};
    unsigned first = w->settle_round++ * 7u + (unsigned)getpid();
    for (int k = 0; k < CS_STORE_SETTLE_SHARDS; k++)
        settle_shard(w, (int)((first + (unsigned)k) % CS_STORE_SETTLE_SHARDS), &o, &sum);
    if (!sum.settled)
        return;
    for (int i = 0; i < CS_SERIES__COUNT; i++)
        w->n.samples[i] += sum.outcomes[i];
    w->n.evicted_gauges += sum.evicted_gauges;
    w->n.evicted_counters += sum.evicted_counters;
    w->n.watermark_usec = sum.watermark_usec;
    if (sum.samples) {
        char n[24], shards[12], wm[CS_TIMESTAMP_STRLEN], oc[CS_SERIES__COUNT][24];
        fmt_i64(n, sizeof(n), (int64_t)sum.samples);
        snprintf(shards, sizeof(shards), "%d", sum.settled);
        for (int i = 0; i < CS_SERIES__COUNT; i++)
            fmt_i64(oc[i], sizeof(oc[i]), (int64_t)sum.outcomes[i]);
        cs_timestamp_format(sum.watermark_usec, wm, sizeof(wm));
        cs_log(CS_LOG_DEBUG, "settled metric samples", "samples", n, "shards", shards,
               "watermark", wm, "baseline", oc[0], "charged", oc[1], "reset", oc[2], "duplicate",
               oc[3], "late", oc[4], "nan", oc[5], "gap", oc[6], NULL);
    }
}

/* The open months' bills allocated again over the usage stored since
 * (spend.h), on a connection of its own so that no flush waits for it;
 * skipped while another worker or a command allocates. */
static void reallocate_spend(cs_worker *w)
{
    char err[512], n[24];
    size_t periods;
    cs_store *s = cs_store_new(w->cfg->postgres);
    int r = s ? cs_spend_reallocate_open(s, w->rules, &periods, err, sizeof(err)) : -ENOMEM;
    if (r == 0 && periods) {
        fmt_i64(n, sizeof(n), (int64_t)periods);
        cs_log(CS_LOG_INFO, "infrastructure spend allocated again", "periods", n, NULL);
    } else if (r < 0 && r != -EBUSY) {
        cs_log(CS_LOG_WARN, "could not allocate the infrastructure spend again; will retry",
               "error", r == -ENOMEM ? "out of memory" : err, NULL);
    }
    cs_store_free(s);
}

/* The changes every writer appended to the rollups, folded in (store.h);
 * skipped while another worker does it. */
static void compact_rollups(cs_worker *w)
{
    char err[512], n[24];
    long rows;
    if (cs_store_rollup_compact(w->store, &rows, err, sizeof(err)) < 0) {
        w->n.store_errors++;
        cs_log(CS_LOG_WARN, "could not fold the usage rollups' changes; will retry", "error", err,
               NULL);
    } else if (rows) {
        fmt_i64(n, sizeof(n), rows);
        cs_log(CS_LOG_DEBUG, "folded the usage rollups' changes", "rows", n, NULL);
    }
}

/* Retention: fingerprints past the de-duplication window, rejects past
 * rejects.retention_days (this group's). */
static void prune(cs_worker *w)
{
    char err[512], n[24];
    long deleted;
    int r = 0;
    if (w->cfg->dedup &&
        (r = cs_store_dedup_prune(w->store, w->cfg->group, w->cfg->dedup_window_hours, &deleted,
                                  err, sizeof(err))) == 0) {
        fmt_i64(n, sizeof(n), deleted);
        cs_log(CS_LOG_DEBUG, "pruned old event fingerprints", "rows", n, NULL);
    }
    if (r == 0 && w->cfg->rejects_retention_days > 0 &&
        (r = cs_rejects_prune(w->store, w->cfg->group, w->cfg->rejects_retention_days, &deleted,
                              err, sizeof(err))) == 0 && deleted > 0) {
        fmt_i64(n, sizeof(n), deleted);
        cs_log(CS_LOG_INFO, "deleted rejected events past rejects.retention_days", "rows", n, NULL);
    }
    if (r < 0) {
        w->n.store_errors++;
        cs_log(CS_LOG_WARN, "could not prune old rows; will retry", "error", err, NULL);
    }
}

static void log_progress(cs_worker *w)
{
    char c[24], a[24], rj[24], u[24], f[24], d[24];
    uint64_t rejected = 0;
    for (int i = 0; i < CS_REJECT__COUNT; i++)
        rejected += w->n.rejected[i];
    fmt_i64(c, sizeof(c), (int64_t)w->n.consumed);
    fmt_i64(a, sizeof(a), (int64_t)w->n.accepted);
    fmt_i64(rj, sizeof(rj), (int64_t)rejected);
    fmt_i64(u, sizeof(u), (int64_t)w->n.unattributed);
    fmt_i64(f, sizeof(f), (int64_t)w->n.flushes);
    fmt_i64(d, sizeof(d), (int64_t)w->n.duplicates);
    cs_log(CS_LOG_INFO, "progress", "consumed", c, "accepted", a, "duplicates", d, "rejected",
           rj, "unattributed", u, "flushes", f, NULL);
}

#define MAX_BACKOFF (10 * CS_USEC_PER_SEC)

/* A flush result that means "the same batch may succeed later". */
static bool is_unavailable(int r)
{
    return r < 0 && r != -ESTALE && r != -EBADMSG && r != -ENOMEM;
}


/* The worker's periodic tasks, each on its own schedule: metrics, progress
 * log, settlement, month-to-date, spend, rollups, event-id pruning. */
static void tick(cs_worker *w, schedule *sch)
{
    const cs_config *cfg = w->cfg;
    int64_t now = mono_usec();
    busy(w, "publishing metrics");
    if (now - sch->last_progress >= 10 * CS_USEC_PER_SEC) {
        log_progress(w);
        sch->last_progress = now;
    }
    if (now >= sch->next_publish) {
        publish(w, now >= sch->next_lag);
        if (now >= sch->next_lag)
            sch->next_lag = now + 5 * CS_USEC_PER_SEC;
        sch->next_publish = now + CS_USEC_PER_SEC;
    }
    if (cfg->nmetric_topics && now >= sch->next_settle) {
        busy(w, "settling metric samples in PostgreSQL");
        settle(w);
        sch->next_settle = mono_usec() + (int64_t)cfg->settle_interval_ms * 1000;
    }
    if (now >= sch->next_mtd) {
        busy(w, "reading month-to-date costs from PostgreSQL");
        refresh_month_to_date(w);
        sch->next_mtd = now + (int64_t)cfg->mtd_refresh_ms * 1000;
    }
    if (now >= sch->next_forget) {
        /* another worker may have written other attributes since: write
         * every customer's again at least this often */
        cs_strmap_clear(&w->stored_customers, free);
        sch->next_forget = now + 600 * CS_USEC_PER_SEC;
    }
    if (cfg->spend_reallocate_s && w->rules->npools && now >= sch->next_spend) {
        busy(w, "allocating the infrastructure bill again");
        reallocate_spend(w);
        sch->next_spend = now + (int64_t)cfg->spend_reallocate_s * CS_USEC_PER_SEC;
    }
    if (now >= sch->next_rollup) {
        busy(w, "folding the usage rollups' changes in PostgreSQL");
        compact_rollups(w);
        sch->next_rollup = now + 5 * CS_USEC_PER_SEC;
    }
    if (now >= sch->next_prune) {
        busy(w, "pruning old fingerprints and rejects in PostgreSQL");
        prune(w);
        sch->next_prune = now + 600 * CS_USEC_PER_SEC;
    }
}

/* Refuses to start on a permanent misconfiguration of PostgreSQL (wrong
 * credentials, no such database, schema not migrated), with one line that
 * says what to do.  An unreachable server is waited for, not fatal. */
static int check_store(cs_worker *w)
{
    char err[512];
    int r = cs_store_check_schema(w->store, err, sizeof(err));
    if (r == 0 || r == -EIO) {
        if (r)
            cs_log(CS_LOG_WARN, "PostgreSQL is unreachable; starting anyway and retrying",
                   "error", err, NULL);
        return 0;
    }
    cs_log(CS_LOG_ERROR, cs__worker_store_cause(r), "error", err, NULL);
    return r;
}

/* Frees everything; NULL allowed.  The consumer, if still there, leaves
 * the group without a flush (its partitions are redone by their next
 * owner). */
static void worker_free(cs_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->wd_stop, 1);
    if (w->watchdog_started)
        pthread_join(w->watchdog, NULL);
    cs__worker_inbox_clear(w);
    free(w->inbox);
    cs_consumer_free(w->consumer);
    cs_http_stop(w->http);
    cs_telemetry_free(w->tm);
    cs__worker_flush_free(w); /* before the memory a batch in flight points into */

    cs_strmap_clear(&w->stored_customers, free);
    cs_dedup_free(w->dedup);
    cs_ledger_free(&w->ledger);
    cs_batch_free(w->batch);
    cs_agg_free(w->settled);
    cs_store_free(w->store);
    cs_labels_free(w->labels);
    cs_rules_free(w->rules);
    for (size_t i = 0; i < w->npoison; i++)
        free(w->poison[i].topic);
    free(w->poison);
    pthread_mutex_destroy(&w->st_lock);
    free(w);
}

/* Learns how many partitions each metric topic has (settlement waits for a
 * watermark from every one). */
static void count_metric_partitions(cs_worker *w)
{
    for (size_t t = 0; t < w->cfg->nmetric_topics; t++) {
        int n = cs_consumer_partition_count(w->consumer, w->cfg->metric_topics[t], 10000);
        char cnt[24];
        fmt_i64(cnt, sizeof(cnt), n);
        if (n <= 0)
            cs_log(CS_LOG_ERROR, "cannot learn the partitions of a metric topic; settlement waits",
                   "topic", w->cfg->metric_topics[t], NULL);
        else
            cs_log(CS_LOG_DEBUG, "metric topic", "topic", w->cfg->metric_topics[t], "partitions",
                   cnt, NULL);
        w->metric_partitions[t] = n > 0 ? n : 0;
    }
}

/* Starts the HTTP endpoint when configured.  0 or -EINVAL (logged). */
static int start_http(cs_worker *w)
{
    char err[512], port[24];
    if (!w->cfg->http_listen)
        return 0;
    cs_http_handlers hh = {w, http_metrics, http_ready};
    cs_http_limits lim = {(unsigned)w->cfg->http_max_connections, (unsigned)w->cfg->http_per_ip,
                          (unsigned)w->cfg->http_header_timeout_s};
    char host[256], addr[300];
    int lo, hi;
    if (cs_config_listen_range(w->cfg->http_listen, host, sizeof(host), &lo, &hi) < 0)
        return -EINVAL; /* checked when the configuration was read */
    for (int p = lo; p <= hi && !w->http; p++) { /* the first free port of the range */
        snprintf(addr, sizeof(addr), "%s:%d", host, p);
        w->http = cs_http_start(addr, &hh, &lim, err, sizeof(err));
    }
    if (!w->http) {
        cs_log(CS_LOG_ERROR, "cannot start the HTTP endpoint", "listen", w->cfg->http_listen,
               "error", err, "hint",
               strstr(err, "in use") ? "another process (another worker?) holds the port: give"
                                       " http.listen a range such as 127.0.0.1:9464-9473, its"
                                       " own port per worker, or port 0"
                                     : "check http.listen",
               NULL);
        return -EINVAL;
    }
    fmt_i64(port, sizeof(port), cs_http_port(w->http));
    cs_log(CS_LOG_INFO, "serving /metrics, /healthz, /readyz", "listen", w->cfg->http_listen,
           "address", addr, "port", port, NULL);
    return 0;
}

/* Everything a worker needs before its first message: rules, backends,
 * telemetry and its watchdog, the HTTP endpoint, the consumer.  Returns the
 * worker, or NULL with *ret_err set (the cause is logged). */
static cs_worker *worker_open(const cs_config *cfg, volatile sig_atomic_t *stop, int *ret_err)
{
    cs_worker *w = calloc(1, sizeof(*w));
    cs_errlist errs = {0};
    char err[512];
    int r = -ENOMEM;

    if (!w)
        goto fail_alloc;
    w->cfg = cfg;
    pthread_mutex_init(&w->st_lock, NULL);
    if ((r = cs_rules_load(cfg->rules_path, &w->rules, &errs)) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            cs_log(CS_LOG_ERROR, "invalid rules", "error", errs.items[i], NULL);
        cs_errlist_free(&errs);
        goto fail;
    }
    r = -ENOMEM;
    w->labels = cs_labels_new(cfg);
    w->store = cs_store_new(cfg->postgres);
    w->batch = cs_batch_new();
    w->flusher = cs_flusher_new(cfg->postgres, NULL, &r);
    w->settled = cs_agg_new();
    w->inbox = calloc(INBOX_MAX, sizeof(*w->inbox));
    w->tm = cs_telemetry_new((size_t)cfg->metrics_max_customers, CS_VERSION);
    if (!w->labels || !w->store || !w->batch || !w->flusher || !w->settled || !w->tm || !w->inbox ||
        (cfg->dedup && !(w->dedup = cs_dedup_new((size_t)cfg->dedup_max_events))))
        goto fail;
    if ((r = check_store(w)) < 0)
        goto fail;
    cs_telemetry_rules(w->tm, w->rules->version, w->rules->currency);
    busy(w, "starting");
    w->watchdog_started = pthread_create(&w->watchdog, NULL, watchdog_main, w) == 0;
    /* the largest customers of the month get their own series first, so
     * that the cardinality cap folds the smallest */
    if (cs_store_top_customers(w->store, cfg->metrics_max_customers - 1, admit_row, w->tm, err,
                               sizeof(err)) < 0)
        cs_log(CS_LOG_WARN, "cannot rank customers for the metrics cap", "error", err, NULL);
    if ((r = start_http(w)) < 0)
        goto fail;
    cs_consumer_callbacks cb = {w, on_assign, on_revoke, on_error, stop};
    w->consumer = cs_consumer_new(cfg, &cb, err, sizeof(err));
    if (!w->consumer) {
        cs_log(CS_LOG_ERROR, "cannot create the Kafka consumer", "error", err, NULL);
        r = -EINVAL;
        goto fail;
    }
    count_metric_partitions(w);
    cs_log(CS_LOG_INFO, "worker started", "group", cfg->group, "rules_version", w->rules->version,
           NULL);
    w->last_flush = mono_usec();
    w->sch = (schedule){.next_prune = mono_usec() + 5 * CS_USEC_PER_SEC,
                        .last_progress = mono_usec(),
                        .next_forget = mono_usec() + 600 * CS_USEC_PER_SEC};
    return w;
fail:
    worker_free(w);
fail_alloc:
    *ret_err = r;
    return NULL;
}

/* Waits before the next attempt on a backend, doubling up to MAX_BACKOFF. */
static void back_off(cs_worker *w, bool again)
{
    w->backoff = again && w->backoff ? (w->backoff * 2 > MAX_BACKOFF ? MAX_BACKOFF : w->backoff * 2)
                                     : CS_USEC_PER_SEC / 2;
    w->retry_at = mono_usec() + w->backoff;
}

/* One turn of the loop: periodic tasks, then a retry of what waits on a
 * backend, or the next message; then a flush when one is due.  0, or a
 * negative error that ends the worker (fatal Kafka error, out of memory). */
/* When the last messages missed the label cache or needed event hours
 * whose stored fingerprints were not loaded (a cold start, new customers,
 * a backfill), looks up the inbox's customers in two pipelined Redis round
 * trips and loads its new hours' fingerprints in one PostgreSQL statement:
 * otherwise each would cost its own round trips.  Failures are left to the
 * per-message path, which reports and retries them. */
static void prefetch(cs_worker *w)
{
    uint64_t misses = cs_labels_cache_stats(w->labels).misses;
    bool want = w->prefetch || misses != w->misses_seen || w->hour_loads != w->hour_loads_seen;
    w->misses_seen = misses;
    w->hour_loads_seen = w->hour_loads;
    w->prefetch = false;
    if (!want || w->inbox_n - w->inbox_head < 2)
        return;
    busy(w, "looking up customers in Redis");
    cs_event_error err;
    int64_t hours[INBOX_MAX + 1];
    size_t added = 0, nhours = 0;
    for (size_t i = w->inbox_head; i < w->inbox_n; i++) {
        const cs_message *m = &w->inbox[i];
        cs_ledger_part *p = cs_ledger_find(&w->ledger, m->topic, m->partition);
        if (!cs_ledger_wants(p, m->offset) || p->metric ||
            cs_event_decode(m->payload, m->len, w->cfg->max_message_bytes, w->cfg->format,
                            &w->ev, &err) < 0)
            continue;
        if (w->dedup && !cs_dedup_loaded(w->dedup, cs_timestamp_hour(w->ev.time_usec), NULL))
            hours[nhours++] = cs_timestamp_hour(w->ev.time_usec);
        if (cs_labels_prefetch_add(w->labels, &w->ev) < 0)
            break;
        added++;
    }
    const char *rerr;
    if (added)
        w->prefetch = cs_labels_prefetch_run(w->labels, now_usec(), &rerr) > 0;
    if (nhours) {
        dedup_prefetch(w, hours, nhours);
        w->prefetch = true; /* new hours come in runs: look at the next messages too */
    }
}

/* Says (at most once a minute), when the worker has read everything it was
 * given since it last said so, that it caught up, with its partitions' lag (from the
 * client's cached high watermarks: 0 unless messages arrived meanwhile). */
static void announce_caught_up(cs_worker *w)
{
    if (w->n.consumed == w->announced ||
        (w->announced_at && mono_usec() - w->announced_at < 60 * CS_USEC_PER_SEC))
        return;
    w->announced_at = mono_usec();
    int64_t lag = 0;
    size_t parts = 0;
    for (size_t i = 0; i < w->ledger.n; i++) {
        cs_ledger_part *p = &w->ledger.parts[i];
        if (!p->active || p->next < 0)
            continue;
        int64_t hi = cs_consumer_high_watermark(w->consumer, p->topic, p->partition);
        lag += hi > p->next ? hi - p->next : 0;
        parts++;
    }
    char consumed[24], since[24], n[24], l[24];
    fmt_i64(consumed, sizeof(consumed), (int64_t)w->n.consumed);
    fmt_i64(since, sizeof(since), (int64_t)(w->n.consumed - w->announced));
    fmt_i64(n, sizeof(n), (int64_t)parts);
    fmt_i64(l, sizeof(l), lag);
    cs_log(CS_LOG_INFO, "caught up: reached the end of the partitions", "partitions", n, "lag",
           l, "consumed_since_last", since, "consumed", consumed, NULL);
    w->announced = w->n.consumed;
}

/* Takes up to INBOX_MAX messages from Kafka, waiting for the first up to
 * 100 ms, or 5 ms while a flush is in flight: its outcome, and the next
 * flush, wait for the loop to come round.  0, or a fatal error. */
static int inbox_fill(cs_worker *w)
{
    char err[512];
    w->inbox_head = w->inbox_n = 0;
    w->caught_up = false;
    for (int timeout = w->job ? 5 : 100; w->inbox_n < INBOX_MAX; timeout = 0) {
        cs_message m;
        int r = cs_consumer_poll(w->consumer, timeout, &m, err, sizeof(err));
        if (r < 0) {
            cs_log(CS_LOG_ERROR, "fatal Kafka error", "error", err, NULL);
            return r;
        }
        if (r == 0) {
            w->caught_up = true;
            if (w->inbox_n == 0)
                announce_caught_up(w);
            break;
        }
        w->inbox[w->inbox_n++] = m; /* a rebalance inside the poll may have cleared it */
    }
    w->batch_behind = w->batch_behind || w->inbox_n == INBOX_MAX;
    prefetch(w);
    return 0;
}

/* The flushes of one turn of the loop: the outcome of the batch in flight
 * once it is over, then the next batch handed over when it is due (see
 * worker_flush.c).  While a batch is in flight the next one fills up to
 * flush.max_events, then waits.  Isolation flushes one batch at a time. */
static int flush_step(cs_worker *w)
{
    int r = cs__worker_flush_poll(w); /* 1: none ended, 0: one stored just now */
    size_t limit = w->isolate ? w->isolate : (size_t)w->cfg->flush_max_events;
    bool full = w->pending >= limit;
    const char *why = r >= 0 ? cs__worker_flush_due(w, full) : NULL;
    if (why) {
        if (w->isolate)
            r = cs__worker_flush(w, why);
        else if (!w->job)
            r = cs__worker_flush_start(w, why);
        else if (full)
            r = cs__worker_flush_wait(w);
    }
    cs__worker_flush_tell(w);
    if (r == -ENOMEM) {
        cs_log(CS_LOG_ERROR, "out of memory", NULL);
        return r;
    }
    if (r != 1 && is_unavailable(r)) {
        w->store_failing = true; /* the batch is kept and retried before anything else */
        back_off(w, false);
    }
    return 0;
}

static int worker_step(cs_worker *w)
{
    /* periodic work runs whatever the pipeline waits on, so that /metrics
     * keeps moving during an outage */
    tick(w, &w->sch);
    busy(w, "reading Kafka and looking up customers in Redis");
    if (w->store_failing || w->waiting) {
        /* no new messages until the store / Redis is back */
        if (mono_usec() < w->retry_at) {
            usleep(100000);
            return 0;
        }
        int r = w->store_failing ? cs__worker_flush(w, "retry") : handle(w, &w->inbox[w->inbox_head]);
        if (w->store_failing ? is_unavailable(r) : r == -EAGAIN) {
            back_off(w, true);
            return 0;
        }
        w->backoff = 0;
        if (w->store_failing) {
            w->store_failing = false;
        } else {
            w->waiting = false;
            cs_consumer_release(&w->inbox[w->inbox_head++]);
        }
    } else {
        int r = w->inbox_head < w->inbox_n ? 0 : inbox_fill(w);
        if (r < 0)
            return r;
        if (w->inbox_head < w->inbox_n) {
            r = handle(w, &w->inbox[w->inbox_head]);
            if (r == -EAGAIN) {
                w->waiting = true; /* the message waits for Redis or PostgreSQL */
                back_off(w, false);
                return 0;
            }
            cs_consumer_release(&w->inbox[w->inbox_head++]);
            if (r == -ENOMEM) {
                cs_log(CS_LOG_ERROR, "out of memory", NULL);
                return r;
            }
        }
    }
    return flush_step(w);
}

/* Stores what is in memory (a few attempts), leaves the group, frees. */
static void worker_close(cs_worker *w)
{
    cs__worker_inbox_clear(w);
    for (int attempt = 0; attempt < 5; attempt++) {
        if (!is_unavailable(cs__worker_flush(w, "shutdown")))
            break;
        sleep(1);
    }
    log_progress(w);
    cs_consumer_free(w->consumer); /* leaves the group */
    w->consumer = NULL;
    cs_log(CS_LOG_INFO, "worker stopped", NULL);
    worker_free(w);
}

int cs_worker_run(const cs_config *cfg, volatile sig_atomic_t *stop,
                  volatile sig_atomic_t *reload)
{
    int ret = 0;
    cs_worker *w = worker_open(cfg, stop, &ret);
    if (!w)
        return ret;
    while (!*stop && ret == 0) {
        if (*reload) {
            *reload = 0;
            reload_rules(w);
        }
        ret = worker_step(w);
    }
    worker_close(w);
    return ret;
}
