/* buf.c - see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static bool reserve(cs_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void cs_buf_append(cs_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n > 0) /* s may be NULL then (an empty buffer's data) */
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cs_buf_puts(cs_buf *b, const char *s)
{
    cs_buf_append(b, s, strlen(s));
}

void cs_buf_printf(cs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cs_buf_consume(cs_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void cs_buf_reset(cs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cs_buf_free(cs_buf *b)
{
    free(b->data);
    *b = (cs_buf){0};
}

void cs_buf_put_visible(cs_buf *b, const char *s, const char *allow)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t run = 0; /* printable bytes to copy as they are */
        while (p[run] && (p[run] >= 0x20 || strchr(allow, p[run])) && p[run] != 0x7f &&
               !(p[run] == 0xc2 && p[run + 1] >= 0x80 && p[run + 1] <= 0x9f))
            run++;
        cs_buf_append(b, (const char *)p, run);
        p += run;
        if (!*p)
            break;
        if (*p == 0xc2) {
            cs_buf_printf(b, "\\u%04x", p[1]);
            p += 2;
        } else {
            cs_buf_printf(b, "\\x%02x", *p);
            p++;
        }
    }
}

void cs_buf_put_json(cs_buf *b, const char *s)
{
    if (!s) {
        cs_buf_puts(b, "null");
        return;
    }
    cs_buf_append(b, "\"", 1);
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : cs_utf8_seq_len(s + i, len - i);
        if (c == '"' || c == '\\')
            cs_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            cs_buf_printf(b, "\\u%04x", c);
        else if (n == 0)
            cs_buf_puts(b, "\\ufffd"); /* not UTF-8: one replacement per byte */
        else
            cs_buf_append(b, s + i, n);
        i += n ? n : 1;
    }
    cs_buf_append(b, "\"", 1);
}

void cs_buf_put_html(cs_buf *b, const char *s)
{
    for (const char *run = s;; s++) {
        const char *rep = *s == '<'    ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '&'  ? "&amp;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&#39;"
                                       : NULL;
        if (!rep && *s)
            continue;
        cs_buf_append(b, run, (size_t)(s - run));
        if (!*s)
            return;
        cs_buf_puts(b, rep);
        run = s + 1;
    }
}
