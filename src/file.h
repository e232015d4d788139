/* file.h - reading a whole configuration or rules file, bounded.
 *
 * Files are read whole into memory, never more than a stated maximum, so
 * that `-c /dev/zero` or a runaway generator fails with a message instead
 * of growing without end; a directory is refused rather than read as
 * empty.  Pipes and process substitution work (they are read to their
 * end).  Util module: plain POSIX I/O; thread-safe.
 */
#ifndef CS_FILE_H
#define CS_FILE_H

#include <stddef.h>

#define CS_FILE_MAX_CONFIG (1u << 20) /* 1 MiB */
#define CS_FILE_MAX_RULES (16u << 20) /* 16 MiB */

/* Reads path whole.  Returns 0 with *ret_buf (NUL-terminated, owned by the
 * caller; the file may itself hold NUL bytes: *ret_len counts them) or a
 * negative errno with err saying "PATH: why" (-EFBIG past max bytes,
 * -EISDIR for a directory, -ENOMEM). */
int cs_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len, char *err,
                 size_t errsize);

#define CS_FILE_MAX_BILL ((size_t)4 << 30) /* 4 GiB, decompressed */

/* cs_file_read() for a file that may be gzip-compressed (by its magic
 * bytes): the decompressed content, at most max bytes (-EFBIG past it);
 * -EBADMSG for a damaged gzip stream. */
int cs_file_read_maybe_gzip(const char *path, size_t max, char **ret_buf, size_t *ret_len,
                            char *err, size_t errsize);

#endif
