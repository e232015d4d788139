/* fuzz.h - shared by the libFuzzer targets in tests/fuzz/.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput() and checks its
 * invariants with FUZZ_ASSERT, which aborts (a finding for libFuzzer, a
 * failure for the replay driver).  Built two ways (tests/fuzz/meson.build):
 * with clang and -Dfuzz=true as real libFuzzer binaries, and otherwise
 * linked with replay.c, which runs every seed in tests/fuzz/corpus/<name>
 * as a unit test. */
#ifndef CS_FUZZ_H
#define CS_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define FUZZ_ASSERT(cond, what)                                                    \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", what, __FILE__, \
                    __LINE__);                                                     \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* Every text costream may store or print must be valid UTF-8. */
#define FUZZ_ASSERT_TEXT(s, what) FUZZ_ASSERT(cs_utf8_valid((s), strlen(s)), what)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
