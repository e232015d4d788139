/* rules_internal.h - shared by rules.c and rules_pools.c: the parsing
 * context that turns JSON paths into file:line:column messages.  Not part
 * of the public API; names start with cs__rules_. */
#ifndef CS_RULES_INTERNAL_H
#define CS_RULES_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "jsonscan.h"
#include "rules.h"

#define CS__RULES_MAX_DEPTH 16

typedef struct cs__rules_ctx {
    const char *text;
    size_t len;
    const char *name;
    cs_errlist *errs;
    cs_jsonscan_step path[CS__RULES_MAX_DEPTH];
    size_t depth;
    int nerr;
    size_t regex_bytes;     /* regcomp()'s memory for the file's patterns (pattern.h) */
    bool regex_over_budget; /* past it: no pattern is compiled */
} cs__rules_ctx;

void cs__rules_push_key(cs__rules_ctx *c, const char *key);
void cs__rules_push_index(cs__rules_ctx *c, size_t i);
void cs__rules_pop(cs__rules_ctx *c);
/* Reports a problem at the current path (file:line:column: path: message). */
void cs__rules_err_here(cs__rules_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A required or optional non-empty string member; NULL when absent or wrong. */
const char *cs__rules_get_string(cs__rules_ctx *c, json_t *obj, const char *key, bool required);
/* A decimal member (string or JSON number, read exactly). */
bool cs__rules_get_decimal(cs__rules_ctx *c, json_t *obj, const char *key, bool required,
                           cs_dec *ret);

/* Parses the "allocation" section (rules_pools.c) into rs->pools. */
void cs__rules_parse_pools(cs__rules_ctx *c, json_t *root, cs_rules *rs);
void cs__rules_free_pools(cs_rules *rs);

#endif
