/* focus.h - what the FOCUS export needs beyond the report writer (pure).
 *
 * FOCUS (the FinOps Foundation's cost and usage format) fixes how units are
 * spelled and how a few columns relate:
 *
 *   - units follow its UnitFormat: data sizes abbreviated (GiB, GB, B),
 *     time units from its list, other base units capitalised, a compound
 *     unit as <singular>-<plural> ("GiB-Hours", "CPU-Seconds"), a simple
 *     one plural ("Tokens", "Requests");
 *   - ContractedCost = ContractedUnitPrice x PricingQuantity exactly: a
 *     discounted unit price such as 0.000000000078 x 0.9 = 0.0000000000702
 *     has more decimals than costream's 12, so these products are printed
 *     from exact integer arithmetic, never rounded;
 *   - ServiceCategory takes one of its allowed values.
 *
 * Thread-safe; no allocation.
 */
#ifndef CS_FOCUS_H
#define CS_FOCUS_H

#include <stdbool.h>
#include <stddef.h>

#include "decimal.h"

/* The FOCUS spelling of a rules unit ("GiB-hour" -> "GiB-Hours",
 * "cpu-second" -> "CPU-Seconds", "token" -> "Tokens", "byte" -> "B").
 * Returns the length, or -ENOSPC. */
int cs_focus_unit(const char *unit, char *buf, size_t size);

/* The exact decimal text of a x b, and of a x b x c when c is not NULL
 * (up to 36 fractional digits, trailing zeros removed).  Returns the
 * length, or -ENOSPC. */
int cs_focus_product(cs_dec a, cs_dec b, const cs_dec *c, char *buf, size_t size);

/* Whether name is one of FOCUS's ServiceCategory values. */
bool cs_focus_service_category_valid(const char *name);

/* Whether subcategory is one of FOCUS's ServiceSubcategory values whose
 * parent is category ("Other (<category>)" included). */
bool cs_focus_subcategory_valid(const char *category, const char *subcategory);

/* "Other (<category>)" for a valid category, else NULL (a static string). */
const char *cs_focus_other_subcategory(const char *category);

/* The list itself ("AI and Machine Learning", ..., "Other"), NULL-terminated. */
extern const char *const cs_focus_service_categories[];

#endif
