/* allocate.h - allocating the infrastructure bill to customers and
 * products (pure; docs/spend.md).
 *
 * One allocation covers the bill lines of one billing period.  Each line
 * goes to the first pool of the rules (cs_rules.pools) that selects it
 * (cs_allocate_pool_of); a line no pool selects is "unpooled" and
 * unallocated.  A direct pool's line is split over its drivers by their
 * weights, and each driver's part over the customers by their metered
 * quantity of the driver's product and meter within the line's charge
 * period (usage hours in [start, end)); a driver with no usage there leaves
 * its part unallocated.  A driver with a capacity (per hour) also weighs
 * the capacity nobody used in the line's period, which goes to the
 * customer "idle" (kind idle): with no usage at all, the whole part is
 * idle.  Usage above the capacity leaves nothing idle.  Shared pools are split once all lines are in
 * (cs_allocate_finish): in proportion to the cost the direct pools
 * allocated to each customer and product, evenly over the customers they
 * allocated to, or by the pool's fixed weights.
 *
 * Every split is cs_alloc_split at 12 decimals (largest remainder, ties to
 * the lower index, customers in byte order), so per pool the allocated,
 * shared and unallocated amounts add up to the pool's cost to the last
 * digit, and the same bill and usage always give the same rows.
 *
 * The caller owns the rules and usage for the allocation's lifetime.  Not
 * thread-safe per allocation.
 */
#ifndef CS_ALLOCATE_H
#define CS_ALLOCATE_H

#include <stddef.h>
#include <stdint.h>

#include "decimal.h"
#include "rules.h"

#define CS_ALLOCATE_UNPOOLED (-1)
#define CS_ALLOCATE_UNALLOCATED "unallocated" /* the customer of unallocated cost */
#define CS_ALLOCATE_IDLE_CUSTOMER "idle"     /* the customer of idle capacity */

/* What of a bill line a pool can select on (FOCUS columns; "" when
 * absent) and its tags as a JSON object text. */
typedef struct cs_allocate_fields {
    const char *service_name, *service_category, *resource_id, *resource_name, *region;
    const char *provider, *charge_category, *charge_class, *account, *sub_account;
    const char *tags_json;
} cs_allocate_fields;

/* Metered usage: quantity of product/meter for customer in one hour.  The
 * array is sorted by product, meter, hour (then anything). */
typedef struct cs_allocate_usage {
    const char *product, *meter, *customer;
    int64_t hour_usec;
    cs_dec quantity;
} cs_allocate_usage;

typedef enum cs_allocate_kind {
    CS_ALLOCATE_DIRECT,      /* by usage */
    CS_ALLOCATE_SHARED,      /* a shared pool's policy */
    CS_ALLOCATE_NO_USAGE,    /* unallocated: no driver usage in the charge period */
    CS_ALLOCATE_NO_POOL,     /* unallocated: no pool selects the line */
    CS_ALLOCATE_IDLE,        /* capacity nobody used (customer "idle") */
    CS_ALLOCATE__COUNT
} cs_allocate_kind;

/* One result row: amount of pool (NULL for unpooled) to customer and
 * product; lines counts the bill lines that contributed. */
typedef struct cs_allocate_row {
    const char *pool, *customer, *product;
    cs_allocate_kind kind;
    cs_dec amount;
    long lines;
} cs_allocate_row;

typedef struct cs_allocate cs_allocate;

/* The index of the first pool that selects the line, or
 * CS_ALLOCATE_UNPOOLED.  -EINVAL when tags_json is not a JSON object. */
int cs_allocate_pool_of(const cs_rules *rules, const cs_allocate_fields *f);

cs_allocate *cs_allocate_new(const cs_rules *rules, const cs_allocate_usage *usage, size_t nusage);
void cs_allocate_free(cs_allocate *a); /* NULL allowed */

/* Adds one bill line of cost over [start, end) in pool (or
 * CS_ALLOCATE_UNPOOLED).  0, -ERANGE or -ENOMEM. */
int cs_allocate_line(cs_allocate *a, int pool, int64_t start_usec, int64_t end_usec, cs_dec cost);

/* The part of the last line cs_allocate_line() added that went to idle
 * capacity (zero if none): the efficiency view keeps it per resource. */
cs_dec cs_allocate_line_idle(const cs_allocate *a);

/* Splits the shared pools; then the rows are final.  0, -ERANGE, -ENOMEM. */
int cs_allocate_finish(cs_allocate *a);

/* Result rows, sorted by pool, customer, product, kind. */
size_t cs_allocate_count(const cs_allocate *a);
const cs_allocate_row *cs_allocate_row_at(const cs_allocate *a, size_t i);

const char *cs_allocate_kind_name(cs_allocate_kind k);

#endif
