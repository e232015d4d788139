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
#include <stdint.h>
#include <string.h>

#include "hex.h"

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

static int hex4(const char *t, size_t i, size_t end)
{
    int v = 0;
    if (i + 4 > end)
        return -1;
    for (size_t j = 0; j < 4; j++) {
        int h = cs_hex_digit(t[i + j]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Encodes code point cp as UTF-8 into out; returns the length. */
static size_t utf8_put(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Does the JSON string token t[i..end) (with quotes) spell key?  Escapes,
 * \u sequences and surrogate pairs included, are decoded to UTF-8 first. */
static bool key_equals(const char *t, size_t i, size_t end, const char *key)
{
    size_t k = 0, klen = strlen(key);
    end--; /* closing quote */
    for (i++; i < end; i++) {
        char buf[4];
        size_t n = 1;
        buf[0] = t[i];
        if (t[i] == '\\') {
            char e = t[++i];
            switch (e) {
            case '"': case '\\': case '/': buf[0] = e; break;
            case 'b': buf[0] = '\b'; break;
            case 'f': buf[0] = '\f'; break;
            case 'n': buf[0] = '\n'; break;
            case 'r': buf[0] = '\r'; break;
            case 't': buf[0] = '\t'; break;
            case 'u': {
                int v = hex4(t, i + 1, end);
                if (v < 0)
                    return false;
                i += 4;
                uint32_t cp = (uint32_t)v;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (i + 2 >= end || t[i + 1] != '\\' || t[i + 2] != 'u')
                        return false;
                    int lo = hex4(t, i + 3, end);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return false;
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
                    i += 6;
                }
                n = utf8_put(cp, buf);
                break;
            }
            default:
                return false;
            }
        }
        if (k + n > klen || memcmp(key + k, buf, n) != 0)
            return false;
        k += n;
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
