/* fuzz_event.c - usage-event decoding, JSON and MessagePack (format by the
 * first byte of the input).  Invariants: a reject has a reason and a detail
 * that is valid UTF-8; an accepted event's strings are valid UTF-8 and its
 * quantity is non-negative. */
#include "event.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cs_event ev;
    cs_event_error err;
    if (size < 1)
        return 0;
    cs_event_format fmt = data[0] & 1 ? CS_EVENT_FORMAT_MSGPACK : CS_EVENT_FORMAT_AUTO;
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
