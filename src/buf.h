/* buf.h - a growable byte buffer for building output text.
 *
 * Append functions never fail visibly: on allocation failure the buffer is
 * marked failed (cs_buf.failed) and later appends do nothing, so a writer
 * checks once at the end.  Free with cs_buf_free().  Not thread-safe.
 */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cs_buf {
    char *data;
    size_t len, cap;
    bool failed;
} cs_buf; /* zero-initialise */

void cs_buf_append(cs_buf *b, const char *s, size_t n);
void cs_buf_puts(cs_buf *b, const char *s);
void cs_buf_printf(cs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with every control character shown instead of sent: C0 and
 * DEL as "\xNN", C1 (U+0080..U+009F, which terminals also obey) as
 * "\u00NN", so that no text can move a terminal's cursor, colour it, or
 * break a table.  The C0 characters in allow (e.g. "\t\r\n" inside a quoted
 * CSV field) are kept. */
void cs_buf_put_visible(cs_buf *b, const char *s, const char *allow);
/* Appends s as a JSON string ("null" for NULL): quotes and backslashes
 * escaped, control characters as \u00XX, bytes that are not UTF-8 as
 * \ufffd, so the output is always valid JSON. */
void cs_buf_put_json(cs_buf *b, const char *s);
/* Appends s escaped for HTML text and attribute values (& < > " '). */
void cs_buf_put_html(cs_buf *b, const char *s);
/* Removes the first n bytes (after they were sent). */
void cs_buf_consume(cs_buf *b, size_t n);
void cs_buf_reset(cs_buf *b);
void cs_buf_free(cs_buf *b);

#endif
