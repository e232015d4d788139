/* fuzz_msgpack.c - the MessagePack length pre-check (cs_decode_mp_check)
 * against msgpack-c, the reference.  Inputs the pre-check passes are
 * unpacked by msgpack-c, whose allocations libFuzzer's malloc limit bounds
 * (the pre-check exists so that they stay within the input's size); the
 * object is packed again, canonically, and the pre-check must accept that
 * valid encoding too, so it never refuses valid MessagePack. */
#include <msgpack.h>

#include "decode.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    if (cs_decode_mp_check(p, size) < 0)
        return 0;
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, p, size, &off) == MSGPACK_UNPACK_SUCCESS) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_object(&pk, u.data);
        FUZZ_ASSERT(cs_decode_mp_check(sb.data, sb.size) == 0,
                    "the pre-check accepts a valid encoding");
        msgpack_sbuffer_destroy(&sb);
    }
    msgpack_unpacked_destroy(&u);
    return 0;
}
