/* spool.h - a report written to an unnamed temporary file, bounded (util).
 *
 * A download is made at PostgreSQL's speed into a spool and then sent at
 * the client's, so a slow reader holds a file descriptor and disk space,
 * never a database connection or a transaction.  The file has no name
 * (O_TMPFILE, or unlinked at once where the file system lacks it), so it
 * disappears when its descriptor is closed, even after a crash.
 *
 * Not thread-safe: one spool per thread at a time.
 */
#ifndef CS_SPOOL_H
#define CS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_spool {
    int fd;          /* -1 when closed or taken */
    uint64_t size;   /* bytes written */
    uint64_t max;    /* bytes allowed */
} cs_spool;

/* Opens an empty spool in dir holding at most max bytes.  0 or a negative
 * errno. */
int cs_spool_open(cs_spool *s, const char *dir, uint64_t max);

/* Appends n bytes.  0, -EFBIG past max (nothing written), or a negative
 * errno (-ENOSPC: the disk is full). */
int cs_spool_write(cs_spool *s, const void *p, size_t n);

/* Hands the descriptor, positioned at the start, to the caller (who
 * closes it).  The descriptor, or a negative errno. */
int cs_spool_take(cs_spool *s);

/* Closes the descriptor if it was not taken: the struct's contents only.
 * Any spool cs_spool_open() was called on (whatever it returned). */
void cs_spool_done(cs_spool *s);

#endif
