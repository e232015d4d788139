/* rules.h - versioned pricing rules (docs/rules.md, schemas/rules.schema.json).
 *
 * A rules file names a version and a currency, the plan tiers with their
 * default discounts, and an ordered list of rules.  A rule prices one
 * product/meter pair at a unit price, optionally only for events whose labels
 * match (=, !=, =~, !~; regexes are POSIX extended and fully anchored, as in
 * Prometheus) and only for event times in [effective_from, effective_until).
 * The first rule in file order that matches an event prices it.  A rule
 * with a "metric" object prices infrastructure metric samples instead
 * (counters by their increase, gauges by value x time; docs/metrics-streams.md).
 *
 * Loading validates everything and reports every problem as
 * "file:line:column: message", positions taken from the JSON text.  A loaded
 * cs_rules is immutable and may be read from several threads; it is freed
 * with cs_rules_free() once no aggregate refers to its strings.
 */
#ifndef CS_RULES_H
#define CS_RULES_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decimal.h"

typedef enum cs_match_op { CS_MATCH_EQ, CS_MATCH_NE, CS_MATCH_RE, CS_MATCH_NRE } cs_match_op;

typedef struct cs_matcher {
    char *label;
    char *value;
    cs_match_op op;
    regex_t re; /* compiled when op is =~ or !~ */
} cs_matcher;

typedef struct cs_plan_discount {
    char *plan;
    cs_dec discount; /* fraction in [0, 1]: 0.25 = 25 % off */
} cs_plan_discount;

typedef enum cs_metric_kind { CS_METRIC_KIND_NONE = 0, CS_METRIC_KIND_COUNTER, CS_METRIC_KIND_GAUGE } cs_metric_kind;

typedef struct cs_rule {
    char *id;
    char *product;
    char *meter;
    char *unit;
    char *description;
    cs_dec unit_price;
    int64_t from_usec;  /* inclusive; INT64_MIN when open */
    int64_t until_usec; /* exclusive; INT64_MAX when open */
    cs_matcher *matchers;
    size_t nmatchers;
    cs_plan_discount *discounts; /* overrides of the plan defaults */
    size_t ndiscounts;
    /* Metric rules price infrastructure samples instead of usage events. */
    cs_metric_kind metric_kind;  /* NONE for usage-event rules */
    char **metric_names;         /* Prometheus metric names it prices */
    size_t nmetric_names;
    int64_t unit_divisor;        /* raw units (x seconds for gauges) per priced unit */
    int64_t max_gap_usec;        /* gauges: a longer gap between samples is not charged */
} cs_rule;

/* Allocation of the infrastructure bill (docs/spend.md): a cost pool
 * selects bill lines by FOCUS columns and tags; a direct pool splits each
 * line over customers and products by metered usage (drivers, weighted);
 * a shared pool splits its cost after the direct ones, by a policy. */
typedef struct cs_pool_select {
    char *column; /* a FOCUS column (ServiceName, ...), or a tag key */
    char *value;
    bool tag;     /* column names a tag (written "Tags.key") */
} cs_pool_select;

typedef struct cs_pool_driver {
    char *product, *meter;
    cs_dec weight; /* the drivers of a pool weigh 1 in all */
    bool has_capacity;
    cs_dec capacity_per_hour; /* the meter's quantity the pool can serve in an hour */
} cs_pool_driver;

typedef enum cs_pool_shared {
    CS_POOL_DIRECT = 0,       /* split by its drivers */
    CS_POOL_PROPORTIONAL,     /* in proportion to the cost the direct pools allocated */
    CS_POOL_EVEN,             /* evenly over the customers the direct pools allocated to */
    CS_POOL_WEIGHTS,          /* by fixed weights per customer */
} cs_pool_shared;

typedef struct cs_pool {
    char *id;
    cs_pool_select *select;
    size_t nselect;
    cs_pool_driver *drivers;
    size_t ndrivers;
    cs_pool_shared shared;
    cs_plan_discount *weights; /* CS_POOL_WEIGHTS: customer -> weight */
    size_t nweights;
} cs_pool;

/* What FOCUS says about a product (the rules' "products" section). */
typedef struct cs_product_meta {
    char *name;
    char *service_category;    /* one of FOCUS's ServiceCategory values */
    char *service_subcategory; /* FOCUS ServiceSubcategory, e.g. "Containers" */
} cs_product_meta;

typedef struct cs_rules {
    char *version;
    char *currency;
    char *source; /* file name it came from */
    cs_plan_discount *plans;
    size_t nplans;
    cs_rule *rules;
    size_t nrules;
    cs_pool *pools; /* in file order: the first that selects a bill line takes it */
    size_t npools;
    cs_product_meta *products;
    size_t nproducts;
    const char **metric_names; /* every rule's metric names, sorted, once each (borrowed) */
    size_t nmetric_names;
} cs_rules;

/* A list of formatted error messages. */
typedef struct cs_errlist {
    char **items;
    size_t n, cap;
} cs_errlist;

/* The "products" entry of product, or NULL. */
const cs_product_meta *cs_rules_product(const cs_rules *rs, const char *product);

void cs_errlist_free(cs_errlist *l); /* frees the items; l itself is the caller's */
/* Appends a message; one that is not valid UTF-8 (it quotes the input) is
 * stored escaped (utf8.h). */
void cs_errlist_addf(cs_errlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses rules from text; name is used in messages.  Returns 0 and a new
 * cs_rules owned by the caller, or -EINVAL with every problem appended to
 * errs (which the caller frees), or -ENOMEM. */
int cs_rules_parse(const char *text, size_t len, const char *name, cs_rules **ret,
                   cs_errlist *errs);

/* Reads path and parses it.  -errno (and one message in errs) when the file
 * cannot be read. */
int cs_rules_load(const char *path, cs_rules **ret, cs_errlist *errs);

/* Frees rules; NULL is allowed. */
void cs_rules_free(cs_rules *rules);

/* The default discount of plan (zero for an unknown plan). */
cs_dec cs_rules_plan_discount(const cs_rules *rules, const char *plan);

#endif
