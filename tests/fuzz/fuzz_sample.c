/* fuzz_sample.c - metric-sample decoding (JSON or MessagePack).
 * Invariants: reject details are valid UTF-8; an accepted sample has a
 * Prometheus metric name and label names, and its series text is UTF-8. */
#include "fuzz.h"
#include "sample.h"

static int name_char(char c, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || (colon && c == ':');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_sample s;
    cs_event_error err;
    if (cs_sample_decode(data, size, 65536, CS_EVENT_FORMAT_AUTO, &s, &err) < 0) {
        FUZZ_ASSERT_TEXT(err.detail, "reject detail is UTF-8");
        return 0;
    }
    for (const char *c = s.name; *c; c++)
        FUZZ_ASSERT(name_char(*c, 1), "metric name is a Prometheus name");
    for (size_t i = 0; i < s.nlabels; i++)
        for (const char *c = s.labels[i].name; *c; c++)
            FUZZ_ASSERT(name_char(*c, 0), "label name is a Prometheus name");
    static char text[CS_EVENT_ARENA];
    if (cs_sample_series_text(&s, text, sizeof(text)) >= 0)
        FUZZ_ASSERT_TEXT(text, "series text is UTF-8");
    return 0;
}
