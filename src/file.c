/* file.c - bounded whole-file reads (see file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cs_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len, char *err,
                 size_t errsize)
{
    struct stat st;
    size_t cap = 8192, len = 0;
    char *buf = NULL;
    int r = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *ret_buf = NULL;
    *ret_len = 0;
    if (fd < 0) {
        r = -errno;
        snprintf(err, errsize, "%s: cannot open: %s", path, strerror(-r));
        return r;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errsize, "%s: is a directory, not a file", path);
        close(fd);
        return -EISDIR;
    }
    for (;;) {
        if (len + 1 >= cap || !buf) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                r = -ENOMEM;
                snprintf(err, errsize, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            snprintf(err, errsize, "%s: cannot read: %s", path, strerror(-r));
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            r = -EFBIG;
            snprintf(err, errsize, "%s: larger than %zu bytes; is it the right file?", path, max);
            break;
        }
    }
    close(fd);
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}
