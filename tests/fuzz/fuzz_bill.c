/* fuzz_bill.c - the FOCUS bill reader and the CSV reader under it.
 * Invariants: no crash or leak on any input; every line read has its
 * charge period in order, a known currency and valid UTF-8 JSON; errors
 * are valid UTF-8 and name a line within the input; reading always ends. */
#include "bill.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_bill *b;
    cs_bill_error e;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (cs_bill_open((const char *)data, size, &b, &e) < 0) {
        FUZZ_ASSERT_TEXT(e.reason, "header error is UTF-8");
        return 0;
    }
    cs_bill_line l;
    int r;
    size_t calls = 0;
    while ((r = cs_bill_next(b, &l, &e)) != 0) {
        FUZZ_ASSERT(++calls <= lines + 1, "reading ends");
        if (r < 0) {
            FUZZ_ASSERT(r == -EINVAL, "only data errors");
            FUZZ_ASSERT_TEXT(e.reason, "line error is UTF-8");
            FUZZ_ASSERT_TEXT(e.column, "column is UTF-8");
            FUZZ_ASSERT(e.line >= 1 && e.line <= lines, "error names a line of the input");
            continue;
        }
        FUZZ_ASSERT(l.end_usec > l.start_usec, "charge period in order");
        FUZZ_ASSERT(cs_bill_currency_known(l.currency), "known currency");
        FUZZ_ASSERT_TEXT(l.tags_json, "tags JSON is UTF-8");
        FUZZ_ASSERT_TEXT(l.columns_json, "columns JSON is UTF-8");
    }
    cs_bill_free(b);
    return 0;
}
