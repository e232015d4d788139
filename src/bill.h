/* bill.h - reading an infrastructure bill in the FinOps FOCUS format (pure).
 *
 * A bill is a CSV file with a header row of FOCUS column names (versions
 * 1.0 to 1.4 name the columns used here the same way).  Columns are found by
 * name, in any order; unknown and provider-specific columns (x_...) are kept.
 * Mandatory: BilledCost, BillingCurrency, ChargeCategory, ChargePeriodStart,
 * ChargePeriodEnd, ServiceName.  Used when present: EffectiveCost, ListCost,
 * BillingPeriodStart, ChargeClass, ServiceCategory, ResourceId, ResourceName,
 * RegionId, ProviderName, BillingAccountId, SubAccountId, Tags.  The same
 * columns describe costs that are not in a cloud bill (a support contract, a
 * licence) in a small hand-written file (docs/spend.md).
 *
 * Each line is validated on its own: costs are decimals (a sign, an
 * exponent as some exports write them, more than 12 decimals rounded half to
 * even); the currency an ISO 4217 code; ChargeCategory one of FOCUS's
 * (Usage, Purchase, Tax, Credit, Adjustment); periods RFC 3339 UTC with the
 * end after the start; Tags a JSON object (stored with sorted keys).  A line
 * that fails gets its line number, the column and a reason.  The billing
 * period of a line is the month of BillingPeriodStart, or of
 * ChargePeriodStart when the bill has no BillingPeriodStart.
 *
 * Strings in a cs_bill_line point into the reader and are valid until the
 * next cs_bill_next(); columns_json and tags_json likewise.  Not
 * thread-safe per reader.
 */
#ifndef CS_BILL_H
#define CS_BILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decimal.h"

typedef struct cs_bill cs_bill;

typedef struct cs_bill_error {
    size_t line;      /* 1-based line of the file (0: the file as a whole) */
    char column[64];  /* FOCUS column, or "" */
    char reason[256];
} cs_bill_error;

typedef struct cs_bill_line {
    size_t line;
    int64_t start_usec, end_usec; /* ChargePeriodStart, ChargePeriodEnd */
    int64_t period_usec;          /* billing period: start of its month (UTC) */
    cs_dec billed, effective, list; /* effective and list default to billed */
    const char *currency, *category, *charge_class, *service, *service_category;
    const char *resource_id, *resource_name, *region, *provider, *account, *sub_account;
    const char *tags_json;    /* JSON object, sorted keys, compact; "{}" when none */
    const char *columns_json; /* every column of the line: {"name": "value", ...} */
} cs_bill_line;

/* Reads the header of the bill in data[0..len) (the caller keeps the data
 * alive while reading).  0; -EINVAL when the header is unreadable or lacks
 * mandatory columns (err names them); -ENOMEM. */
int cs_bill_open(const char *data, size_t len, cs_bill **ret, cs_bill_error *err);

/* The next line: 1 (*ret filled), 0 at the end, -EINVAL for a line that
 * does not read (err says where and why; the next call goes on with the
 * following line), -ENOMEM. */
int cs_bill_next(cs_bill *b, cs_bill_line *ret, cs_bill_error *err);

/* The bytes of the line the last cs_bill_next() read, good or bad (valid
 * while the bill's data is). */
void cs_bill_raw(const cs_bill *b, const char **ret, size_t *ret_len);

void cs_bill_free(cs_bill *b); /* NULL allowed */

/* 1 if code is an active ISO 4217 currency code, else 0. */
int cs_bill_currency_known(const char *code);

#endif
