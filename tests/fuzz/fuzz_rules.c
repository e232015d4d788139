/* fuzz_rules.c - the pricing-rules parser.  Invariants: it returns rules
 * or errors, never both or neither; every error message is valid UTF-8. */
#include "fuzz.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_rules *rules = NULL;
    cs_errlist errs = {0};
    int r = cs_rules_parse((const char *)data, size, "fuzz.json", &rules, &errs);
    FUZZ_ASSERT((r == 0) == (rules != NULL), "rules on success only");
    FUZZ_ASSERT(r == 0 || r == -ENOMEM || errs.n > 0, "a refusal says why");
    for (size_t i = 0; i < errs.n; i++)
        FUZZ_ASSERT_TEXT(errs.items[i], "error message is UTF-8");
    cs_errlist_free(&errs);
    cs_rules_free(rules);
    return 0;
}
