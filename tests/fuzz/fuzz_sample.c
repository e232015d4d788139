/* fuzz_sample.c - metric-sample decoding (JSON or MessagePack).
 * Invariants: reject details are valid UTF-8; an accepted sample has a
 * Prometheus metric name and label names, and its series text is UTF-8;
 * and whatever the zero-allocation JSON path accepts, the jansson
 * reference accepts with the same name, time, value, labels and series. */
#include <stddef.h>

#include "decode.h"
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

/* The fast path against the reference on the same JSON text. */
static void differential(const uint8_t *data, size_t size)
{
    static cs_sample fast, ref;
    cs_event_error ef = {0}, er = {0};
    const char *p = (const char *)data;
    if (size == 0 || p[0] != '{' || !cs_utf8_valid(p, size))
        return;
    memset(&fast, 0, offsetof(cs_sample, arena));
    memset(&ref, 0, offsetof(cs_sample, arena));
    if (cs_sample_decode_json_fast(p, size, &fast, &ef) != 0)
        return; /* gave up: the reference decides alone */
    FUZZ_ASSERT(cs_sample_decode_json_ref(p, size, &ref, &er) == 0,
                "what the fast path accepts, the reference accepts");
    FUZZ_ASSERT(strcmp(fast.name, ref.name) == 0 && fast.time_usec == ref.time_usec &&
                    fast.special == ref.special && fast.value.raw == ref.value.raw &&
                    fast.nlabels == ref.nlabels &&
                    memcmp(fast.series_id, ref.series_id, sizeof(fast.series_id)) == 0,
                "fast and reference JSON paths decode the same sample");
    for (size_t i = 0; i < fast.nlabels; i++)
        FUZZ_ASSERT(strcmp(fast.labels[i].name, ref.labels[i].name) == 0 &&
                        strcmp(fast.labels[i].value, ref.labels[i].value) == 0,
                    "fast and reference JSON paths decode the same labels");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_sample s;
    cs_event_error err;
    differential(data, size);
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
