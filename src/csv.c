/* csv.c - see csv.h. */
#include "csv.h"

#include <errno.h>
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

/* ---- reading ------------------------------------------------------------- */

void cs_csv_reader_init(cs_csv_reader *r, const char *data, size_t len)
{
    r->p = data;
    r->end = data + len;
    r->line = 1;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        r->p += 3;
}

void cs_csv_reader_free(cs_csv_reader *r)
{
    free(r->buf);
    free(r->fields);
    r->buf = NULL;
    r->fields = NULL;
    r->cap = r->capfields = 0;
}

/* Skips to the start of the next line (after an error). */
static void skip_line(cs_csv_reader *r)
{
    while (r->p < r->end && *r->p != '\n')
        r->p++;
    if (r->p < r->end) {
        r->p++;
        r->line++;
    }
}

int cs_csv_read(cs_csv_reader *r, const char *const **ret_fields, size_t *ret_n, size_t *ret_line)
{
    if (r->p >= r->end)
        return 0;
    *ret_line = r->line;
    r->rec = r->p;
    size_t len = 0, n = 0, nfields = 1;
    size_t *starts = NULL; /* offsets of the fields in buf, as pointers come later */
    size_t capstarts = 0;
    for (const char *q = r->p; q < r->end && *q != '\n'; q++)
        nfields += *q == ','; /* a first guess; quoted commas only add room */
    starts = malloc(nfields * sizeof(*starts));
    capstarts = nfields;
    if (!starts)
        return -ENOMEM;
    int err = 0;
    for (;;) { /* one field */
        if (n == capstarts) {
            size_t *ns = realloc(starts, 2 * capstarts * sizeof(*starts));
            if (!ns) {
                free(starts);
                return -ENOMEM;
            }
            starts = ns;
            capstarts *= 2;
        }
        starts[n++] = len;
        /* room for this field as it stands in the input, plus its NUL */
        const char *fe = r->p;
        for (int quoted = fe < r->end && *fe == '"'; fe < r->end; fe++)
            if (quoted ? (*fe == '"' && fe != r->p && (fe + 1 == r->end || fe[1] != '"'))
                       : (*fe == ',' || *fe == '\n'))
                break;
            else if (quoted && *fe == '"' && fe != r->p)
                fe++; /* a doubled quote */
        size_t need = len + (size_t)(fe - r->p) + 2;
        if (need > r->cap) {
            size_t ncap = need > 2 * r->cap ? need : 2 * r->cap;
            char *nb = realloc(r->buf, ncap);
            if (!nb) {
                free(starts);
                return -ENOMEM;
            }
            r->buf = nb;
            r->cap = ncap;
        }
        if (r->p < r->end && *r->p == '"') {
            r->p++;
            for (;;) {
                if (r->p >= r->end) {
                    err = 1; /* unterminated quote */
                    break;
                }
                char c = *r->p++;
                if (c == '"') {
                    if (r->p < r->end && *r->p == '"') {
                        r->buf[len++] = '"';
                        r->p++;
                        continue;
                    }
                    break;
                }
                if (c == '\n')
                    r->line++;
                if (c == '\0')
                    err = 1;
                r->buf[len++] = c;
            }
            if (!err && r->p < r->end && *r->p != ',' && *r->p != '\n' &&
                !(*r->p == '\r' && (r->p + 1 == r->end || r->p[1] == '\n')))
                err = 1; /* text after the closing quote */
        } else {
            while (r->p < r->end && *r->p != ',' && *r->p != '\n') {
                char c = *r->p;
                if (c == '\r' && (r->p + 1 == r->end || r->p[1] == '\n'))
                    break;
                if (c == '"' || c == '\0')
                    err = 1;
                r->buf[len++] = c;
                r->p++;
            }
        }
        r->buf[len++] = '\0';
        if (err)
            break;
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '\r')
            r->p++;
        if (r->p < r->end && *r->p == '\n') {
            r->p++;
            r->line++;
        }
        break;
    }
    if (err) {
        free(starts);
        skip_line(r);
        r->rec_len = (size_t)(r->p - r->rec);
        return -EINVAL;
    }
    r->rec_len = (size_t)(r->p - r->rec);
    if (n > r->capfields) {
        const char **nf = realloc(r->fields, n * sizeof(*nf));
        if (!nf) {
            free(starts);
            return -ENOMEM;
        }
        r->fields = nf;
        r->capfields = n;
    }
    for (size_t i = 0; i < n; i++)
        r->fields[i] = r->buf + starts[i];
    free(starts);
    *ret_fields = r->fields;
    *ret_n = n;
    return 1;
}
