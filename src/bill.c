/* bill.c - FOCUS bill reader (see bill.h). */
#include "bill.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "timestamp.h"
#include "utf8.h"

/* The FOCUS columns read here, by role. */
enum {
    C_BILLED, C_CURRENCY, C_CATEGORY, C_START, C_END, C_SERVICE, /* mandatory */
    C_EFFECTIVE, C_LIST, C_PERIOD, C_CLASS, C_SERVICE_CATEGORY, C_RESOURCE_ID, C_RESOURCE_NAME,
    C_REGION, C_PROVIDER, C_ACCOUNT, C_SUB_ACCOUNT, C_TAGS, C__COUNT
};
#define C_MANDATORY 6

static const char *const column_names[C__COUNT] = {
    "BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd",
    "ServiceName", "EffectiveCost", "ListCost", "BillingPeriodStart", "ChargeClass",
    "ServiceCategory", "ResourceId", "ResourceName", "RegionId", "ProviderName",
    "BillingAccountId", "SubAccountId", "Tags"};

static const char *const categories[] = {"Usage", "Purchase", "Tax", "Credit", "Adjustment"};

/* Active ISO 4217 codes (2024), space-separated. */
static const char currencies[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR "
    "KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR "
    "SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS "
    "UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL";

int cs_bill_currency_known(const char *code)
{
    if (strlen(code) != 3)
        return 0;
    for (size_t i = 0; i + 3 <= sizeof(currencies) - 1; i += 4) /* "ABC " ... "XYZ" */
        if (memcmp(currencies + i, code, 3) == 0)
            return 1;
    return 0;
}

struct cs_bill {
    cs_csv_reader csv;
    int col[C__COUNT];   /* index of each role's column, -1 when absent */
    char **header;       /* every column name, for columns_json */
    size_t nheader;
    char *tags, *columns; /* the current line's JSON texts */
};

static void set_err(cs_bill_error *e, size_t line, const char *column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(cs_bill_error *e, size_t line, const char *column, const char *fmt, ...)
{
    va_list ap;
    char raw[256];
    e->line = line;
    cs_utf8_escape(e->column, sizeof(e->column), column, strlen(column), NULL);
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    cs_utf8_escape(e->reason, sizeof(e->reason), raw, strlen(raw), NULL);
}

void cs_bill_raw(const cs_bill *b, const char **ret, size_t *ret_len)
{
    *ret = b->csv.rec;
    *ret_len = b->csv.rec ? b->csv.rec_len : 0;
}

void cs_bill_free(cs_bill *b)
{
    if (!b)
        return;
    cs_csv_reader_free(&b->csv);
    for (size_t i = 0; i < b->nheader; i++)
        free(b->header[i]);
    free(b->header);
    free(b->tags);
    free(b->columns);
    free(b);
}

int cs_bill_open(const char *data, size_t len, cs_bill **ret, cs_bill_error *err)
{
    const char *const *f;
    size_t n, line;
    cs_bill *b = calloc(1, sizeof(*b));
    *ret = NULL;
    if (!b)
        return -ENOMEM;
    cs_csv_reader_init(&b->csv, data, len);
    int r = cs_csv_read(&b->csv, &f, &n, &line);
    if (r <= 0) {
        set_err(err, 1, "", r == 0 ? "the file is empty: a FOCUS header row is expected"
                                   : "the header row is not valid CSV");
        cs_bill_free(b);
        return r == -ENOMEM ? r : -EINVAL;
    }
    for (int c = 0; c < C__COUNT; c++)
        b->col[c] = -1;
    for (size_t i = 0; i < n; i++)
        if (!cs_utf8_valid(f[i], strlen(f[i]))) {
            set_err(err, 1, "", "column %zu of the header is not valid UTF-8", i + 1);
            cs_bill_free(b);
            return -EINVAL;
        }
    b->header = calloc(n, sizeof(*b->header));
    for (size_t i = 0; b->header && i < n; i++) {
        if (!(b->header[b->nheader++] = strdup(f[i]))) {
            cs_bill_free(b);
            return -ENOMEM;
        }
        for (int c = 0; c < C__COUNT; c++)
            if (strcmp(f[i], column_names[c]) == 0 && b->col[c] < 0)
                b->col[c] = (int)i;
    }
    if (!b->header) {
        cs_bill_free(b);
        return -ENOMEM;
    }
    char missing[200] = "";
    for (int c = 0; c < C_MANDATORY; c++)
        if (b->col[c] < 0)
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
                     missing[0] ? ", " : "", column_names[c]);
    if (missing[0]) {
        set_err(err, 1, "", "missing mandatory FOCUS column%s: %s", strchr(missing, ',') ? "s" : "",
                missing);
        cs_bill_free(b);
        return -EINVAL;
    }
    *ret = b;
    return 0;
}

/* A cost: a decimal, optionally with an exponent ("1.5E-05"), rounded half
 * to even at 12 places.  0 or -EINVAL. */
static int parse_cost(const char *s, cs_dec *ret)
{
    char buf[160];
    const char *e = strpbrk(s, "eE");
    if (!e)
        return cs_dec_parse_round(s, strlen(s), ret) < 0 ? -EINVAL : 0;
    char *end;
    long exp = strtol(e + 1, &end, 10);
    size_t mlen = (size_t)(e - s);
    if (*end || end == e + 1 || exp < -40 || exp > 40 || mlen == 0 || mlen > 60)
        return -EINVAL;
    /* move the decimal point of the mantissa by exp places, in text */
    char digits[64];
    size_t nd = 0, point = 0;
    int neg = 0, seen_point = 0;
    for (size_t i = 0; i < mlen; i++) {
        char c = s[i];
        if (i == 0 && (c == '-' || c == '+')) {
            neg = c == '-';
        } else if (c == '.' && !seen_point) {
            seen_point = 1;
        } else if (c >= '0' && c <= '9') {
            digits[nd++] = c;
            point += !seen_point;
        } else {
            return -EINVAL;
        }
    }
    if (nd == 0)
        return -EINVAL;
    long p = (long)point + exp; /* digits before the point */
    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    if (p <= 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (long i = 0; i < -p; i++)
            buf[o++] = '0';
        memcpy(buf + o, digits, nd);
        o += nd;
    } else {
        for (long i = 0; i < p; i++)
            buf[o++] = (size_t)i < nd ? digits[i] : '0';
        if ((size_t)p < nd) {
            buf[o++] = '.';
            memcpy(buf + o, digits + p, nd - (size_t)p);
            o += nd - (size_t)p;
        }
    }
    buf[o] = '\0';
    return cs_dec_parse_round(buf, o, ret) < 0 ? -EINVAL : 0;
}

static const char *field(const cs_bill *b, const char *const *f, size_t n, int c)
{
    return b->col[c] >= 0 && (size_t)b->col[c] < n ? f[b->col[c]] : "";
}

/* Tags: a JSON object of strings, stored compact with sorted keys. */
static int read_tags(cs_bill *b, const char *text, size_t line, cs_bill_error *err)
{
    free(b->tags);
    b->tags = NULL;
    json_error_t je;
    json_t *t = text[0] ? json_loads(text, JSON_REJECT_DUPLICATES, &je) : json_object();
    if (!t || !json_is_object(t)) {
        set_err(err, line, "Tags", "not a JSON object%s%s", t ? "" : ": ", t ? "" : je.text);
        json_decref(t);
        return -EINVAL;
    }
    b->tags = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(t);
    return b->tags ? 0 : -ENOMEM;
}

static int read_columns(cs_bill *b, const char *const *f, size_t n)
{
    free(b->columns);
    json_t *o = json_object();
    for (size_t i = 0; o && i < n && i < b->nheader; i++)
        if (json_object_set_new(o, b->header[i], json_string(f[i])) < 0) {
            json_decref(o);
            o = NULL;
        }
    b->columns = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    return b->columns ? 0 : -ENOMEM;
}

static int read_time(const char *s, const char *column, size_t line, int64_t *ret,
                     cs_bill_error *err)
{
    if (cs_timestamp_parse(s, strlen(s), ret) < 0) {
        set_err(err, line, column, "\"%.40s\" is not an RFC 3339 time such as 2026-11-01T00:00:00Z",
                s);
        return -EINVAL;
    }
    return 0;
}

static int64_t month_of(int64_t usec)
{
    char t[CS_TIMESTAMP_STRLEN], m[8];
    int64_t from, to;
    cs_timestamp_format(usec, t, sizeof(t));
    memcpy(m, t, 7);
    m[7] = '\0';
    return cs_timestamp_month(m, &from, &to) < 0 ? usec : from;
}

/* Validates one line's fields into *l. */
static int read_line(cs_bill *b, const char *const *f, size_t n, size_t line, cs_bill_line *l,
                     cs_bill_error *err)
{
    static const int costs[3] = {C_BILLED, C_EFFECTIVE, C_LIST};
    cs_dec *dst[3] = {&l->billed, &l->effective, &l->list};
    *l = (cs_bill_line){.line = line};
    for (int i = 0; i < 3; i++) {
        const char *v = field(b, f, n, costs[i]);
        if (i > 0 && !v[0]) {
            *dst[i] = l->billed; /* EffectiveCost and ListCost default to BilledCost */
            continue;
        }
        if (parse_cost(v, dst[i]) < 0) {
            set_err(err, line, column_names[costs[i]], "\"%.40s\" is not a decimal amount", v);
            return -EINVAL;
        }
    }
    l->currency = field(b, f, n, C_CURRENCY);
    if (!cs_bill_currency_known(l->currency)) {
        set_err(err, line, "BillingCurrency", "\"%.20s\" is not an ISO 4217 currency code",
                l->currency);
        return -EINVAL;
    }
    l->category = field(b, f, n, C_CATEGORY);
    size_t k = 0;
    while (k < sizeof(categories) / sizeof(categories[0]) && strcmp(categories[k], l->category))
        k++;
    if (k == sizeof(categories) / sizeof(categories[0])) {
        set_err(err, line, "ChargeCategory",
                "\"%.40s\" is not a FOCUS charge category (Usage, Purchase, Tax, Credit, Adjustment)",
                l->category);
        return -EINVAL;
    }
    if (read_time(field(b, f, n, C_START), "ChargePeriodStart", line, &l->start_usec, err) < 0 ||
        read_time(field(b, f, n, C_END), "ChargePeriodEnd", line, &l->end_usec, err) < 0)
        return -EINVAL;
    if (l->end_usec <= l->start_usec) {
        set_err(err, line, "ChargePeriodEnd", "the charge period ends before it starts");
        return -EINVAL;
    }
    int64_t period = l->start_usec;
    const char *ps = field(b, f, n, C_PERIOD);
    if (ps[0] && read_time(ps, "BillingPeriodStart", line, &period, err) < 0)
        return -EINVAL;
    l->period_usec = month_of(period);
    l->service = field(b, f, n, C_SERVICE);
    if (!l->service[0]) {
        set_err(err, line, "ServiceName", "empty");
        return -EINVAL;
    }
    l->charge_class = field(b, f, n, C_CLASS);
    l->service_category = field(b, f, n, C_SERVICE_CATEGORY);
    l->resource_id = field(b, f, n, C_RESOURCE_ID);
    l->resource_name = field(b, f, n, C_RESOURCE_NAME);
    l->region = field(b, f, n, C_REGION);
    l->provider = field(b, f, n, C_PROVIDER);
    l->account = field(b, f, n, C_ACCOUNT);
    l->sub_account = field(b, f, n, C_SUB_ACCOUNT);
    int r = read_tags(b, field(b, f, n, C_TAGS), line, err);
    if (r == 0)
        r = read_columns(b, f, n);
    l->tags_json = b->tags;
    l->columns_json = b->columns;
    return r;
}

int cs_bill_next(cs_bill *b, cs_bill_line *ret, cs_bill_error *err)
{
    const char *const *f;
    size_t n, line;
    for (;;) {
        int r = cs_csv_read(&b->csv, &f, &n, &line);
        if (r == -EINVAL) {
            set_err(err, line, "", "not valid CSV (a quote out of place, or a NUL byte)");
            return r;
        }
        if (r <= 0)
            return r;
        if (n == 1 && !f[0][0])
            continue; /* a blank line */
        for (size_t i = 0; i < n; i++)
            if (!cs_utf8_valid(f[i], strlen(f[i]))) {
                set_err(err, line, i < b->nheader ? b->header[i] : "", "not valid UTF-8");
                return -EINVAL;
            }
        if (n != b->nheader) {
            set_err(err, line, "", "%zu fields where the header has %zu", n, b->nheader);
            return -EINVAL;
        }
        r = read_line(b, f, n, line, ret, err);
        return r < 0 ? r : 1;
    }
}
