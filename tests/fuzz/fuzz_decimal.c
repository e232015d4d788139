/* fuzz_decimal.c - the decimal parser.  Invariants: what it accepts it
 * formats back to text that parses to the same value; the rounding parser
 * agrees with the exact one wherever the exact one succeeds. */
#include "decimal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_dec a, b, c;
    char text[CS_DEC_STRLEN];
    int r = cs_dec_parse((const char *)data, size, &a);
    if (r < 0)
        return 0;
    FUZZ_ASSERT(cs_dec_format(a, 12, text, sizeof(text)) >= 0, "formats");
    FUZZ_ASSERT(cs_dec_parse(text, strlen(text), &b) == 0 && b.raw == a.raw, "round trip");
    FUZZ_ASSERT(cs_dec_parse_round((const char *)data, size, &c) == 0 && c.raw == a.raw,
                "rounding parse agrees where exact");
    return 0;
}
