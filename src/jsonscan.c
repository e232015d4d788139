/* jsonscan.c - a read-only walker over JSON text (see jsonscan.h).
 *
 * Every function takes the text, its length and a position, and returns the
 * position just past what it read, or (size_t)-1 on malformed input.  The
 * walker is iterative over members and recursive over nesting, bounded by
 * MAX_DEPTH so that hostile input cannot exhaust the stack.
 */
#include "jsonscan.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define BAD ((size_t)-1)
#define MAX_DEPTH 64

static size_t skip_ws(const char *t, size_t n, size_t i)
{
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *t, size_t n, size_t i)
{
    if (i >= n || t[i] != '"')
        return BAD;
    for (i++; i < n; i++) {
        if (t[i] == '\\')
            i++;
        else if (t[i] == '"')
            return i + 1;
    }
    return BAD;
}

static size_t skip_value(const char *t, size_t n, size_t i, int depth)
{
    if (depth > MAX_DEPTH)
        return BAD;
    i = skip_ws(t, n, i);
    if (i >= n)
        return BAD;
    if (t[i] == '"')
        return skip_string(t, n, i);
    if (t[i] == '{' || t[i] == '[') {
        char close = t[i] == '{' ? '}' : ']';
        bool obj = t[i] == '{';
        i = skip_ws(t, n, i + 1);
        if (i < n && t[i] == close)
            return i + 1;
        for (;;) {
            if (obj) {
                i = skip_string(t, n, skip_ws(t, n, i));
                if (i == BAD)
                    return BAD;
                i = skip_ws(t, n, i);
                if (i >= n || t[i] != ':')
                    return BAD;
                i++;
            }
            i = skip_value(t, n, i, depth + 1);
            if (i == BAD)
                return BAD;
            i = skip_ws(t, n, i);
            if (i < n && t[i] == ',') {
                i++;
                continue;
            }
            if (i < n && t[i] == close)
                return i + 1;
            return BAD;
        }
    }
    /* number, true, false, null */
    size_t start = i;
    while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' &&
           t[i] != '\t' && t[i] != '\n' && t[i] != '\r')
        i++;
    return i > start ? i : BAD;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Does the JSON string token t[i..end) (with quotes) spell key?  Escapes of
 * ASCII characters are decoded; any other escape never matches. */
static bool key_equals(const char *t, size_t i, size_t end, const char *key)
{
    size_t k = 0, klen = strlen(key);
    for (i++; i < end - 1; i++) {
        char c = t[i];
        if (c == '\\') {
            char e = t[++i];
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                if (i + 4 >= end)
                    return false;
                int v = 0;
                for (int j = 1; j <= 4; j++) {
                    int h = hexval(t[i + (size_t)j]);
                    if (h < 0)
                        return false;
                    v = v * 16 + h;
                }
                if (v == 0 || v > 0x7f)
                    return false;
                c = (char)v;
                i += 4;
                break;
            }
            default:
                return false;
            }
        }
        if (k >= klen || key[k] != c)
            return false;
        k++;
    }
    return k == klen;
}

int cs_jsonscan_find(const char *text, size_t len, const cs_jsonscan_step *path,
                     size_t depth, size_t *ret_offset, size_t *ret_len)
{
    size_t i = skip_ws(text, len, 0);

    for (size_t d = 0; d < depth; d++) {
        const cs_jsonscan_step *st = &path[d];
        size_t found = BAD;
        if (i >= len)
            return -EINVAL;
        if (st->key) {
            if (text[i] != '{')
                return -ENOENT;
            i = skip_ws(text, len, i + 1);
            if (i < len && text[i] == '}')
                return -ENOENT;
            for (;;) {
                size_t ks = skip_ws(text, len, i);
                size_t ke = skip_string(text, len, ks);
                if (ke == BAD)
                    return -EINVAL;
                i = skip_ws(text, len, ke);
                if (i >= len || text[i] != ':')
                    return -EINVAL;
                size_t vs = skip_ws(text, len, i + 1);
                size_t ve = skip_value(text, len, vs, 0);
                if (ve == BAD)
                    return -EINVAL;
                if (key_equals(text, ks, ke, st->key))
                    found = vs; /* last duplicate wins */
                i = skip_ws(text, len, ve);
                if (i < len && text[i] == ',') {
                    i++;
                    continue;
                }
                if (i < len && text[i] == '}')
                    break;
                return -EINVAL;
            }
        } else {
            if (text[i] != '[')
                return -ENOENT;
            i = skip_ws(text, len, i + 1);
            if (i < len && text[i] == ']')
                return -ENOENT;
            for (size_t idx = 0;; idx++) {
                size_t vs = skip_ws(text, len, i);
                size_t ve = skip_value(text, len, vs, 0);
                if (ve == BAD)
                    return -EINVAL;
                if (idx == st->index) {
                    found = vs;
                    break;
                }
                i = skip_ws(text, len, ve);
                if (i < len && text[i] == ',') {
                    i++;
                    continue;
                }
                if (i < len && text[i] == ']')
                    break;
                return -EINVAL;
            }
        }
        if (found == BAD)
            return -ENOENT;
        i = found;
    }
    size_t end = skip_value(text, len, i, 0);
    if (end == BAD)
        return -EINVAL;
    *ret_offset = i;
    *ret_len = end - i;
    return 0;
}

void cs_jsonscan_linecol(const char *text, size_t len, size_t offset, int *ret_line,
                         int *ret_col)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    *ret_line = line;
    *ret_col = col;
}
