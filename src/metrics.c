/* metrics.c - registry and exposition (see metrics.h).
 *
 * A family keeps its series in insertion order and indexes them by the
 * label values joined with 0x1f in a cs_strmap; two more serve as the sets of
 * admitted and folded values of a capped label.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "strmap.h"

/* ---- registry ------------------------------------------------------------ */

typedef struct cs_metric_series series;

struct cs_metric_series {
    char **values;
    cs_dec value;      /* counter / gauge; histogram: sum */
    uint64_t count;    /* histogram observations */
    uint64_t *buckets; /* histogram: per bucket (not cumulative), nbuckets + 1 */
};

struct cs_metric_family {
    cs_metrics *owner;
    char *name, *help;
    cs_metric_type type;
    char *labels[CS_METRICS_MAX_LABELS];
    size_t nlabels;
    cs_dec *bounds;
    size_t nbounds;
    series **series;
    size_t nseries, capseries;
    cs_strmap index;
    /* cardinality guard */
    size_t cap_label, cap_max;
    cs_strmap admitted, folded;
};

struct cs_metrics {
    pthread_mutex_t lock;
    cs_metric_family **families;
    size_t nfamilies, capfamilies;
};

cs_metrics *cs_metrics_new(void)
{
    cs_metrics *m = calloc(1, sizeof(*m));
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void free_series(cs_metric_family *f, series *s)
{
    for (size_t i = 0; i < f->nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void reset_series(cs_metric_family *f)
{
    for (size_t i = 0; i < f->nseries; i++)
        free_series(f, f->series[i]);
    f->nseries = 0;
    cs_strmap_clear(&f->index, NULL);
}

void cs_metrics_free(cs_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfamilies; i++) {
        cs_metric_family *f = m->families[i];
        reset_series(f);
        free(f->series);
        cs_strmap_clear(&f->admitted, NULL);
        cs_strmap_clear(&f->folded, NULL);
        for (size_t l = 0; l < f->nlabels; l++)
            free(f->labels[l]);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->families);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

cs_metric_family *cs_metrics_family(cs_metrics *m, const char *name, const char *help,
                                    cs_metric_type type, const char *const *label_names,
                                    size_t nlabels, const cs_dec *buckets, size_t nbuckets)
{
    if (nlabels > CS_METRICS_MAX_LABELS || (type == CS_METRIC_HISTOGRAM && !nbuckets))
        return NULL;
    cs_metric_family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->owner = m;
    f->name = strdup(name);
    f->help = strdup(help);
    f->type = type;
    f->nlabels = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        f->labels[i] = strdup(label_names[i]);
    if (nbuckets) {
        f->bounds = malloc(nbuckets * sizeof(*f->bounds));
        if (f->bounds)
            memcpy(f->bounds, buckets, nbuckets * sizeof(*buckets));
        f->nbounds = nbuckets;
    }
    pthread_mutex_lock(&m->lock);
    int r = cs_array_reserve(&m->families, &m->capfamilies, m->nfamilies + 1,
                             sizeof(*m->families));
    if (r == 0)
        m->families[m->nfamilies++] = f;
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        free(f->name);
        free(f->help);
        free(f);
        return NULL;
    }
    return f;
}

void cs_metrics_family_cap(cs_metric_family *f, size_t label, size_t max_values)
{
    pthread_mutex_lock(&f->owner->lock);
    f->cap_label = label;
    f->cap_max = max_values;
    pthread_mutex_unlock(&f->owner->lock);
}

/* Under the lock: may value of the capped label have its own series?
 * Records folded values. */
static bool admit_locked(cs_metric_family *f, const char *value)
{
    if (!f->cap_max || strcmp(value, CS_METRICS_OTHER) == 0 || cs_strmap_find(&f->admitted, value))
        return true;
    if (f->admitted.n + 1 < f->cap_max) { /* one place stays for "other" */
        cs_strmap_put(&f->admitted, value, NULL);
        return true;
    }
    if (!cs_strmap_find(&f->folded, value))
        cs_strmap_put(&f->folded, value, NULL);
    return false;
}

int cs_metrics_family_admit(cs_metric_family *f, const char *value)
{
    pthread_mutex_lock(&f->owner->lock);
    bool ok = admit_locked(f, value);
    pthread_mutex_unlock(&f->owner->lock);
    return ok;
}

size_t cs_metrics_family_folded(cs_metric_family *f)
{
    pthread_mutex_lock(&f->owner->lock);
    size_t n = f->folded.n;
    pthread_mutex_unlock(&f->owner->lock);
    return n;
}

/* Under the lock: finds or creates the series for values (after folding). */
static series *get_series(cs_metric_family *f, const char *const *values)
{
    const char *v[CS_METRICS_MAX_LABELS];
    char key[2048];

    for (size_t i = 0; i < f->nlabels; i++) {
        v[i] = values[i] ? values[i] : "";
        if (f->cap_max && i == f->cap_label && !admit_locked(f, v[i]))
            v[i] = CS_METRICS_OTHER;
    }
    if (cs_strmap_key(key, sizeof(key), v, f->nlabels) < 0)
        return NULL;
    void **found = cs_strmap_find(&f->index, key);
    if (found)
        return *found;
    series *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->values = calloc(f->nlabels + 1, sizeof(char *));
    if (f->type == CS_METRIC_HISTOGRAM)
        s->buckets = calloc(f->nbounds + 1, sizeof(uint64_t));
    if (!s->values || (f->type == CS_METRIC_HISTOGRAM && !s->buckets)) {
        free(s->values);
        free(s->buckets);
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        s->values[i] = strdup(v[i]);
    if (cs_array_reserve(&f->series, &f->capseries, f->nseries + 1, sizeof(*f->series)) < 0 ||
        cs_strmap_put(&f->index, key, s) < 0) {
        free_series(f, s);
        return NULL;
    }
    f->series[f->nseries++] = s;
    return s;
}

static int update(cs_metric_family *f, const char *const *values, cs_dec v, int op)
{
    int r = 0;
    pthread_mutex_lock(&f->owner->lock);
    series *s = get_series(f, values);
    if (!s) {
        r = -ENOMEM;
    } else if (op == 0) {
        r = cs_dec_add(s->value, v, &s->value);
    } else if (op == 1) {
        s->value = v;
    } else {
        size_t b = 0;
        while (b < f->nbounds && cs_dec_cmp(v, f->bounds[b]) > 0)
            b++;
        s->buckets[b]++;
        s->count++;
        r = cs_dec_add(s->value, v, &s->value);
    }
    pthread_mutex_unlock(&f->owner->lock);
    return r;
}

int cs_metrics_add(cs_metric_family *f, const char *const *values, cs_dec v)
{
    return update(f, values, v, 0);
}

cs_metric_series *cs_metrics_series(cs_metric_family *f, const char *const *values)
{
    pthread_mutex_lock(&f->owner->lock);
    series *s = get_series(f, values);
    pthread_mutex_unlock(&f->owner->lock);
    return s;
}

int cs_metrics_series_add(cs_metric_family *f, cs_metric_series *s, cs_dec v)
{
    pthread_mutex_lock(&f->owner->lock);
    int r = cs_dec_add(s->value, v, &s->value);
    pthread_mutex_unlock(&f->owner->lock);
    return r;
}

int cs_metrics_set(cs_metric_family *f, const char *const *values, cs_dec v)
{
    return update(f, values, v, 1);
}

int cs_metrics_observe(cs_metric_family *f, const char *const *values, cs_dec v)
{
    return f->type == CS_METRIC_HISTOGRAM ? update(f, values, v, 2) : -EINVAL;
}

void cs_metrics_family_reset(cs_metric_family *f)
{
    pthread_mutex_lock(&f->owner->lock);
    reset_series(f);
    pthread_mutex_unlock(&f->owner->lock);
}

/* ---- exposition ---------------------------------------------------------- */

void cs_metrics_escape(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; *s && o + 3 < size; s++) {
        if (*s == '\\' || *s == '"') {
            out[o++] = '\\';
            out[o++] = *s;
        } else if (*s == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

/* Decimal text without trailing fractional zeros: "1.5", "3". */
static void fmt_value(cs_dec v, char *buf, size_t size)
{
    int n = cs_dec_format(v, CS_DEC_SCALE, buf, size);
    if (n <= 0)
        return;
    char *dot = strchr(buf, '.');
    if (!dot)
        return;
    char *end = buf + n - 1;
    while (end > dot && *end == '0')
        *end-- = '\0';
    if (end == dot)
        *dot = '\0';
}

static void put_labels(FILE *out, cs_metric_family *f, series *s, const char *extra_name,
                       const char *extra_value)
{
    char esc[1024];
    if (!f->nlabels && !extra_name)
        return;
    fputc('{', out);
    for (size_t i = 0; i < f->nlabels; i++) {
        cs_metrics_escape(s->values[i], esc, sizeof(esc));
        fprintf(out, "%s%s=\"%s\"", i ? "," : "", f->labels[i], esc);
    }
    if (extra_name)
        fprintf(out, "%s%s=\"%s\"", f->nlabels ? "," : "", extra_name, extra_value);
    fputc('}', out);
}

static void put_help(FILE *out, const char *text)
{
    for (; *text; text++) {
        if (*text == '\\')
            fputs("\\\\", out);
        else if (*text == '\n')
            fputs("\\n", out);
        else
            fputc(*text, out);
    }
}

int cs_metrics_render(cs_metrics *m, int openmetrics, char **ret_buf, size_t *ret_len)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        return -ENOMEM;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfamilies; i++) {
        cs_metric_family *f = m->families[i];
        char val[CS_DEC_STRLEN];
        /* OpenMetrics names a counter family without its _total suffix */
        size_t nl = strlen(f->name);
        int strip = openmetrics && f->type == CS_METRIC_COUNTER && nl > 6 &&
                    strcmp(f->name + nl - 6, "_total") == 0;
        int famlen = (int)(strip ? nl - 6 : nl);
        fprintf(out, "# HELP %.*s ", famlen, f->name);
        put_help(out, f->help);
        fprintf(out, "\n# TYPE %.*s %s\n", famlen, f->name, types[f->type]);
        for (size_t k = 0; k < f->nseries; k++) {
            series *s = f->series[k];
            if (f->type != CS_METRIC_HISTOGRAM) {
                fmt_value(s->value, val, sizeof(val));
                fputs(f->name, out);
                put_labels(out, f, s, NULL, NULL);
                fprintf(out, " %s\n", val);
                continue;
            }
            uint64_t cum = 0;
            for (size_t b = 0; b <= f->nbounds; b++) {
                char le[CS_DEC_STRLEN];
                cum += s->buckets[b];
                if (b < f->nbounds)
                    fmt_value(f->bounds[b], le, sizeof(le));
                else
                    snprintf(le, sizeof(le), "+Inf");
                fprintf(out, "%s_bucket", f->name);
                put_labels(out, f, s, "le", le);
                fprintf(out, " %" PRIu64 "\n", cum);
            }
            fmt_value(s->value, val, sizeof(val));
            fprintf(out, "%s_sum", f->name);
            put_labels(out, f, s, NULL, NULL);
            fprintf(out, " %s\n%s_count", val, f->name);
            put_labels(out, f, s, NULL, NULL);
            fprintf(out, " %" PRIu64 "\n", s->count);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (openmetrics)
        fputs("# EOF\n", out);
    if (fclose(out) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}
