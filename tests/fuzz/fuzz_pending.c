/* fuzz_pending.c - the decoder of pending sample blocks (src/pending.c).
 * Invariants: what it accepts, the writer packs again into a block that
 * decodes to the same samples, and packing that once more gives the same
 * bytes (the writer's form is canonical). */
#include <string.h>

#include "fuzz.h"
#include "pending.h"

static void repack(const cs_pending_block *b, cs_buf *out)
{
    size_t n;
    const cs_batch_sample *x = cs_pending_block_samples(b, &n);
    cs_pending_writer *w = cs_pending_writer_new();
    FUZZ_ASSERT(w != NULL, "writer");
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT(cs_pending_writer_add(w, &x[i]) == 0, "a decoded sample packs again");
    cs_pending_writer_finish(w, out);
    FUZZ_ASSERT(!out->failed, "packs");
    cs_pending_writer_free(w);
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void compare(const cs_batch_sample *a, const cs_batch_sample *b)
{
    FUZZ_ASSERT(memcmp(a->series_id, b->series_id, CS_BATCH_SERIES_ID_LEN) == 0 &&
                    same(a->series, b->series) && same(a->kind, b->kind) &&
                    same(a->special, b->special) && same(a->customer, b->customer) &&
                    same(a->plan, b->plan) && same(a->product, b->product) &&
                    same(a->meter, b->meter) && same(a->rule_id, b->rule_id) &&
                    same(a->rules_version, b->rules_version) && same(a->currency, b->currency) &&
                    same(a->unit, b->unit) && same(a->topic, b->topic),
                "strings and ids survive");
    FUZZ_ASSERT(a->time_usec == b->time_usec && a->unit_divisor == b->unit_divisor &&
                    a->max_gap_usec == b->max_gap_usec && a->partition == b->partition &&
                    a->offset == b->offset && a->unit_price.raw == b->unit_price.raw &&
                    a->discount_rate.raw == b->discount_rate.raw &&
                    (a->special || a->value.raw == b->value.raw),
                "numbers survive");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_pending_block *a, *b, *c;
    if (cs_pending_decode(data, size, &a) < 0)
        return 0;
    cs_buf one = {0}, two = {0};
    repack(a, &one);
    FUZZ_ASSERT(cs_pending_decode(one.data, one.len, &b) == 0, "a packed block decodes");
    size_t na, nb;
    const cs_batch_sample *xa = cs_pending_block_samples(a, &na);
    const cs_batch_sample *xb = cs_pending_block_samples(b, &nb);
    FUZZ_ASSERT(na == nb, "as many samples");
    for (size_t i = 0; i < na; i++)
        compare(&xa[i], &xb[i]);
    repack(b, &two);
    FUZZ_ASSERT(two.len == one.len && memcmp(two.data, one.data, one.len) == 0, "canonical");
    FUZZ_ASSERT(cs_pending_decode(two.data, two.len, &c) == 0, "decodes again");
    cs_pending_block_free(a);
    cs_pending_block_free(b);
    cs_pending_block_free(c);
    cs_buf_free(&one);
    cs_buf_free(&two);
    return 0;
}
