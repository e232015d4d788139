/* file.c - bounded whole-file reads (see file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

int cs_file_read_maybe_gzip(const char *path, size_t max, char **ret_buf, size_t *ret_len,
                            char *err, size_t errsize)
{
    char *in;
    size_t inlen;
    int r = cs_file_read(path, max, &in, &inlen, err, errsize);
    if (r < 0 || inlen < 2 || (unsigned char)in[0] != 0x1f || (unsigned char)in[1] != 0x8b) {
        *ret_buf = r < 0 ? NULL : in;
        *ret_len = r < 0 ? 0 : inlen;
        return r;
    }
    z_stream z = {0};
    size_t cap = inlen * 4 + 1024, len = 0;
    char *out = malloc(cap);
    if (!out || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        free(in);
        free(out);
        snprintf(err, errsize, "%s: out of memory", path);
        return -ENOMEM;
    }
    z.next_in = (unsigned char *)in;
    z.avail_in = (unsigned)(inlen > UINT32_MAX ? UINT32_MAX : inlen);
    int zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (cap - len < 2) {
            size_t ncap = cap * 2;
            char *n = ncap > max + 2 ? NULL : realloc(out, ncap);
            if (!n) {
                r = ncap > max + 2 ? -EFBIG : -ENOMEM;
                break;
            }
            out = n;
            cap = ncap;
        }
        z.next_out = (unsigned char *)out + len;
        z.avail_out = (unsigned)(cap - len - 1 > UINT32_MAX ? UINT32_MAX : cap - len - 1);
        zr = inflate(&z, Z_NO_FLUSH);
        len = (size_t)((char *)z.next_out - out);
        if (zr != Z_OK && zr != Z_STREAM_END) {
            r = zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
            break;
        }
        if (zr == Z_OK && z.avail_in == 0 && z.avail_out > 0) {
            r = -EBADMSG; /* truncated */
            break;
        }
    }
    inflateEnd(&z);
    free(in);
    if (r < 0) {
        free(out);
        snprintf(err, errsize, "%s: %s", path,
                 r == -EFBIG ? "larger than allowed once decompressed"
                 : r == -ENOMEM ? "out of memory" : "not a valid gzip file (damaged or truncated)");
        return r;
    }
    out[len] = '\0';
    *ret_buf = out;
    *ret_len = len;
    return 0;
}
