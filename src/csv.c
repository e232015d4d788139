/* csv.c - see csv.h. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

void cs_csv_text(cs_buf *b, const char *s, int first)
{
    if (!first)
        cs_buf_append(b, ",", 1);
    if (!s)
        return; /* empty field: null */
    int formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
                  s[0] == '\r';
    /* ';' too: it separates fields where the decimal comma is used */
    int quote = formula || strpbrk(s, ",;\"\r\n") != NULL;
    if (quote) {
        cs_buf_append(b, "\"", 1);
        if (formula)
            cs_buf_append(b, "'", 1);
    }
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '"');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        char *part = strndup(p, n);
        if (part)
            cs_buf_put_visible(b, part, "\t\r\n");
        else
            b->failed = true;
        free(part);
        if (!q)
            break;
        cs_buf_append(b, "\"\"", 2);
        p = q + 1;
    }
    if (quote)
        cs_buf_append(b, "\"", 1);
}

void cs_csv_number(cs_buf *b, const char *s, int first)
{
    if (!first)
        cs_buf_append(b, ",", 1);
    cs_buf_puts(b, s);
}

void cs_csv_end_row(cs_buf *b)
{
    cs_buf_append(b, "\r\n", 2);
}
