/* allocate.c - bill allocation (see allocate.h). */
#include "allocate.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "array.h"
#include "strmap.h"

typedef struct shared_sum {
    cs_dec cost;
    long lines;
} shared_sum;

struct cs_allocate {
    const cs_rules *rules;
    const cs_allocate_usage *usage;
    size_t nusage;
    cs_allocate_row *rows;
    size_t nrows, caprows;
    cs_strmap index; /* row key -> row number + 1 */
    shared_sum *shared; /* per pool */
    cs_dec line_idle;   /* idle of the last line added */
};

const char *cs_allocate_kind_name(cs_allocate_kind k)
{
    static const char *const names[CS_ALLOCATE__COUNT] = {"direct", "shared", "no_usage",
                                                          "no_pool", "idle"};
    return k < CS_ALLOCATE__COUNT ? names[k] : "unknown";
}

/* ---- pool selection ------------------------------------------------------ */

static const char *column(const cs_allocate_fields *f, const char *name)
{
    static const struct { const char *name; size_t off; } map[] = {
        {"ServiceName", offsetof(cs_allocate_fields, service_name)},
        {"ServiceCategory", offsetof(cs_allocate_fields, service_category)},
        {"ResourceId", offsetof(cs_allocate_fields, resource_id)},
        {"ResourceName", offsetof(cs_allocate_fields, resource_name)},
        {"RegionId", offsetof(cs_allocate_fields, region)},
        {"ProviderName", offsetof(cs_allocate_fields, provider)},
        {"ChargeCategory", offsetof(cs_allocate_fields, charge_category)},
        {"ChargeClass", offsetof(cs_allocate_fields, charge_class)},
        {"BillingAccountId", offsetof(cs_allocate_fields, account)},
        {"SubAccountId", offsetof(cs_allocate_fields, sub_account)}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].name, name) == 0) {
            const char *v = *(const char *const *)((const char *)f + map[i].off);
            return v ? v : "";
        }
    return "";
}

int cs_allocate_pool_of(const cs_rules *rules, const cs_allocate_fields *f)
{
    json_t *tags = NULL;
    if (f->tags_json && f->tags_json[0]) {
        tags = json_loads(f->tags_json, 0, NULL);
        if (!json_is_object(tags)) {
            json_decref(tags);
            return -EINVAL;
        }
    }
    int found = CS_ALLOCATE_UNPOOLED;
    for (size_t p = 0; p < rules->npools && found == CS_ALLOCATE_UNPOOLED; p++) {
        const cs_pool *pool = &rules->pools[p];
        size_t k = 0;
        for (; k < pool->nselect; k++) {
            const cs_pool_select *s = &pool->select[k];
            json_t *t = s->tag ? json_object_get(tags, s->column) : NULL;
            const char *v = s->tag ? (json_is_string(t) ? json_string_value(t) : NULL)
                                   : column(f, s->column);
            if (!v || strcmp(v, s->value) != 0)
                break;
        }
        if (k == pool->nselect)
            found = (int)p;
    }
    json_decref(tags);
    return found;
}

/* ---- rows ----------------------------------------------------------------- */

cs_allocate *cs_allocate_new(const cs_rules *rules, const cs_allocate_usage *usage, size_t nusage)
{
    cs_allocate *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->rules = rules;
    a->usage = usage;
    a->nusage = nusage;
    a->shared = calloc(rules->npools + 1, sizeof(*a->shared));
    if (!a->shared) {
        free(a);
        return NULL;
    }
    return a;
}

void cs_allocate_free(cs_allocate *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nrows; i++) {
        free((char *)a->rows[i].customer);
        free((char *)a->rows[i].product);
    }
    free(a->rows);
    cs_strmap_clear(&a->index, NULL);
    free(a->shared);
    free(a);
}

/* Adds amount to the row (pool, customer, product, kind). */
static int add(cs_allocate *a, int pool, const char *customer, const char *product,
               cs_allocate_kind kind, cs_dec amount)
{
    char key[1200];
    snprintf(key, sizeof(key), "%d\x1f%s\x1f%s\x1f%d", pool, customer, product, (int)kind);
    void **slot = cs_strmap_find(&a->index, key);
    cs_allocate_row *r;
    if (slot) {
        r = &a->rows[(size_t)(uintptr_t)*slot - 1];
    } else {
        if (cs_array_reserve(&a->rows, &a->caprows, a->nrows + 1, sizeof(*a->rows)) < 0)
            return -ENOMEM;
        r = &a->rows[a->nrows];
        *r = (cs_allocate_row){pool >= 0 ? a->rules->pools[pool].id : NULL, strdup(customer),
                               strdup(product), kind, cs_dec_zero(), 0};
        if (!r->customer || !r->product ||
            cs_strmap_put(&a->index, key, (void *)(uintptr_t)(a->nrows + 1)) < 0) {
            free((char *)r->customer);
            free((char *)r->product);
            return -ENOMEM;
        }
        a->nrows++;
    }
    r->lines++;
    return cs_dec_add(r->amount, amount, &r->amount) < 0 ? -ERANGE : 0;
}

/* ---- direct pools ---------------------------------------------------------- */

static int cmp_usage_key(const cs_allocate_usage *u, const char *product, const char *meter,
                         int64_t hour)
{
    int c = strcmp(u->product, product);
    if (!c)
        c = strcmp(u->meter, meter);
    if (!c)
        c = u->hour_usec < hour ? -1 : u->hour_usec > hour;
    return c;
}

/* The first usage row at or after (product, meter, hour). */
static size_t usage_lower_bound(const cs_allocate *a, const char *product, const char *meter,
                                int64_t hour)
{
    size_t lo = 0, hi = a->nusage;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_usage_key(&a->usage[mid], product, meter, hour) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct payer {
    const char *customer;
    cs_dec quantity;
} payer;

static int by_customer(const void *x, const void *y)
{
    return strcmp(((const payer *)x)->customer, ((const payer *)y)->customer);
}

/* The customers' quantities of a driver in [start, end), by customer. */
static int payers_of(const cs_allocate *a, const cs_pool_driver *d, int64_t start, int64_t end,
                     payer **ret, size_t *ret_n)
{
    cs_strmap seen = {0};
    payer *p = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    for (size_t i = usage_lower_bound(a, d->product, d->meter, start);
         i < a->nusage && r == 0 && strcmp(a->usage[i].product, d->product) == 0 &&
         strcmp(a->usage[i].meter, d->meter) == 0 && a->usage[i].hour_usec < end;
         i++) {
        const cs_allocate_usage *u = &a->usage[i];
        if (cs_dec_cmp(u->quantity, cs_dec_zero()) <= 0)
            continue;
        void **slot = cs_strmap_find(&seen, u->customer);
        if (slot) {
            payer *x = &p[(size_t)(uintptr_t)*slot - 1];
            r = cs_dec_add(x->quantity, u->quantity, &x->quantity) < 0 ? -ERANGE : 0;
        } else if (cs_array_reserve(&p, &cap, n + 1, sizeof(*p)) < 0 ||
                   cs_strmap_put(&seen, u->customer, (void *)(uintptr_t)(n + 1)) < 0) {
            r = -ENOMEM;
        } else {
            p[n++] = (payer){u->customer, u->quantity};
        }
    }
    cs_strmap_clear(&seen, NULL);
    if (r < 0) {
        free(p);
        return r;
    }
    if (n > 1)
        qsort(p, n, sizeof(*p), by_customer);
    *ret = p;
    *ret_n = n;
    return 0;
}

/* The driver's unused capacity over [start, end) (zero without one, or
 * when usage exceeds it), appended as the payer "idle".  0 or an error. */
static int add_idle(const cs_pool_driver *d, int64_t start, int64_t end, payer **p, size_t *n)
{
    if (!d->has_capacity)
        return 0;
    cs_dec cap, used = cs_dec_zero(), idle, secs = cs_dec_from_int((end - start) / 1000000);
    if (cs_dec_mul(d->capacity_per_hour, secs, &cap) < 0 || cs_dec_div_int(cap, 3600, &cap) < 0)
        return -ERANGE;
    for (size_t i = 0; i < *n; i++)
        if (cs_dec_add(used, (*p)[i].quantity, &used) < 0)
            return -ERANGE;
    if (cs_dec_sub(cap, used, &idle) < 0)
        return -ERANGE;
    if (cs_dec_cmp(idle, cs_dec_zero()) <= 0)
        return 0;
    payer *np = realloc(*p, (*n + 1) * sizeof(**p));
    if (!np)
        return -ENOMEM;
    np[(*n)++] = (payer){CS_ALLOCATE_IDLE_CUSTOMER, idle}; /* last: ties go to customers */
    *p = np;
    return 0;
}

/* Splits one weighted part of a line over its driver's payers. */
static int split_driver(cs_allocate *a, int pool, const cs_pool_driver *d, int64_t start,
                        int64_t end, cs_dec part)
{
    payer *p = NULL;
    size_t n = 0, users;
    int r = payers_of(a, d, start, end, &p, &n);
    users = n;
    if (r == 0)
        r = add_idle(d, start, end, &p, &n);
    if (r < 0) {
        free(p);
        return r;
    }
    if (n == 0) {
        free(p);
        return add(a, pool, CS_ALLOCATE_UNALLOCATED, d->product, CS_ALLOCATE_NO_USAGE, part);
    }
    cs_dec *w = malloc(n * sizeof(*w)), *out = malloc(n * sizeof(*out));
    r = w && out ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++)
        w[i] = p[i].quantity;
    if (r == 0)
        r = cs_alloc_split(part, w, n, CS_DEC_SCALE, out);
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = add(a, pool, p[i].customer, d->product,
                i >= users ? CS_ALLOCATE_IDLE : CS_ALLOCATE_DIRECT,
                out[i]);
        if (r == 0 && i >= users && cs_dec_add(a->line_idle, out[i], &a->line_idle) < 0)
            r = -ERANGE;
    }
    free(w);
    free(out);
    free(p);
    return r;
}

cs_dec cs_allocate_line_idle(const cs_allocate *a)
{
    return a->line_idle;
}

int cs_allocate_line(cs_allocate *a, int pool, int64_t start, int64_t end, cs_dec cost)
{
    a->line_idle = cs_dec_zero();
    if (pool < 0 || (size_t)pool >= a->rules->npools)
        return add(a, CS_ALLOCATE_UNPOOLED, CS_ALLOCATE_UNALLOCATED, "", CS_ALLOCATE_NO_POOL, cost);
    const cs_pool *p = &a->rules->pools[pool];
    if (p->shared != CS_POOL_DIRECT) {
        a->shared[pool].lines++;
        return cs_dec_add(a->shared[pool].cost, cost, &a->shared[pool].cost) < 0 ? -ERANGE : 0;
    }
    cs_dec *w = malloc(p->ndrivers * sizeof(*w)), *parts = malloc(p->ndrivers * sizeof(*parts));
    int r = w && parts ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < p->ndrivers; i++)
        w[i] = p->drivers[i].weight;
    if (r == 0)
        r = cs_alloc_split(cost, w, p->ndrivers, CS_DEC_SCALE, parts);
    for (size_t i = 0; r == 0 && i < p->ndrivers; i++)
        r = split_driver(a, pool, &p->drivers[i], start, end, parts[i]);
    free(w);
    free(parts);
    return r;
}

/* ---- shared pools ---------------------------------------------------------- */

/* The targets of a shared policy: (customer, product, weight), from the
 * direct rows (proportional, even) or the pool's weights. */
typedef struct target {
    const char *customer, *product;
    cs_dec weight;
} target;

static int targets_of(const cs_allocate *a, const cs_pool *p, target **ret, size_t *ret_n)
{
    target *t = NULL;
    size_t n = 0, cap = 0;
    if (p->shared == CS_POOL_WEIGHTS) {
        for (size_t i = 0; i < p->nweights; i++) {
            if (cs_array_reserve(&t, &cap, n + 1, sizeof(*t)) < 0)
                goto oom;
            t[n++] = (target){p->weights[i].plan, "shared", p->weights[i].discount};
        }
    } else {
        for (size_t i = 0; i < a->nrows; i++) {
            const cs_allocate_row *r = &a->rows[i];
            if (r->kind != CS_ALLOCATE_DIRECT || cs_dec_cmp(r->amount, cs_dec_zero()) <= 0)
                continue;
            size_t k = 0;
            const char *product = p->shared == CS_POOL_EVEN ? "shared" : r->product;
            while (k < n && (strcmp(t[k].customer, r->customer) || strcmp(t[k].product, product)))
                k++;
            if (k == n) {
                if (cs_array_reserve(&t, &cap, n + 1, sizeof(*t)) < 0)
                    goto oom;
                t[n++] = (target){r->customer, product, cs_dec_zero()};
            }
            if (p->shared == CS_POOL_EVEN)
                t[k].weight = cs_dec_from_int(1);
            else if (cs_dec_add(t[k].weight, r->amount, &t[k].weight) < 0) {
                free(t);
                return -ERANGE;
            }
        }
    }
    *ret = t;
    *ret_n = n;
    return 0;
oom:
    free(t);
    return -ENOMEM;
}

static int by_target(const void *x, const void *y)
{
    const target *a = x, *b = y;
    int c = strcmp(a->customer, b->customer);
    return c ? c : strcmp(a->product, b->product);
}

static int split_shared(cs_allocate *a, int pool)
{
    const cs_pool *p = &a->rules->pools[pool];
    target *t;
    size_t n;
    int r = targets_of(a, p, &t, &n);
    if (r < 0)
        return r;
    if (n > 1)
        qsort(t, n, sizeof(*t), by_target);
    cs_dec *w = malloc((n + 1) * sizeof(*w)), *out = malloc((n + 1) * sizeof(*out));
    r = w && out ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++)
        w[i] = t[i].weight;
    if (r == 0)
        r = cs_alloc_split(a->shared[pool].cost, w, n, CS_DEC_SCALE, out);
    if (r == -EDOM) /* no one to share with */
        r = add(a, pool, CS_ALLOCATE_UNALLOCATED, "shared", CS_ALLOCATE_NO_USAGE,
                a->shared[pool].cost);
    else
        for (size_t i = 0; r == 0 && i < n; i++)
            r = add(a, pool, t[i].customer, t[i].product, CS_ALLOCATE_SHARED, out[i]);
    free(w);
    free(out);
    free(t);
    return r;
}

static int by_row(const void *x, const void *y)
{
    const cs_allocate_row *a = x, *b = y;
    int c = strcmp(a->pool ? a->pool : "", b->pool ? b->pool : "");
    if (!c)
        c = strcmp(a->customer, b->customer);
    if (!c)
        c = strcmp(a->product, b->product);
    return c ? c : (int)a->kind - (int)b->kind;
}

int cs_allocate_finish(cs_allocate *a)
{
    int r = 0;
    for (size_t p = 0; r == 0 && p < a->rules->npools; p++)
        if (a->rules->pools[p].shared != CS_POOL_DIRECT && a->shared[p].lines > 0)
            r = split_shared(a, (int)p);
    if (r == 0) {
        if (a->nrows > 1)
            qsort(a->rows, a->nrows, sizeof(*a->rows), by_row);
        cs_strmap_clear(&a->index, NULL); /* row numbers moved; no more adds */
    }
    return r;
}

size_t cs_allocate_count(const cs_allocate *a)
{
    return a->nrows;
}

const cs_allocate_row *cs_allocate_row_at(const cs_allocate *a, size_t i)
{
    return &a->rows[i];
}
