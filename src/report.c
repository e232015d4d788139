/* report.c - chargeback and FOCUS writers (see report.h and docs/reports.md). */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "array.h"
#include "csv.h"
#include "focus.h"
#include "strmap.h"
#include "timestamp.h"
#include "utf8.h"

#define NCOLS_TABLE 11

#define ROUNDING                                                                              \
    "the total of each currency is rounded once, half-even, to its minor unit; it is handed "  \
    "out to the customers, and each customer's share to its lines, by largest remainder, so "  \
    "lines add up to subtotals and subtotals to the total; billed cost and discount are "       \
    "handed out so, list = billed + discount"

typedef struct total {
    char *customer, *customer_name, *product; /* NULL where not applicable */
    char currency[8];
    cs_dec list, discount, billed, unrounded;
    int64_t events;
} total;

typedef struct totals {
    total **items;
    size_t n, cap;
    cs_strmap index;
} totals;

/* A chargeback line held until its customer's cents are handed out. */
typedef struct line {
    cs_report_row row; /* its strings point into block */
    char *block;
} line;

/* A customer's subtotal in one currency, rounded at the level above. */
typedef struct subtotal {
    cs_dec cost, discount;
} subtotal;

struct cs_report {
    cs_report_format fmt;
    cs_report_meta meta; /* its strings are the copies below */
    char *period, *provider, *issuer;
    totals customers, products, grand;
    size_t nrows, nwritten; /* rows added, lines written */
    char **cells; /* table: NCOLS_TABLE per row */
    size_t ncells, capcells;
    line *lines; /* the current customer's (with a base), or all */
    size_t nlines, caplines;
    cs_strmap base;  /* "customer\x1fcurrency" → subtotal * */
    cs_strmap done;  /* customers whose lines were written */
    bool has_base;
    bool subcent;    /* a line under one unit was shown */
    bool unreconciled; /* a customer's lines did not add up to its base */
    int failed;
};

int cs_report_format_parse(const char *s, cs_report_format *ret)
{
    static const char *const names[] = {"table", "csv", "json", "focus"};
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *ret = (cs_report_format)i;
            return 0;
        }
    return -EINVAL;
}

const char *cs_report_content_type(cs_report_format fmt)
{
    switch (fmt) {
    case CS_REPORT_JSON: return "application/json";
    case CS_REPORT_TABLE: return "text/plain; charset=utf-8";
    default: return "text/csv; charset=utf-8; header=present";
    }
}

const char *cs_report_extension(cs_report_format fmt)
{
    return fmt == CS_REPORT_JSON ? "json" : fmt == CS_REPORT_TABLE ? "txt" : "csv";
}

int cs_report_minor_units(const char *currency)
{
    static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                       "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
                                       "XPF", NULL};
    static const char *const three[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND", NULL};
    for (int i = 0; zero[i]; i++)
        if (strcmp(currency, zero[i]) == 0)
            return 0;
    for (int i = 0; three[i]; i++)
        if (strcmp(currency, three[i]) == 0)
            return 3;
    return 2;
}

/* *ret = a copy of s (NULL stays NULL).  0 or -ENOMEM. */
static int dup_or_null(const char *s, char **ret)
{
    *ret = s ? strdup(s) : NULL;
    return s && !*ret ? -ENOMEM : 0;
}

cs_report *cs_report_new(cs_report_format fmt, const cs_report_meta *meta)
{
    cs_report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->fmt = fmt;
    r->meta = *meta;
    if (dup_or_null(meta->period, &r->period) < 0 ||
        dup_or_null(meta->provider, &r->provider) < 0 ||
        dup_or_null(meta->issuer, &r->issuer) < 0) {
        cs_report_free(r);
        return NULL;
    }
    r->meta.period = r->period;
    r->meta.provider = r->provider;
    r->meta.issuer = r->issuer;
    return r;
}

static void free_total(void *p)
{
    total *t = p;
    free(t->customer);
    free(t->customer_name);
    free(t->product);
    free(t);
}

static void totals_free(totals *t)
{
    cs_strmap_clear(&t->index, NULL);
    for (size_t i = 0; i < t->n; i++)
        free_total(t->items[i]);
    free(t->items);
}

void cs_report_free(cs_report *r)
{
    if (!r)
        return;
    free(r->period);
    free(r->provider);
    free(r->issuer);
    totals_free(&r->customers);
    totals_free(&r->products);
    totals_free(&r->grand);
    for (size_t i = 0; i < r->ncells; i++)
        free(r->cells[i]);
    free(r->cells);
    for (size_t i = 0; i < r->nlines; i++)
        free(r->lines[i].block);
    free(r->lines);
    cs_strmap_clear(&r->base, free);
    cs_strmap_clear(&r->done, NULL);
    free(r);
}

/* Finds or creates the total for key. */
static total *totals_get(totals *t, const char *customer, const char *name, const char *product,
                         const char *currency)
{
    char key[1024];
    snprintf(key, sizeof(key), "%s\x1f%s\x1f%s", customer ? customer : "", product ? product : "",
             currency);
    void **slot = cs_strmap_find(&t->index, key);
    if (slot)
        return *slot;
    total *x = calloc(1, sizeof(*x));
    if (!x || cs_array_reserve(&t->items, &t->cap, t->n + 1, sizeof(*t->items)) < 0 ||
        cs_strmap_put(&t->index, key, x) < 0) {
        free(x);
        return NULL;
    }
    x->customer = customer ? strdup(customer) : NULL;
    x->customer_name = name ? strdup(name) : NULL;
    x->product = product ? strdup(product) : NULL;
    snprintf(x->currency, sizeof(x->currency), "%s", currency);
    t->items[t->n++] = x;
    return x;
}

static int total_add(total *t, cs_dec list, cs_dec discount, cs_dec billed, cs_dec unrounded,
                     int64_t events)
{
    if (!t || cs_dec_add(t->list, list, &t->list) < 0 ||
        cs_dec_add(t->discount, discount, &t->discount) < 0 ||
        cs_dec_add(t->billed, billed, &t->billed) < 0 ||
        cs_dec_add(t->unrounded, unrounded, &t->unrounded) < 0)
        return -ERANGE;
    t->events += events;
    return 0;
}

/* Exact decimal without trailing zeros. */
static void fmt_trim(cs_dec d, char *buf)
{
    int n = cs_dec_format(d, CS_DEC_SCALE, buf, CS_DEC_STRLEN);
    char *dot = strchr(buf, '.');
    if (n <= 0 || !dot)
        return;
    char *end = buf + n - 1;
    while (end > dot && *end == '0')
        *end-- = '\0';
    if (end == dot)
        *dot = '\0';
}

static void fmt_money(cs_dec d, const char *currency, char *buf)
{
    cs_dec_format(d, cs_report_minor_units(currency), buf, CS_DEC_STRLEN);
}

/* The table fits 160 columns (1280 px of an 8 px monospaced font): text
 * columns are cut at these widths, between characters, with a "~"
 * (numbers never are); the CSV and JSON downloads carry every value whole. */
#define NOCUT ((size_t)-1)
static const size_t table_max[NCOLS_TABLE] = {20, 19, 19, NOCUT, 10, NOCUT, 8, NOCUT, NOCUT, NOCUT, 3};

static void table_cell(cs_report *r, const char *s)
{
    if (cs_array_reserve(&r->cells, &r->capcells, r->ncells + 1, sizeof(*r->cells)) < 0) {
        r->failed = 1;
        return;
    }
    cs_buf v = {0};
    cs_buf_put_visible(&v, s ? s : "", "");
    size_t max = table_max[r->ncells % NCOLS_TABLE];
    if (!v.failed && v.len > max) { /* too wide: cut between characters */
        v.len = (size_t)cs_utf8_prefix(v.data, v.len, max - 1);
        cs_buf_append(&v, "~", 1);
    }
    cs_buf_append(&v, "", 1); /* NUL */
    r->cells[r->ncells++] = v.failed ? NULL : v.data;
    if (v.failed) {
        r->failed = 1;
        r->ncells--;
    }
}

static const char *const csv_header[] = {
    "row_type", "customer", "customer_name", "product", "meter", "unit", "quantity",
    "unit_price", "plan", "discount_rate", "list_cost", "discount", "billed_cost", "currency",
    "charge_class", "correction_of", "events", "unrounded_billed_cost", NULL};


static void focus_header(const cs_report *r, cs_buf *out);

void cs_report_begin(cs_report *r, cs_buf *out)
{
    char from[CS_TIMESTAMP_STRLEN], to[CS_TIMESTAMP_STRLEN];
    cs_timestamp_format(r->meta.from_usec, from, sizeof(from));
    cs_timestamp_format(r->meta.to_usec, to, sizeof(to));
    switch (r->fmt) {
    case CS_REPORT_CSV:
    case CS_REPORT_FOCUS:
        if (r->meta.excel)
            cs_buf_puts(out, CS_REPORT_BOM); /* Excel then reads UTF-8, not the ANSI code page */
        if (r->fmt == CS_REPORT_FOCUS) {
            focus_header(r, out);
            break;
        }
        for (int i = 0; csv_header[i]; i++)
            cs_csv_text(out, csv_header[i], i == 0);
        cs_csv_end_row(out);
        break;
    case CS_REPORT_JSON:
        cs_buf_puts(out, "{\"report\":\"chargeback\",\"period\":");
        cs_buf_put_json(out, r->meta.period);
        cs_buf_printf(out, ",\"from\":\"%s\",\"to\":\"%s\",", from, to);
        cs_buf_puts(out, "\"rounding\":\"" ROUNDING "\",\"lines\":[");
        break;
    case CS_REPORT_TABLE: {
        static const char *const h[NCOLS_TABLE] = {"CUSTOMER", "PRODUCT", "METER", "QUANTITY",
                                                   "UNIT", "UNIT PRICE", "PLAN", "LIST",
                                                   "DISCOUNT", "BILLED", "CUR"};
        for (int i = 0; i < NCOLS_TABLE; i++)
            table_cell(r, h[i]);
        break;
    }
    }
}

/* ---- FOCUS ------------------------------------------------------------------
 * Every cell of a row is computed once into focus_cells; each version's
 * column list picks its cells by name.  Numbers are written unquoted. */

enum {
    F_BILLED, F_ACCOUNT_ID, F_ACCOUNT_NAME, F_ACCOUNT_TYPE, F_CURRENCY, F_BP_END, F_BP_START,
    F_CATEGORY, F_CLASS, F_DESCRIPTION, F_FREQUENCY, F_CP_END, F_CP_START, F_CONSUMED_QTY,
    F_CONSUMED_UNIT, F_CONTRACTED_COST, F_CONTRACTED_PRICE, F_EFFECTIVE, F_HOST, F_INVOICE,
    F_ISSUER, F_LIST, F_LIST_PRICE, F_PRICING_CATEGORY, F_PRICING_QTY, F_PRICING_UNIT,
    F_PROVIDER, F_PUBLISHER, F_SERVICE_CATEGORY, F_SERVICE_NAME, F_SERVICE_PROVIDER,
    F_SUBCATEGORY, F_SKU, F_SKU_METER, F_SKU_PRICE, F_SUB_ID, F_SUB_NAME, F_TAGS, F_METER,
    F_PLAN, F_RATE, F_RULE, F_RULES_VERSION, F_EVENTS, F_CORRECTION_OF, F__COUNT
};

typedef struct focus_column {
    const char *name;
    int cell;
    bool number;
} focus_column;

/* FOCUS 1.2, as exported before 1.4 became the default. */
static const focus_column focus12[] = {
    {"BilledCost", F_BILLED, 1}, {"BillingAccountId", F_ACCOUNT_ID, 0},
    {"BillingAccountName", F_ACCOUNT_NAME, 0}, {"BillingCurrency", F_CURRENCY, 0},
    {"BillingPeriodEnd", F_BP_END, 0}, {"BillingPeriodStart", F_BP_START, 0},
    {"ChargeCategory", F_CATEGORY, 0}, {"ChargeClass", F_CLASS, 0},
    {"ChargeDescription", F_DESCRIPTION, 0}, {"ChargeFrequency", F_FREQUENCY, 0},
    {"ChargePeriodEnd", F_CP_END, 0}, {"ChargePeriodStart", F_CP_START, 0},
    {"ConsumedQuantity", F_CONSUMED_QTY, 1}, {"ConsumedUnit", F_CONSUMED_UNIT, 0},
    {"ContractedCost", F_CONTRACTED_COST, 1}, {"ContractedUnitPrice", F_CONTRACTED_PRICE, 1},
    {"EffectiveCost", F_EFFECTIVE, 1}, {"InvoiceIssuerName", F_ISSUER, 0},
    {"ListCost", F_LIST, 1}, {"ListUnitPrice", F_LIST_PRICE, 1},
    {"PricingCategory", F_PRICING_CATEGORY, 0}, {"PricingQuantity", F_PRICING_QTY, 1},
    {"PricingUnit", F_PRICING_UNIT, 0}, {"ProviderName", F_PROVIDER, 0},
    {"PublisherName", F_PUBLISHER, 0}, {"ServiceCategory", F_SERVICE_CATEGORY, 0},
    {"ServiceName", F_SERVICE_NAME, 0}, {"ServiceSubcategory", F_SUBCATEGORY, 0},
    {"SkuId", F_SKU, 0}, {"SkuPriceId", F_SKU_PRICE, 0}, {"SubAccountId", F_SUB_ID, 0},
    {"SubAccountName", F_SUB_NAME, 0}, {"Tags", F_TAGS, 0}, {"x_Meter", F_METER, 0},
    {"x_Plan", F_PLAN, 0}, {"x_DiscountRate", F_RATE, 1}, {"x_RuleId", F_RULE, 0},
    {"x_RulesVersion", F_RULES_VERSION, 0}, {"x_Events", F_EVENTS, 1},
    {"x_CorrectionOfPeriod", F_CORRECTION_OF, 0}, {NULL, 0, 0}};

/* FOCUS 1.4: the providers as ServiceProviderName and HostProviderName
 * (1.3), InvoiceId, BillingAccountType, SkuMeter. */
static const focus_column focus14[] = {
    {"BilledCost", F_BILLED, 1}, {"BillingAccountId", F_ACCOUNT_ID, 0},
    {"BillingAccountName", F_ACCOUNT_NAME, 0}, {"BillingAccountType", F_ACCOUNT_TYPE, 0},
    {"BillingCurrency", F_CURRENCY, 0}, {"BillingPeriodEnd", F_BP_END, 0},
    {"BillingPeriodStart", F_BP_START, 0}, {"ChargeCategory", F_CATEGORY, 0},
    {"ChargeClass", F_CLASS, 0}, {"ChargeDescription", F_DESCRIPTION, 0},
    {"ChargeFrequency", F_FREQUENCY, 0}, {"ChargePeriodEnd", F_CP_END, 0},
    {"ChargePeriodStart", F_CP_START, 0}, {"ConsumedQuantity", F_CONSUMED_QTY, 1},
    {"ConsumedUnit", F_CONSUMED_UNIT, 0}, {"ContractedCost", F_CONTRACTED_COST, 1},
    {"ContractedUnitPrice", F_CONTRACTED_PRICE, 1}, {"EffectiveCost", F_EFFECTIVE, 1},
    {"HostProviderName", F_HOST, 0}, {"InvoiceId", F_INVOICE, 0},
    {"InvoiceIssuerName", F_ISSUER, 0}, {"ListCost", F_LIST, 1},
    {"ListUnitPrice", F_LIST_PRICE, 1}, {"PricingCategory", F_PRICING_CATEGORY, 0},
    {"PricingQuantity", F_PRICING_QTY, 1}, {"PricingUnit", F_PRICING_UNIT, 0},
    {"ServiceCategory", F_SERVICE_CATEGORY, 0}, {"ServiceName", F_SERVICE_NAME, 0},
    {"ServiceProviderName", F_SERVICE_PROVIDER, 0}, {"ServiceSubcategory", F_SUBCATEGORY, 0},
    {"SkuId", F_SKU, 0}, {"SkuMeter", F_SKU_METER, 0}, {"SkuPriceId", F_SKU_PRICE, 0},
    {"SubAccountId", F_SUB_ID, 0}, {"SubAccountName", F_SUB_NAME, 0}, {"Tags", F_TAGS, 0},
    {"x_Plan", F_PLAN, 0}, {"x_DiscountRate", F_RATE, 1}, {"x_RuleId", F_RULE, 0},
    {"x_RulesVersion", F_RULES_VERSION, 0}, {"x_Events", F_EVENTS, 1},
    {"x_CorrectionOfPeriod", F_CORRECTION_OF, 0}, {NULL, 0, 0}};

static const focus_column *focus_columns(const cs_report *r)
{
    return r->meta.focus_version == CS_FOCUS_1_2 ? focus12 : focus14;
}

static void focus_header(const cs_report *r, cs_buf *out)
{
    const focus_column *c = focus_columns(r);
    for (int i = 0; c[i].name; i++)
        cs_csv_text(out, c[i].name, i == 0);
    cs_csv_end_row(out);
}

/* Texts of one row's cells; empty strings are nulls. */
typedef struct focus_cells {
    const char *v[F__COUNT];
    char billed[CS_DEC_STRLEN], list[CS_DEC_STRLEN], qty[CS_DEC_STRLEN], price[CS_DEC_STRLEN];
    char cprice[CS_DEC_STRLEN * 2], ccost[CS_DEC_STRLEN * 3], rate[CS_DEC_STRLEN], events[24];
    char bp_start[CS_TIMESTAMP_STRLEN], bp_end[CS_TIMESTAMP_STRLEN];
    char cp_start[CS_TIMESTAMP_STRLEN], cp_end[CS_TIMESTAMP_STRLEN], desc[1024], unit[128];
    char sku_price[512], invoice[400];
    char *tags;
} focus_cells;

/* The contracted unit price (unit price x (1 - discount rate)) and the
 * contracted cost (that x quantity), exact: FOCUS requires cost = price x
 * quantity on every row. */
static int focus_contracted(const cs_report_row *row, focus_cells *f)
{
    cs_dec one_minus;
    if (cs_dec_sub(cs_dec_from_int(1), row->discount_rate, &one_minus) < 0 ||
        cs_focus_product(row->unit_price, one_minus, NULL, f->cprice, sizeof(f->cprice)) < 0 ||
        cs_focus_product(row->unit_price, one_minus, &row->quantity, f->ccost, sizeof(f->ccost)) < 0)
        return -ERANGE;
    return 0;
}

static void focus_periods(const cs_report_row *row, focus_cells *f)
{
    int y, m;
    cs_timestamp_format(row->billing_period_usec, f->bp_start, sizeof(f->bp_start));
    sscanf(f->bp_start, "%4d-%2d", &y, &m);
    snprintf(f->bp_end, sizeof(f->bp_end), "%04d-%02d-01T00:00:00Z", m == 12 ? y + 1 : y,
             m == 12 ? 1 : m + 1); /* the next month's first instant */
    cs_timestamp_format(row->hour_usec, f->cp_start, sizeof(f->cp_start));
    cs_timestamp_format(row->charge_end_usec ? row->charge_end_usec
                                             : row->hour_usec + CS_USEC_PER_HOUR,
                        f->cp_end, sizeof(f->cp_end));
}

static void focus_values(const cs_report *r, const cs_report_row *row, focus_cells *f);

static int focus_fill(cs_report *r, const cs_report_row *row, focus_cells *f)
{
    memset(f, 0, sizeof(*f));
    fmt_trim(row->cost, f->billed);
    fmt_trim(row->list_cost, f->list);
    fmt_trim(row->quantity, f->qty);
    fmt_trim(row->unit_price, f->price);
    fmt_trim(row->discount_rate, f->rate);
    snprintf(f->events, sizeof(f->events), "%lld", (long long)row->events);
    if (focus_contracted(row, f) < 0)
        return -ERANGE;
    focus_periods(row, f);
    if (cs_focus_unit(row->unit, f->unit, sizeof(f->unit)) < 0)
        snprintf(f->unit, sizeof(f->unit), "%s", row->unit);
    snprintf(f->desc, sizeof(f->desc), "%s %s at %s per %s%s%s", row->product, row->meter,
             f->price, row->unit, row->correction_of ? ", correction for " : "",
             row->correction_of ? row->correction_of : "");
    if (row->description)
        snprintf(f->desc, sizeof(f->desc), "%s", row->description);
    snprintf(f->sku_price, sizeof(f->sku_price), "%s@%s/%s", row->rule_id ? row->rule_id : "",
             row->rules_version ? row->rules_version : "", row->plan ? row->plan : "");
    snprintf(f->invoice, sizeof(f->invoice), "%.7s-%s", f->bp_start, row->customer);
    /* Tags: a JSON object built by jansson, whole (values are valid UTF-8) */
    json_t *tj = json_object();
    if (row->pool) {
        json_object_set_new(tj, "costream/pool", json_string(row->pool));
        json_object_set_new(tj, "costream/allocation", json_string(row->allocation_kind ? row->allocation_kind : ""));
    } else {
        json_object_set_new(tj, "costream/plan", json_string(row->plan ? row->plan : ""));
    }
    if (row->cost_center && *row->cost_center)
        json_object_set_new(tj, "costream/cost_center", json_string(row->cost_center));
    f->tags = json_dumps(tj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(tj);
    if (!f->tags)
        return -ENOMEM;
    focus_values(r, row, f);
    return 0;
}

/* Points every cell of f->v at its text. */
static void focus_values(const cs_report *r, const cs_report_row *row, focus_cells *f)
{
    cs_report_service svc = {"Other", "Other (Other)"};
    if (r->meta.service)
        r->meta.service(r->meta.opaque, row->product, &svc);
    const char **v = f->v;
    v[F_BILLED] = v[F_EFFECTIVE] = f->billed;
    v[F_ACCOUNT_ID] = row->customer;
    v[F_ACCOUNT_NAME] = row->customer_name && *row->customer_name ? row->customer_name : row->customer;
    v[F_ACCOUNT_TYPE] = "Customer";
    v[F_CURRENCY] = row->currency;
    v[F_BP_END] = f->bp_end;
    v[F_BP_START] = f->bp_start;
    v[F_CATEGORY] = "Usage";
    v[F_CLASS] = row->correction_of ? "Correction" : NULL;
    v[F_DESCRIPTION] = f->desc;
    v[F_FREQUENCY] = "Usage-Based";
    v[F_CP_END] = f->cp_end;
    v[F_CP_START] = f->cp_start;
    v[F_CONSUMED_QTY] = v[F_PRICING_QTY] = f->qty;
    v[F_CONSUMED_UNIT] = v[F_PRICING_UNIT] = f->unit;
    v[F_CONTRACTED_COST] = f->ccost;
    v[F_CONTRACTED_PRICE] = f->cprice;
    v[F_HOST] = v[F_PROVIDER] = v[F_PUBLISHER] = v[F_SERVICE_PROVIDER] = r->meta.provider;
    v[F_INVOICE] = f->invoice;
    v[F_ISSUER] = r->meta.issuer;
    v[F_LIST] = f->list;
    v[F_LIST_PRICE] = f->price;
    v[F_PRICING_CATEGORY] = "Standard";
    v[F_SERVICE_CATEGORY] = svc.category;
    v[F_SERVICE_NAME] = row->product;
    v[F_SUBCATEGORY] = svc.subcategory;
    v[F_SKU] = row->rule_id;
    v[F_SKU_METER] = v[F_METER] = row->meter;
    v[F_SKU_PRICE] = f->sku_price;
    v[F_SUB_ID] = v[F_SUB_NAME] = NULL; /* the cost centre is a tag: it has no name of its own */
    v[F_TAGS] = f->tags;
    v[F_PLAN] = row->plan;
    v[F_RATE] = f->rate;
    v[F_RULE] = row->rule_id;
    v[F_RULES_VERSION] = row->rules_version;
    v[F_EVENTS] = f->events;
    v[F_CORRECTION_OF] = row->correction_of;
}

static int add_focus(cs_report *r, const cs_report_row *row, cs_buf *out)
{
    focus_cells f;
    int ret = focus_fill(r, row, &f);
    const focus_column *c = focus_columns(r);
    for (int i = 0; ret == 0 && c[i].name; i++) {
        if (c[i].number)
            cs_csv_number(out, f.v[c[i].cell], i == 0);
        else
            cs_csv_text(out, f.v[c[i].cell], i == 0);
    }
    free(f.tags);
    if (ret < 0)
        return ret;
    cs_csv_end_row(out);
    total *g = totals_get(&r->grand, NULL, NULL, NULL, row->currency);
    return total_add(g, row->list_cost, row->discount, row->cost, row->cost, row->events);
}

static void base_key(char *buf, size_t size, const char *customer, const char *currency)
{
    snprintf(buf, size, "%s\x1f%s", customer, currency);
}

/* Rounds the n customers' exact amounts of one currency (indices idx into
 * items) so that they add up to the currency's total rounded once. */
static int base_currency(cs_report *r, const cs_report_subtotal *items, const size_t *idx, size_t n)
{
    int places = cs_report_minor_units(items[idx[0]].currency), ret = -ENOMEM;
    cs_dec *cost = calloc(n, sizeof(*cost)), *disc = calloc(n, sizeof(*disc));
    cs_dec *rcost = calloc(n, sizeof(*rcost)), *rdisc = calloc(n, sizeof(*rdisc));
    if (!cost || !disc || !rcost || !rdisc)
        goto out;
    for (size_t i = 0; i < n; i++) {
        cost[i] = items[idx[i]].cost;
        disc[i] = items[idx[i]].discount;
    }
    if ((ret = cs_alloc_round(cost, n, places, rcost)) < 0 ||
        (ret = cs_alloc_round(disc, n, places, rdisc)) < 0)
        goto out;
    for (size_t i = 0; i < n && ret == 0; i++) {
        char key[1024];
        subtotal *st = malloc(sizeof(*st));
        base_key(key, sizeof(key), items[idx[i]].customer, items[idx[i]].currency);
        ret = !st ? -ENOMEM : cs_strmap_find(&r->base, key) ? -EINVAL /* listed twice */
                                                             : cs_strmap_put(&r->base, key, st);
        if (ret < 0) {
            free(st);
            break;
        }
        *st = (subtotal){rcost[i], rdisc[i]};
    }
out:
    free(cost);
    free(disc);
    free(rcost);
    free(rdisc);
    return ret;
}

int cs_report_set_base(cs_report *r, const cs_report_subtotal *items, size_t n)
{
    size_t *idx = calloc(n + 1, sizeof(*idx));
    bool *taken = calloc(n + 1, sizeof(*taken));
    int ret = idx && taken ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && ret == 0; i++) {
        if (taken[i])
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++)
            if (!taken[j] && strcmp(items[j].currency, items[i].currency) == 0) {
                taken[j] = true;
                idx[k++] = j;
            }
        ret = base_currency(r, items, idx, k);
    }
    free(idx);
    free(taken);
    r->has_base = ret == 0;
    return ret;
}

/* A copy of row whose strings live in one block. */
static int line_copy(const cs_report_row *row, line *ret)
{
    const char *const src[] = {row->customer, row->customer_name, row->cost_center, row->product,
                               row->meter, row->unit, row->currency, row->plan, row->correction_of};
    const char *copy[sizeof(src) / sizeof(src[0])];
    char *block = cs_strings_pack(src, sizeof(src) / sizeof(src[0]), copy);
    if (!block)
        return -ENOMEM;
    ret->row = *row;
    ret->row.customer = copy[0];
    ret->row.customer_name = copy[1];
    ret->row.cost_center = copy[2];
    ret->row.product = copy[3];
    ret->row.meter = copy[4];
    ret->row.unit = copy[5];
    ret->row.currency = copy[6];
    ret->row.plan = copy[7];
    ret->row.correction_of = copy[8];
    ret->row.rule_id = ret->row.rules_version = NULL;
    ret->block = block;
    return 0;
}

static int write_line(cs_report *r, const cs_report_row *row, cs_dec billed, cs_dec discount,
                      cs_buf *out);

/* The exact sums of one customer's lines in one currency (indices idx). */
static int group_sums(const cs_report *r, const size_t *idx, size_t n, subtotal *ret)
{
    *ret = (subtotal){cs_dec_zero(), cs_dec_zero()};
    for (size_t i = 0; i < n; i++)
        if (cs_dec_add(ret->cost, r->lines[idx[i]].row.cost, &ret->cost) < 0 ||
            cs_dec_add(ret->discount, r->lines[idx[i]].row.discount, &ret->discount) < 0)
            return -ERANGE;
    return 0;
}

/* Hands out one customer's cents in one currency over its lines (indices
 * idx): billed and discount each add up to the customer's subtotal. */
static int write_group(cs_report *r, const size_t *idx, size_t n, cs_buf *out)
{
    const cs_report_row *first = &r->lines[idx[0]].row;
    int places = cs_report_minor_units(first->currency), ret = -ENOMEM;
    char key[1024];
    base_key(key, sizeof(key), first->customer, first->currency);
    void **slot = cs_strmap_find(&r->base, key);
    subtotal exact;
    if ((ret = group_sums(r, idx, n, &exact)) < 0)
        return ret;
    subtotal want = {cs_dec_round(exact.cost, places), cs_dec_round(exact.discount, places)};
    if (slot)
        want = *(subtotal *)*slot;
    else if (r->has_base)
        r->unreconciled = true; /* a customer the base does not know */
    cs_dec *a = calloc(2 * n, sizeof(*a)), *b = calloc(2 * n, sizeof(*b));
    if (!a || !b)
        goto out;
    for (size_t i = 0; i < n; i++) {
        a[i] = r->lines[idx[i]].row.cost;
        a[n + i] = r->lines[idx[i]].row.discount;
    }
    if (cs_alloc_round_to(a, n, places, want.cost, b) < 0 ||
        cs_alloc_round_to(a + n, n, places, want.discount, b + n) < 0) {
        r->unreconciled = true; /* the lines are not what the base summed */
        if ((ret = cs_alloc_round(a, n, places, b)) < 0 ||
            (ret = cs_alloc_round(a + n, n, places, b + n)) < 0)
            goto out;
    }
    ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++)
        ret = write_line(r, &r->lines[idx[i]].row, b[i], b[n + i], out);
out:
    free(a);
    free(b);
    return ret;
}

/* Writes the held lines, customer by customer and currency by currency,
 * in the order they came. */
static int flush_lines(cs_report *r, cs_buf *out)
{
    size_t *idx = calloc(r->nlines + 1, sizeof(*idx));
    bool *taken = calloc(r->nlines + 1, sizeof(*taken));
    int ret = idx && taken ? 0 : -ENOMEM;
    for (size_t i = 0; i < r->nlines && ret == 0; i++) {
        if (taken[i])
            continue;
        const cs_report_row *x = &r->lines[i].row;
        size_t k = 0;
        for (size_t j = i; j < r->nlines; j++) {
            const cs_report_row *y = &r->lines[j].row;
            if (!taken[j] && strcmp(x->customer, y->customer) == 0 &&
                strcmp(x->currency, y->currency) == 0) {
                taken[j] = true;
                idx[k++] = j;
            }
        }
        if (cs_strmap_find(&r->done, x->customer))
            r->unreconciled = true; /* its lines came in two runs: the input was not grouped */
        ret = write_group(r, idx, k, out);
    }
    for (size_t i = 0; i < r->nlines; i++) {
        if (ret == 0 && r->has_base && !cs_strmap_find(&r->done, r->lines[i].row.customer) &&
            cs_strmap_put(&r->done, r->lines[i].row.customer, NULL) < 0)
            ret = -ENOMEM;
        free(r->lines[i].block);
    }
    r->nlines = 0;
    free(idx);
    free(taken);
    return ret;
}

int cs_report_add(cs_report *r, const cs_report_row *row, cs_buf *out)
{
    r->nrows++;
    if (r->fmt == CS_REPORT_FOCUS)
        return add_focus(r, row, out);
    int ret;
    if (r->has_base && r->nlines && strcmp(r->lines[0].row.customer, row->customer) != 0 &&
        (ret = flush_lines(r, out)) < 0)
        return ret;
    if (cs_array_reserve(&r->lines, &r->caplines, r->nlines + 1, sizeof(*r->lines)) < 0 ||
        line_copy(row, &r->lines[r->nlines]) < 0)
        return -ENOMEM;
    r->nlines++;
    return 0;
}

/* One line, its billed cost and discount already rounded. */
static int write_line(cs_report *r, const cs_report_row *row, cs_dec billed, cs_dec discount,
                      cs_buf *out)
{
    cs_dec list;
    if (cs_dec_add(billed, discount, &list) < 0)
        return -ERANGE;
    r->nwritten++;
    total *ct = totals_get(&r->customers, row->customer, row->customer_name, NULL, row->currency);
    total *pt = totals_get(&r->products, NULL, NULL, row->product, row->currency);
    total *gt = totals_get(&r->grand, NULL, NULL, NULL, row->currency);
    if (total_add(ct, list, discount, billed, row->cost, row->events) < 0 ||
        total_add(pt, list, discount, billed, row->cost, row->events) < 0 ||
        total_add(gt, list, discount, billed, row->cost, row->events) < 0)
        return -ERANGE;

    char qty[CS_DEC_STRLEN], price[CS_DEC_STRLEN], rate[CS_DEC_STRLEN], l[CS_DEC_STRLEN];
    char d[CS_DEC_STRLEN], b[CS_DEC_STRLEN], u[CS_DEC_STRLEN], ev[24];
    fmt_trim(row->quantity, qty);
    fmt_trim(row->unit_price, price);
    fmt_trim(row->discount_rate, rate);
    fmt_money(list, row->currency, l);
    fmt_money(discount, row->currency, d);
    fmt_money(billed, row->currency, b);
    cs_dec_format(row->cost, CS_DEC_SCALE, u, sizeof(u));
    snprintf(ev, sizeof(ev), "%lld", (long long)row->events);
    const char *cls = row->correction_of ? "Correction" : NULL;

    switch (r->fmt) {
    case CS_REPORT_CSV:
        cs_csv_text(out, "line", 1);
        cs_csv_text(out, row->customer, 0);
        cs_csv_text(out, row->customer_name, 0);
        cs_csv_text(out, row->product, 0);
        cs_csv_text(out, row->meter, 0);
        cs_csv_text(out, row->unit, 0);
        cs_csv_number(out, qty, 0);
        cs_csv_number(out, price, 0);
        cs_csv_text(out, row->plan, 0);
        cs_csv_number(out, rate, 0);
        cs_csv_number(out, l, 0);
        cs_csv_number(out, d, 0);
        cs_csv_number(out, b, 0);
        cs_csv_text(out, row->currency, 0);
        cs_csv_text(out, cls, 0);
        cs_csv_text(out, row->correction_of, 0);
        cs_csv_number(out, ev, 0);
        cs_csv_number(out, u, 0);
        cs_csv_end_row(out);
        break;
    case CS_REPORT_JSON:
        cs_buf_puts(out, r->nwritten > 1 ? ",{" : "{");
        cs_buf_puts(out, "\"customer\":");
        cs_buf_put_json(out, row->customer);
        cs_buf_puts(out, ",\"customer_name\":");
        cs_buf_put_json(out, row->customer_name);
        cs_buf_puts(out, ",\"product\":");
        cs_buf_put_json(out, row->product);
        cs_buf_puts(out, ",\"meter\":");
        cs_buf_put_json(out, row->meter);
        cs_buf_puts(out, ",\"unit\":");
        cs_buf_put_json(out, row->unit);
        cs_buf_printf(out, ",\"quantity\":%s,\"unit_price\":%s,\"plan\":", qty, price);
        cs_buf_put_json(out, row->plan);
        cs_buf_printf(out, ",\"discount_rate\":%s,\"list_cost\":%s,\"discount\":%s,"
                           "\"billed_cost\":%s,\"currency\":",
                      rate, l, d, b);
        cs_buf_put_json(out, row->currency);
        cs_buf_puts(out, ",\"charge_class\":");
        cs_buf_put_json(out, cls);
        cs_buf_puts(out, ",\"correction_of\":");
        cs_buf_put_json(out, row->correction_of);
        cs_buf_printf(out, ",\"events\":%s,\"unrounded_billed_cost\":%s}", ev, u);
        break;
    case CS_REPORT_TABLE: {
        char plan[160];
        snprintf(plan, sizeof(plan), "%s%s%s", row->plan, row->correction_of ? " corr. " : "",
                 row->correction_of ? row->correction_of : "");
        if (cs_dec_is_zero(billed) && !cs_dec_is_zero(row->cost)) {
            snprintf(b + strlen(b), 2, "*"); /* under one unit: not a silent zero */
            r->subcent = true;
        }
        const char *cells[NCOLS_TABLE] = {row->customer, row->product, row->meter, qty, row->unit,
                                          price, plan, l, d, b, row->currency};
        for (int i = 0; i < NCOLS_TABLE; i++)
            table_cell(r, cells[i]);
        break;
    }
    case CS_REPORT_FOCUS:
        break;
    }
    return 0;
}

static int cmp_product(const void *a, const void *b)
{
    const total *x = *(total *const *)a, *y = *(total *const *)b;
    int c = strcmp(x->product, y->product);
    return c ? c : strcmp(x->currency, y->currency);
}

static void csv_total(cs_buf *out, const char *type, const total *t)
{
    char l[CS_DEC_STRLEN], d[CS_DEC_STRLEN], b[CS_DEC_STRLEN], u[CS_DEC_STRLEN], ev[24];
    fmt_money(t->list, t->currency, l);
    fmt_money(t->discount, t->currency, d);
    fmt_money(t->billed, t->currency, b);
    cs_dec_format(t->unrounded, CS_DEC_SCALE, u, sizeof(u));
    snprintf(ev, sizeof(ev), "%lld", (long long)t->events);
    cs_csv_text(out, type, 1);
    cs_csv_text(out, t->customer, 0);
    cs_csv_text(out, t->customer_name, 0);
    cs_csv_text(out, t->product, 0);
    for (int i = 0; i < 6; i++) /* meter, unit, quantity, unit_price, plan, discount_rate */
        cs_csv_text(out, NULL, 0);
    cs_csv_number(out, l, 0);
    cs_csv_number(out, d, 0);
    cs_csv_number(out, b, 0);
    cs_csv_text(out, t->currency, 0);
    cs_csv_text(out, NULL, 0);
    cs_csv_text(out, NULL, 0);
    cs_csv_number(out, ev, 0);
    cs_csv_number(out, u, 0);
    cs_csv_end_row(out);
}

static void json_total(cs_buf *out, const total *t, int first)
{
    char l[CS_DEC_STRLEN], d[CS_DEC_STRLEN], b[CS_DEC_STRLEN], u[CS_DEC_STRLEN];
    fmt_money(t->list, t->currency, l);
    fmt_money(t->discount, t->currency, d);
    fmt_money(t->billed, t->currency, b);
    cs_dec_format(t->unrounded, CS_DEC_SCALE, u, sizeof(u));
    cs_buf_puts(out, first ? "{" : ",{");
    if (t->customer) {
        cs_buf_puts(out, "\"customer\":");
        cs_buf_put_json(out, t->customer);
        cs_buf_puts(out, ",\"customer_name\":");
        cs_buf_put_json(out, t->customer_name);
        cs_buf_puts(out, ",");
    }
    if (t->product) {
        cs_buf_puts(out, "\"product\":");
        cs_buf_put_json(out, t->product);
        cs_buf_puts(out, ",");
    }
    cs_buf_printf(out, "\"list_cost\":%s,\"discount\":%s,\"billed_cost\":%s,\"currency\":", l, d, b);
    cs_buf_put_json(out, t->currency);
    cs_buf_printf(out, ",\"events\":%lld,\"unrounded_billed_cost\":%s}", (long long)t->events, u);
}

static void table_total(cs_report *r, const char *label, const total *t)
{
    char l[CS_DEC_STRLEN], d[CS_DEC_STRLEN], b[CS_DEC_STRLEN];
    fmt_money(t->list, t->currency, l);
    fmt_money(t->discount, t->currency, d);
    fmt_money(t->billed, t->currency, b);
    const char *cells[NCOLS_TABLE] = {label, t->product ? t->product : "", "", "", "", "", "",
                                      l, d, b, t->currency};
    if (t->customer)
        cells[0] = t->customer;
    for (int i = 0; i < NCOLS_TABLE; i++)
        table_cell(r, cells[i]);
}

/* Writes text as lines of at most width bytes, broken at spaces. */
static void put_wrapped(cs_buf *out, const char *text, size_t width)
{
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > width) {
            n = width;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = strcspn(p, " ");
        }
        cs_buf_append(out, p, n);
        cs_buf_puts(out, "\n");
        p += n;
        while (*p == ' ')
            p++;
    }
}

static void table_print(cs_report *r, cs_buf *out, size_t nrows_with_rules, const size_t *rules)
{
    size_t width[NCOLS_TABLE] = {0};
    size_t rows = r->ncells / NCOLS_TABLE;
    for (size_t i = 0; i < rows; i++)
        for (int c = 0; c < NCOLS_TABLE; c++) {
            size_t w = strlen(r->cells[i * NCOLS_TABLE + (size_t)c]);
            if (w > width[c])
                width[c] = w;
        }
    size_t ri = 0;
    for (size_t i = 0; i < rows; i++) {
        if (ri < nrows_with_rules && rules[ri] == i) {
            for (int c = 0; c < NCOLS_TABLE; c++) {
                for (size_t k = 0; k < width[c]; k++)
                    cs_buf_append(out, "-", 1);
                cs_buf_puts(out, c + 1 < NCOLS_TABLE ? "  " : "\n");
            }
            ri++;
        }
        for (int c = 0; c < NCOLS_TABLE; c++) {
            const char *s = r->cells[i * NCOLS_TABLE + (size_t)c];
            int right = c == 3 || c == 5 || (c >= 7 && c <= 9); /* numbers */
            size_t pad = width[c] - strlen(s);
            if (right)
                for (size_t k = 0; k < pad; k++)
                    cs_buf_append(out, " ", 1);
            cs_buf_puts(out, s);
            if (c + 1 < NCOLS_TABLE && !right)
                for (size_t k = 0; k < pad; k++)
                    cs_buf_append(out, " ", 1);
            cs_buf_puts(out, c + 1 < NCOLS_TABLE ? "  " : "\n");
        }
    }
}

/* Without a base, the base is the held lines themselves. */
static int base_from_lines(cs_report *r)
{
    cs_report_subtotal *items = calloc(r->nlines + 1, sizeof(*items));
    cs_strmap index = {0}; /* "customer\x1fcurrency" → its item's index + 1 */
    size_t n = 0;
    int ret = items ? 0 : -ENOMEM;
    for (size_t i = 0; i < r->nlines && ret == 0; i++) {
        const cs_report_row *x = &r->lines[i].row;
        char key[1024];
        base_key(key, sizeof(key), x->customer, x->currency);
        void **slot = cs_strmap_find(&index, key);
        size_t k = slot ? (size_t)(uintptr_t)*slot - 1 : n;
        if (!slot && cs_strmap_put(&index, key, (void *)(uintptr_t)(n + 1)) < 0) {
            ret = -ENOMEM;
            break;
        }
        if (k == n)
            items[n++] = (cs_report_subtotal){x->customer, x->currency, cs_dec_zero(), cs_dec_zero()};
        if (cs_dec_add(items[k].cost, x->cost, &items[k].cost) < 0 ||
            cs_dec_add(items[k].discount, x->discount, &items[k].discount) < 0)
            ret = -ERANGE;
    }
    if (ret == 0)
        ret = cs_report_set_base(r, items, n);
    cs_strmap_clear(&index, NULL);
    free(items);
    return ret;
}

int cs_report_end(cs_report *r, const cs_report_stored *stored, size_t nstored, cs_buf *out)
{
    int ret = r->has_base || r->nlines == 0 ? 0 : base_from_lines(r);
    if (ret == 0)
        ret = flush_lines(r, out);
    if (ret < 0)
        return ret;
    if (r->unreconciled)
        ret = -EDOM;
    /* reconciliation: unrounded sum of lines == stored total, per currency */
    for (size_t i = 0; i < r->grand.n; i++) {
        const total *g = r->grand.items[i];
        cs_dec want = cs_dec_zero();
        for (size_t k = 0; k < nstored; k++)
            if (strcmp(stored[k].currency, g->currency) == 0)
                want = stored[k].cost;
        if (stored && cs_dec_cmp(want, g->unrounded) != 0)
            ret = -EDOM;
    }
    if (r->products.n > 1)
        qsort(r->products.items, r->products.n, sizeof(total *), cmp_product);
    /* a period without usage still has its totals, at zero, and says so */
    total zero = {0};
    if (nstored > 0)
        snprintf(zero.currency, sizeof(zero.currency), "%s", stored[0].currency);
    int empty = r->grand.n == 0;
    switch (r->fmt) {
    case CS_REPORT_FOCUS:
        break;
    case CS_REPORT_CSV:
        for (size_t i = 0; i < r->customers.n; i++)
            csv_total(out, "customer_total", r->customers.items[i]);
        for (size_t i = 0; i < r->products.n; i++)
            csv_total(out, "product_total", r->products.items[i]);
        for (size_t i = 0; i < r->grand.n; i++)
            csv_total(out, "grand_total", r->grand.items[i]);
        if (empty)
            csv_total(out, "grand_total", &zero);
        break;
    case CS_REPORT_JSON:
        cs_buf_puts(out, "],\"customer_totals\":[");
        for (size_t i = 0; i < r->customers.n; i++)
            json_total(out, r->customers.items[i], i == 0);
        cs_buf_puts(out, "],\"product_totals\":[");
        for (size_t i = 0; i < r->products.n; i++)
            json_total(out, r->products.items[i], i == 0);
        cs_buf_puts(out, "],\"totals\":[");
        for (size_t i = 0; i < r->grand.n; i++)
            json_total(out, r->grand.items[i], i == 0);
        if (empty)
            json_total(out, &zero, 1);
        cs_buf_printf(out, "],\"reconciled\":%s,\"usage\":%s}\n", ret == 0 ? "true" : "false",
                      empty ? "false" : "true");
        break;
    case CS_REPORT_TABLE: {
        size_t rules[3], nr = 0;
        rules[nr++] = r->ncells / NCOLS_TABLE;
        for (size_t i = 0; i < r->customers.n; i++)
            table_total(r, "", r->customers.items[i]);
        rules[nr++] = r->ncells / NCOLS_TABLE;
        for (size_t i = 0; i < r->products.n; i++)
            table_total(r, "all customers", r->products.items[i]);
        rules[nr++] = r->ncells / NCOLS_TABLE;
        for (size_t i = 0; i < r->grand.n; i++)
            table_total(r, "TOTAL", r->grand.items[i]);
        if (empty)
            table_total(r, "TOTAL", &zero);
        cs_buf_printf(out, "Chargeback for %s\n\n", r->meta.period);
        if (empty)
            cs_buf_printf(out, "No usage in %s.\n\n", r->meta.period);
        table_print(r, out, nr, rules);
        for (size_t i = 0; i < r->grand.n; i++) {
            char u[CS_DEC_STRLEN];
            cs_dec_format(r->grand.items[i]->unrounded, CS_DEC_SCALE, u, sizeof(u));
            cs_buf_printf(out, "\nUnrounded total %s %s%s", u, r->grand.items[i]->currency,
                          ret == 0 && stored ? " (equals the stored total)" : "");
        }
        if (r->subcent)
            cs_buf_puts(out, "\n* under one minor unit: the line is shown, its exact amount is in"
                             " the CSV and JSON downloads.");
        cs_buf_puts(out, "\n");
        put_wrapped(out, "Rounding: " ROUNDING ".", 100);
        break;
    }
    }
    if (r->failed)
        out->failed = true;
    return ret;
}
