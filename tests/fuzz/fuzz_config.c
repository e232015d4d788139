/* fuzz_config.c - the configuration parser, through a real file (memfd).
 * Invariants: errors name the file and line and are valid UTF-8. */
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.conf", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    cs_config cfg;
    cs_errlist errs = {0};
    if (cs_config_init(&cfg) == 0) {
        cs_config_load(&cfg, path, &errs);
        for (size_t i = 0; i < errs.n; i++) {
            FUZZ_ASSERT(strncmp(errs.items[i], path, strlen(path)) == 0, "errors name the file");
            FUZZ_ASSERT_TEXT(errs.items[i], "error message is UTF-8");
        }
    }
    cs_errlist_free(&errs);
    cs_config_free(&cfg);
    close(fd);
    return 0;
}
