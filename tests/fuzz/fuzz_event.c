/* fuzz_event.c - usage-event decoding, JSON and MessagePack (format by the
 * first byte of the input).  Invariants: a reject has a reason and a detail
 * that is valid UTF-8; an accepted event's strings are valid UTF-8 and its
 * quantity is non-negative; and wherever the zero-allocation JSON path
 * decides (does not give up), the jansson reference decides the same: the
 * same verdict, reason and detail, and the same fields. */
#include <stddef.h>

#include "decode.h"
#include "event.h"
#include "fuzz.h"

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The fast path against the reference on the same JSON text. */
static void differential(const char *p, size_t n)
{
    static cs_event fast, ref;
    cs_event_error ef = {0}, er = {0};
    if (!cs_utf8_valid(p, n))
        return;
    memset(&fast, 0, offsetof(cs_event, arena));
    memset(&ref, 0, offsetof(cs_event, arena));
    int rf = cs_event_decode_json_fast(p, n, &fast, &ef);
    if (rf == -1)
        return; /* gave up: the reference decides alone */
    int rr = cs_event_decode_json_ref(p, n, &ref, &er);
    FUZZ_ASSERT(rf == rr, "fast and reference JSON paths agree on the verdict");
    if (rr < 0) {
        FUZZ_ASSERT(ef.code == er.code && strcmp(ef.detail, er.detail) == 0,
                    "fast and reference JSON paths give the same reason and detail");
        return;
    }
    FUZZ_ASSERT(same_str(fast.id, ref.id) && same_str(fast.source, ref.source) &&
                    same_str(fast.type, ref.type) && same_str(fast.subject, ref.subject) &&
                    same_str(fast.product, ref.product) && same_str(fast.meter, ref.meter) &&
                    fast.time_usec == ref.time_usec && fast.quantity.raw == ref.quantity.raw &&
                    fast.nlabels == ref.nlabels,
                "fast and reference JSON paths decode the same fields");
    for (size_t i = 0; i < fast.nlabels; i++)
        FUZZ_ASSERT(same_str(fast.labels[i].name, ref.labels[i].name) &&
                        same_str(fast.labels[i].value, ref.labels[i].value),
                    "fast and reference JSON paths decode the same labels");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_event ev;
    cs_event_error err;
    if (size < 1)
        return 0;
    cs_event_format fmt = data[0] & 1 ? CS_EVENT_FORMAT_MSGPACK : CS_EVENT_FORMAT_AUTO;
    if (fmt == CS_EVENT_FORMAT_AUTO)
        differential((const char *)data + 1, size - 1);
    int r = cs_event_decode(data + 1, size - 1, 65536, fmt, &ev, &err);
    if (r < 0) {
        FUZZ_ASSERT(err.code != CS_REJECT_NONE, "a reject has a reason");
        FUZZ_ASSERT_TEXT(err.detail, "reject detail is UTF-8");
        return 0;
    }
    FUZZ_ASSERT_TEXT(ev.id, "id is UTF-8");
    FUZZ_ASSERT_TEXT(ev.source, "source is UTF-8");
    FUZZ_ASSERT_TEXT(ev.product, "product is UTF-8");
    FUZZ_ASSERT_TEXT(ev.meter, "meter is UTF-8");
    for (size_t i = 0; i < ev.nlabels; i++)
        FUZZ_ASSERT_TEXT(ev.labels[i].value, "label value is UTF-8");
    FUZZ_ASSERT(!cs_dec_is_neg(ev.quantity), "quantity is not negative");
    return 0;
}
