/* focus.c - FOCUS units, exact products, categories (see focus.h). */
#include "focus.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

const char *const cs_focus_service_categories[] = {
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
    "Storage", "Web", "Other", NULL};

/* ServiceSubcategory values and their one parent category (FOCUS 1.1 and
 * later); "Other (<category>)" belongs to every category too. */
static const struct { const char *category, *subcategory; } subcategories[] = {
    {"AI and Machine Learning", "AI Platforms"},
    {"AI and Machine Learning", "Bots"},
    {"AI and Machine Learning", "Generative AI"},
    {"AI and Machine Learning", "Machine Learning"},
    {"AI and Machine Learning", "Natural Language Processing"},
    {"Analytics", "Analytics Platforms"},
    {"Analytics", "Business Intelligence"},
    {"Analytics", "Data Processing"},
    {"Analytics", "Search"},
    {"Analytics", "Streaming Analytics"},
    {"Business Applications", "Productivity and Collaboration"},
    {"Compute", "Containers"},
    {"Compute", "End User Computing"},
    {"Compute", "Quantum Compute"},
    {"Compute", "Serverless Compute"},
    {"Compute", "Virtual Machines"},
    {"Databases", "Caching"},
    {"Databases", "Data Warehouses"},
    {"Databases", "Ledger Databases"},
    {"Databases", "NoSQL Databases"},
    {"Databases", "Relational Databases"},
    {"Databases", "Time Series Databases"},
    {"Developer Tools", "Developer Platforms"},
    {"Developer Tools", "Continuous Integration and Deployment"},
    {"Developer Tools", "Development Environments"},
    {"Developer Tools", "Source Code Management"},
    {"Developer Tools", "Quality Assurance"},
    {"Identity", "Identity and Access Management"},
    {"Integration", "API Management"},
    {"Integration", "Messaging"},
    {"Integration", "Workflow Orchestration"},
    {"Internet of Things", "IoT Analytics"},
    {"Internet of Things", "IoT Platforms"},
    {"Management and Governance", "Architecture"},
    {"Management and Governance", "Compliance"},
    {"Management and Governance", "Cost Management"},
    {"Management and Governance", "Data Governance"},
    {"Management and Governance", "Disaster Recovery"},
    {"Management and Governance", "Endpoint Management"},
    {"Management and Governance", "Observability"},
    {"Management and Governance", "Support"},
    {"Media", "Content Creation"},
    {"Media", "Gaming"},
    {"Media", "Media Streaming"},
    {"Media", "Mixed Reality"},
    {"Migration", "Data Migration"},
    {"Migration", "Resource Migration"},
    {"Multicloud", "Multicloud Integration"},
    {"Networking", "Application Networking"},
    {"Networking", "Content Delivery"},
    {"Networking", "Network Connectivity"},
    {"Networking", "Network Infrastructure"},
    {"Networking", "Network Routing"},
    {"Networking", "Network Security"},
    {"Security", "Secret Management"},
    {"Security", "Security Posture Management"},
    {"Security", "Threat Detection and Response"},
    {"Storage", "Backup Storage"},
    {"Storage", "Block Storage"},
    {"Storage", "File Storage"},
    {"Storage", "Object Storage"},
    {"Storage", "Storage Platforms"},
    {"Web", "Application Platforms"},
};

bool cs_focus_subcategory_valid(const char *category, const char *subcategory)
{
    char other[64];
    snprintf(other, sizeof(other), "Other (%s)", category);
    if (strcmp(subcategory, other) == 0)
        return cs_focus_service_category_valid(category);
    for (size_t i = 0; i < sizeof(subcategories) / sizeof(subcategories[0]); i++)
        if (strcmp(subcategories[i].subcategory, subcategory) == 0)
            return strcmp(subcategories[i].category, category) == 0;
    return false;
}

const char *cs_focus_other_subcategory(const char *category)
{
    static const char *const other[] = {
        "Other (AI and Machine Learning)", "Other (Analytics)", "Other (Business Applications)",
        "Other (Compute)", "Other (Databases)", "Other (Developer Tools)", "Other (Multicloud)",
        "Other (Identity)", "Other (Integration)", "Other (Internet of Things)",
        "Other (Management and Governance)", "Other (Media)", "Other (Migration)",
        "Other (Mobile)", "Other (Networking)", "Other (Security)", "Other (Storage)",
        "Other (Web)", "Other (Other)"}; /* in cs_focus_service_categories' order */
    for (size_t i = 0; cs_focus_service_categories[i]; i++)
        if (strcmp(cs_focus_service_categories[i], category) == 0)
            return other[i];
    return NULL;
}

bool cs_focus_service_category_valid(const char *name)
{
    for (size_t i = 0; cs_focus_service_categories[i]; i++)
        if (strcmp(name, cs_focus_service_categories[i]) == 0)
            return true;
    return false;
}

/* ---- units ---------------------------------------------------------------- */

/* Base units FOCUS spells one way: lower-case input, singular, plural. */
static const struct { const char *in, *one, *many; } bases[] = {
    {"b", "B", "B"}, {"byte", "B", "B"}, {"bytes", "B", "B"}, {"bit", "b", "b"},
    {"kb", "KB", "KB"}, {"mb", "MB", "MB"}, {"gb", "GB", "GB"}, {"tb", "TB", "TB"},
    {"pb", "PB", "PB"}, {"kib", "KiB", "KiB"}, {"mib", "MiB", "MiB"}, {"gib", "GiB", "GiB"},
    {"tib", "TiB", "TiB"}, {"pib", "PiB", "PiB"},
    {"year", "Year", "Years"}, {"month", "Month", "Months"}, {"day", "Day", "Days"},
    {"hour", "Hour", "Hours"}, {"minute", "Minute", "Minutes"}, {"second", "Second", "Seconds"},
    {"millisecond", "Millisecond", "Milliseconds"}, {"microsecond", "Microsecond", "Microseconds"},
    {"s", "Second", "Seconds"}, {"sec", "Second", "Seconds"}, {"ms", "Millisecond", "Milliseconds"},
    {"h", "Hour", "Hours"}, {"hr", "Hour", "Hours"}, {"min", "Minute", "Minutes"},
    {"cpu", "CPU", "CPUs"}, {"vcpu", "vCPU", "vCPUs"}, {"gpu", "GPU", "GPUs"},
    {"query", "Query", "Queries"}, {"entry", "Entry", "Entries"},
};

static const char *known_base(const char *low, bool plural)
{
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
        if (strcmp(bases[i].in, low) == 0)
            return plural ? bases[i].many : bases[i].one;
    return NULL;
}

/* Appends base unit s[0..n) in its singular or plural FOCUS form. */
static int put_base(const char *s, size_t n, bool plural, char *buf, size_t size, size_t *used)
{
    char low[64], word[80];
    if (n == 0 || n >= sizeof(low))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    low[n] = '\0';
    const char *w = known_base(low, plural);
    if (!w && n > 1 && low[n - 1] == 's') { /* "hours": "hour" */
        low[n - 1] = '\0';
        w = known_base(low, plural);
        low[n - 1] = w ? '\0' : 's';
    }
    if (!w) { /* a count: capitalised, an s for the plural */
        bool has_s = low[strlen(low) - 1] == 's';
        snprintf(word, sizeof(word), "%c%s%s", toupper((unsigned char)low[0]), low + 1,
                 plural && !has_s ? "s" : "");
        w = word;
    }
    size_t len = strlen(w);
    if (*used + len >= size)
        return -ENOSPC;
    memcpy(buf + *used, w, len + 1);
    *used += len;
    return 0;
}

int cs_focus_unit(const char *unit, char *buf, size_t size)
{
    size_t used = 0;
    const char *p = unit;
    if (size == 0)
        return -ENOSPC;
    buf[0] = '\0';
    while (*p) {
        size_t n = strcspn(p, "-");
        bool last = p[n] == '\0';
        int r = put_base(p, n, last, buf, size, &used);
        if (r < 0)
            return r == -EINVAL ? (int)snprintf(buf, size, "%s", unit) : r; /* odd: as given */
        if (!last) {
            if (used + 1 >= size)
                return -ENOSPC;
            buf[used++] = '-';
            buf[used] = '\0';
        }
        p += n + !last;
    }
    return (int)used;
}

/* ---- exact products --------------------------------------------------------
 * Magnitudes in base 10^9 limbs, least significant first: three factors of
 * at most 10^38 each need 13 limbs. */

#define LIMBS 16
__extension__ typedef unsigned __int128 u128;
#define BASE 1000000000u

static size_t limbs_of(cs_i128 v, uint32_t *out)
{
    u128 m = v < 0 ? (u128)(-(v + 1)) + 1 : (u128)v;
    size_t n = 0;
    do {
        out[n++] = (uint32_t)(m % BASE);
        m /= BASE;
    } while (m);
    return n;
}

static size_t mul_limbs(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out)
{
    uint64_t acc[2 * LIMBS] = {0};
    for (size_t i = 0; i < na; i++) {
        uint64_t carry = 0;
        for (size_t j = 0; j < nb; j++) {
            uint64_t t = acc[i + j] + (uint64_t)a[i] * b[j] + carry;
            acc[i + j] = t % BASE;
            carry = t / BASE;
        }
        for (size_t k = i + nb; carry; k++) {
            uint64_t t = acc[k] + carry;
            acc[k] = t % BASE;
            carry = t / BASE;
        }
    }
    size_t n = na + nb;
    while (n > 1 && acc[n - 1] == 0)
        n--;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint32_t)acc[i];
    return n;
}

int cs_focus_product(cs_dec a, cs_dec b, const cs_dec *c, char *buf, size_t size)
{
    uint32_t x[LIMBS], y[LIMBS], z[2 * LIMBS], w[LIMBS], p[2 * LIMBS];
    size_t nx = limbs_of(a.raw, x), ny = limbs_of(b.raw, y);
    size_t nz = mul_limbs(x, nx, y, ny, z);
    int scale = 2 * CS_DEC_SCALE;
    bool neg = (a.raw < 0) != (b.raw < 0);
    if (c) {
        size_t nw = limbs_of(c->raw, w);
        nz = mul_limbs(z, nz, w, nw, p);
        memcpy(z, p, nz * sizeof(*z));
        scale += CS_DEC_SCALE;
        neg = neg != (c->raw < 0);
    }
    char digits[9 * 2 * LIMBS + 2];
    size_t nd = (size_t)snprintf(digits, sizeof(digits), "%u", z[nz - 1]);
    for (size_t i = nz - 1; i-- > 0;)
        nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%09u", z[i]);
    bool zero = nd == 1 && digits[0] == '0';
    /* integer part and fraction, trailing zeros of the fraction dropped */
    size_t frac = nd > (size_t)scale ? (size_t)scale : nd, whole = nd - frac;
    size_t end = nd;
    while (end > whole && digits[end - 1] == '0')
        end--;
    size_t used = 0;
    char out[9 * 2 * LIMBS + 48];
    if (neg && !zero)
        out[used++] = '-';
    if (whole == 0)
        out[used++] = '0';
    memcpy(out + used, digits, whole);
    used += whole;
    if (end > whole) {
        out[used++] = '.';
        for (size_t i = frac; i < (size_t)scale; i++)
            out[used++] = '0'; /* leading zeros of the fraction */
        memcpy(out + used, digits + whole, end - whole);
        used += end - whole;
    }
    out[used] = '\0';
    if (used >= size)
        return -ENOSPC;
    memcpy(buf, out, used + 1);
    return (int)used;
}
