/* fuzz_attribution.c - the attribution text kept with unattributed usage
 * (attribution.h), as `costream reattribute` reads it back from the
 * database.  Invariants: parsing never overruns; what parses into labels
 * with distinct names and no line breaks is written back identically. */
#include "attribution.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[CS_ATTRIBUTION_MAX + 1], scratch[CS_ATTRIBUTION_MAX + 1], out[CS_ATTRIBUTION_MAX];
    if (size >= CS_ATTRIBUTION_MAX)
        return 0; /* the worker writes at most CS_ATTRIBUTION_MAX - 1 bytes (and a NUL) */
    memcpy(text, data, size);
    text[size] = '\0';
    cs_label labels[8];
    int n = cs_attribution_parse(text, labels, 8, scratch);
    if (n <= 0)
        return 0;
    char *order[8];
    int distinct = 1, plain = strpbrk(text, "\r\n") == NULL;
    for (int i = 0; i < n; i++) {
        order[i] = (char *)labels[i].name;
        FUZZ_ASSERT(labels[i].name[0] != '\0', "a label has a name");
        for (int k = 0; k < i; k++)
            distinct = distinct && strcmp(labels[k].name, labels[i].name) != 0;
    }
    int w = cs_attribution_format(order, (size_t)n, labels, (size_t)n, out, sizeof(out));
    if (distinct && plain)
        FUZZ_ASSERT(w >= 0 && strcmp(out, text) == 0, "parse then format gives the text back");
    return 0;
}
