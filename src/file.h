/* file.h - reading a whole configuration or rules file, bounded, and
 * mapping a bill.
 *
 * Files are read whole into memory, never more than a stated maximum, so
 * that `-c /dev/zero` or a runaway generator fails with a message instead
 * of growing without end; a directory is refused rather than read as
 * empty.  Pipes and process substitution work (they are read to their
 * end).  A bill, which may be gigabytes, is mapped instead, and a gzip
 * bill decompressed into a temporary file and mapped, so its size costs
 * disk and page cache, not memory.  Util module: plain POSIX I/O;
 * thread-safe.
 */
#ifndef CS_FILE_H
#define CS_FILE_H

#include <stddef.h>
#include <stdint.h>

#define CS_FILE_MAX_CONFIG (1u << 20) /* 1 MiB */
#define CS_FILE_MAX_RULES (16u << 20) /* 16 MiB */

/* Reads path whole.  Returns 0 with *ret_buf (NUL-terminated, owned by the
 * caller; the file may itself hold NUL bytes: *ret_len counts them) or a
 * negative errno with err saying "PATH: why" (-EFBIG past max bytes,
 * -EISDIR for a directory, -ENOMEM). */
int cs_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len, char *err,
                 size_t errsize);

/* A file's content, read-only, mapped rather than read: a bill of
 * gigabytes costs page cache, not the process's memory. */
typedef struct cs_file_map {
    const char *data; /* len bytes, not NUL-terminated ("" when empty) */
    size_t len;
    void *base;       /* the mapping, or NULL */
    size_t maplen;
} cs_file_map;

/* Maps path (a regular file as it is; a gzip file, by its magic bytes, or
 * a pipe, first written into an unnamed file in tmpdir, spool.h), at most
 * max bytes once decompressed: past that it stops at once, without
 * decompressing the rest, with -EFBIG.  0, or a negative errno with err
 * saying "PATH: why" (-EBADMSG a damaged gzip stream, -EISDIR). */
int cs_file_map_maybe_gzip(const char *path, uint64_t max, const char *tmpdir, cs_file_map *ret,
                           char *err, size_t errsize);

/* Unmaps; the struct's contents only.  A zeroed or done map is fine. */
void cs_file_map_done(cs_file_map *m);

#endif
