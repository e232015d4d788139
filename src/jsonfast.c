/* jsonfast.c - the pull parser (see jsonfast.h).  Grammar as RFC 8259; the
 * caller has already checked that the text is valid UTF-8. */
#include "jsonfast.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define GIVE_UP CS_JF_GIVE_UP

void cs_jf_init(cs_jf *j, const char *text, size_t len, char *buf, size_t cap)
{
    *j = (cs_jf){text, text + len, buf, cap, 0, 0, 0};
}

static void ws(cs_jf *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static bool take(cs_jf *j, char c)
{
    ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p, unsigned *ret)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return GIVE_UP;
    }
    *ret = v;
    return 0;
}

static int put(cs_jf *j, const char *s, size_t n)
{
    if (n > j->cap - j->used)
        return GIVE_UP;
    memcpy(j->buf + j->used, s, n);
    j->used += n;
    return 0;
}

/* \uXXXX (and its low surrogate) at j->p, after the backslash and 'u'. */
static int unicode(cs_jf *j)
{
    unsigned cp, lo;
    if (j->end - j->p < 4 || hex4(j->p, &cp) < 0)
        return GIVE_UP;
    j->p += 4;
    if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
        return GIVE_UP; /* \u0000, a lone low surrogate: jansson says why */
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) < 0 ||
            lo < 0xdc00 || lo > 0xdfff)
            return GIVE_UP;
        j->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return put(j, u, n);
}

/* A string whose opening quote was read: unescaped into the buffer. */
static int string(cs_jf *j, cs_jf_value *ret)
{
    size_t start = j->used;
    for (;;) {
        const char *q = j->p;
        while (q < j->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
            q++;
        if (q == j->end || (unsigned char)*q < 0x20)
            return GIVE_UP;
        if (put(j, j->p, (size_t)(q - j->p)) < 0)
            return GIVE_UP;
        j->p = q + 1;
        if (*q == '"')
            break;
        if (j->p == j->end)
            return GIVE_UP;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e = strchr(from, *j->p);
        if (*j->p == 'u') {
            j->p++;
            if (unicode(j) < 0)
                return GIVE_UP;
        } else if (e && *j->p) {
            if (put(j, &to[e - from], 1) < 0)
                return GIVE_UP;
            j->p++;
        } else {
            return GIVE_UP;
        }
    }
    *ret = (cs_jf_value){CS_JF_STRING, j->buf + start, j->used - start};
    return 0;
}

static bool digit(const cs_jf *j)
{
    return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

static int number(cs_jf *j, cs_jf_value *ret)
{
    const char *s = j->p;
    if (*j->p == '-')
        j->p++;
    if (!digit(j))
        return GIVE_UP;
    if (*j->p == '0')
        j->p++;
    else
        while (digit(j))
            j->p++;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!digit(j))
            return GIVE_UP;
        while (digit(j))
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!digit(j))
            return GIVE_UP;
        while (digit(j))
            j->p++;
    }
    *ret = (cs_jf_value){CS_JF_NUMBER, s, (size_t)(j->p - s)};
    return 0;
}

static int literal(cs_jf *j, const char *word, cs_jf_kind kind, cs_jf_value *ret)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return GIVE_UP;
    j->p += n;
    *ret = (cs_jf_value){kind, NULL, 0};
    return 0;
}

int cs_jf_value_read(cs_jf *j, cs_jf_value *ret)
{
    ws(j);
    if (j->p == j->end)
        return GIVE_UP;
    switch (*j->p) {
    case '"':
        j->p++;
        return string(j, ret);
    case '{':
    case '[':
        if (++j->depth > CS_JF_MAX_DEPTH)
            return GIVE_UP;
        *ret = (cs_jf_value){*j->p == '{' ? CS_JF_OBJECT : CS_JF_ARRAY, NULL, 0};
        j->p++;
        j->first = 1;
        return 0;
    case 't': return literal(j, "true", CS_JF_TRUE, ret);
    case 'f': return literal(j, "false", CS_JF_FALSE, ret);
    case 'n': return literal(j, "null", CS_JF_NULL, ret);
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return number(j, ret);
        return GIVE_UP;
    }
}

int cs_jf_key(cs_jf *j, cs_jf_value *ret)
{
    bool first = j->first;
    j->first = 0;
    if (take(j, '}')) {
        j->depth--;
        return 0;
    }
    if (!first && !take(j, ','))
        return GIVE_UP;
    if (!take(j, '"') || string(j, ret) < 0 || !take(j, ':'))
        return GIVE_UP;
    return 1;
}

int cs_jf_skip_rest(cs_jf *j, cs_jf_kind kind)
{
    if (kind != CS_JF_ARRAY)
        return GIVE_UP; /* an object's keys would need checking for duplicates */
    size_t mark = j->used; /* skipped strings need no room */
    bool first[CS_JF_MAX_DEPTH + 2];
    int base = j->depth;
    first[0] = true;
    while (j->depth >= base) {
        int k = j->depth - base;
        if (take(j, ']')) {
            j->depth--;
            continue;
        }
        if (!first[k] && !take(j, ','))
            return GIVE_UP;
        first[k] = false;
        cs_jf_value v;
        if (cs_jf_value_read(j, &v) < 0 || v.kind == CS_JF_OBJECT)
            return GIVE_UP;
        if (v.kind == CS_JF_ARRAY)
            first[j->depth - base] = true;
        j->used = mark;
    }
    j->first = 0;
    return 0;
}

int cs_jf_key_new(const cs_jf_value *k, cs_jf_value *keys, size_t *n, size_t max)
{
    if (*n == max)
        return GIVE_UP;
    for (size_t i = 0; i < *n; i++)
        if (keys[i].n == k->n && memcmp(keys[i].p, k->p, k->n) == 0)
            return GIVE_UP;
    keys[(*n)++] = *k;
    return 0;
}

int cs_jf_end(cs_jf *j)
{
    ws(j);
    return j->p == j->end ? 0 : GIVE_UP;
}
