/* jsonscan.h - locate a value inside JSON text by path.
 *
 * jansson parses JSON numbers into doubles, and keeps no source positions.
 * costream needs both: the exact decimal text of a quantity (money must never
 * pass through binary floating point) and the line and column of a field in
 * a rules file (so errors point at it).  This module walks JSON text that
 * jansson has already accepted and returns the byte span of the value at a
 * path of object keys and array indices.  It does not build anything and
 * allocates nothing.  tests/unit/test_jsonscan.c checks it against jansson
 * on generated documents.  Pure, thread-safe.
 */
#ifndef CS_JSONSCAN_H
#define CS_JSONSCAN_H

#include <stddef.h>

typedef struct cs_jsonscan_step {
    const char *key; /* object member name, or NULL to use index */
    size_t index;    /* array element when key is NULL */
} cs_jsonscan_step;

/* Finds the value at path (depth steps) in text.  Returns 0 and the value's
 * byte offset and length (a string's span includes its quotes), -ENOENT if
 * the path does not exist, -EINVAL if the text is not valid JSON where it
 * had to be read.  Duplicate keys: the last one wins, as in jansson. */
int cs_jsonscan_find(const char *text, size_t len, const cs_jsonscan_step *path,
                     size_t depth, size_t *ret_offset, size_t *ret_len);

/* Converts a byte offset to a 1-based line and column (columns count
 * bytes). */
void cs_jsonscan_linecol(const char *text, size_t len, size_t offset, int *ret_line,
                         int *ret_col);

#endif
