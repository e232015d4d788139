/* spool.c - see spool.h. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int cs_spool_open(cs_spool *s, const char *dir, uint64_t max)
{
    *s = (cs_spool){-1, 0, max};
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/costream-spool-XXXXXX", dir);
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0)
            unlink(path);
    }
    if (fd < 0)
        return -errno;
    s->fd = fd;
    return 0;
}

int cs_spool_write(cs_spool *s, const void *p, size_t n)
{
    if (s->fd < 0)
        return -EBADF;
    if (n > s->max - s->size)
        return -EFBIG;
    const char *c = p;
    while (n) {
        ssize_t w = write(s->fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        c += w;
        n -= (size_t)w;
        s->size += (uint64_t)w;
    }
    return 0;
}

int cs_spool_take(cs_spool *s)
{
    if (s->fd < 0)
        return -EBADF;
    if (lseek(s->fd, 0, SEEK_SET) < 0)
        return -errno;
    int fd = s->fd;
    s->fd = -1;
    return fd;
}

void cs_spool_done(cs_spool *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
