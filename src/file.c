/* file.c - bounded whole-file reads (see file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "spool.h"

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

/* Inflates the gzip stream on fd into sp, stopping past its bound.  0,
 * -EFBIG, -EBADMSG (damaged or truncated), -ENOMEM or a write error. */
static int inflate_into(int fd, cs_spool *sp)
{
    unsigned char in[1 << 16], out[1 << 16];
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -ENOMEM;
    int zr = Z_OK, r = 0;
    while (r == 0 && zr != Z_STREAM_END) {
        ssize_t n = read(fd, in, sizeof(in));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EBADMSG; /* the stream ended before its end */
            break;
        }
        z.next_in = in;
        z.avail_in = (unsigned)n;
        while (r == 0 && z.avail_in > 0 && zr != Z_STREAM_END) {
            z.next_out = out;
            z.avail_out = sizeof(out);
            zr = inflate(&z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
                r = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
            else
                r = cs_spool_write(sp, out, sizeof(out) - z.avail_out);
        }
    }
    inflateEnd(&z);
    return r;
}

/* Copies what is left of fd into sp, stopping past its bound. */
static int copy_into(int fd, cs_spool *sp)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : 0;
        int r = cs_spool_write(sp, buf, (size_t)n);
        if (r < 0)
            return r;
    }
}

/* Maps len bytes of fd read-only into m (nothing to map when len is 0). */
static int map_fd(int fd, size_t len, cs_file_map *m)
{
    *m = (cs_file_map){"", 0, NULL, 0};
    if (len == 0)
        return 0;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    madvise(p, len, MADV_SEQUENTIAL);
    *m = (cs_file_map){p, len, p, len};
    return 0;
}

static const char *map_error(int r)
{
    return r == -EFBIG    ? "larger than allowed (once decompressed, for a gzip file)"
           : r == -EBADMSG ? "not a valid gzip file (damaged or truncated)"
           : r == -ENOMEM  ? "out of memory"
                           : strerror(-r);
}

int cs_file_map_maybe_gzip(const char *path, uint64_t max, const char *tmpdir, cs_file_map *ret,
                           char *err, size_t errsize)
{
    struct stat st;
    unsigned char magic[2] = {0};
    cs_spool sp = {.fd = -1};
    int r = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    *ret = (cs_file_map){"", 0, NULL, 0};
    if (fd < 0 || fstat(fd, &st) < 0) {
        r = -errno;
        snprintf(err, errsize, "%s: cannot open: %s", path, strerror(-r));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        snprintf(err, errsize, "%s: is a directory", path);
        goto out;
    }
    bool regular = S_ISREG(st.st_mode);
    bool gzip = regular && pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (regular && !gzip) {
        r = (uint64_t)st.st_size > max ? -EFBIG : map_fd(fd, (size_t)st.st_size, ret);
    } else if ((r = cs_spool_open(&sp, tmpdir, max)) == 0) {
        if (!regular) { /* a pipe: its first bytes say whether it is gzip */
            r = copy_into(fd, &sp);
            if (r == 0 && sp.size >= 2 && pread(sp.fd, magic, 2, 0) == 2 && magic[0] == 0x1f &&
                magic[1] == 0x8b) {
                int again = dup(sp.fd);
                cs_spool_done(&sp);
                lseek(again, 0, SEEK_SET);
                r = again < 0 ? -errno : cs_spool_open(&sp, tmpdir, max);
                if (r == 0)
                    r = inflate_into(again, &sp);
                if (again >= 0)
                    close(again);
            }
        } else {
            r = inflate_into(fd, &sp);
        }
        if (r == 0)
            r = map_fd(sp.fd, (size_t)sp.size, ret);
    }
    if (r < 0 && r != -EISDIR)
        snprintf(err, errsize, "%s: %s", path, map_error(r));
out:
    cs_spool_done(&sp);
    if (fd >= 0)
        close(fd);
    return r;
}

void cs_file_map_done(cs_file_map *m)
{
    if (m->base)
        munmap(m->base, m->maplen);
    *m = (cs_file_map){"", 0, NULL, 0};
}
