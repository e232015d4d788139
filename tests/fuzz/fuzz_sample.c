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

/* Where the in-place head answers, the full decoding found the same name
 * and time, or refused something else than the form, the name or the time. */
static void check_peek(const uint8_t *data, size_t size, int r, const cs_sample *s,
                       const cs_event_error *err)
{
    cs_sample_head h;
    if (cs_sample_peek(data, size, 65536, CS_EVENT_FORMAT_AUTO, &h) < 0)
        return;
    if (r == 0) {
        FUZZ_ASSERT(strcmp(h.name, s->name) == 0, "peek reads the decoded name");
        FUZZ_ASSERT(h.time_usec == s->time_usec, "peek reads the decoded time");
        return;
    }
    FUZZ_ASSERT(err->code != CS_REJECT_MALFORMED_JSON && err->code != CS_REJECT_MALFORMED_MSGPACK &&
                err->code != CS_REJECT_INVALID_TIME && err->code != CS_REJECT_EMPTY &&
                err->code != CS_REJECT_OVERSIZED, "peek is sure only of well-formed samples");
    FUZZ_ASSERT(strncmp(err->detail, "name:", 5) != 0 && strncmp(err->detail, "timestamp:", 10) != 0 &&
                strncmp(err->detail, "sample:", 7) != 0, "peek is sure only of a valid name and time");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_sample s;
    cs_event_error err;
    int r = cs_sample_decode(data, size, 65536, CS_EVENT_FORMAT_AUTO, &s, &err);
    check_peek(data, size, r, &s, &err);
    if (r < 0) {
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
