/* utf8.c - UTF-8 validation and escaping (see utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t cs_utf8_seq_len(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    if (len == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n >= len) /* the sequence's last byte would be at n */
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n + 1;
}

int cs_utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint64_t word;
        if (len - i >= 8 && (memcpy(&word, s + i, 8), (word & UINT64_C(0x8080808080808080)) == 0)) {
            i += 8; /* eight ASCII bytes at once: most messages are all ASCII */
            continue;
        }
        if ((unsigned char)s[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        size_t n = cs_utf8_seq_len(s + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t cs_utf8_escape(char *dst, size_t size, const char *src, size_t len, int *ret_cut)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, o = 0, escaped = 0;
    while (i < len) {
        size_t n = src[i] ? cs_utf8_seq_len(src + i, len - i) : 0;
        if (n > 0) {
            if (o + n >= size)
                break;
            memcpy(dst + o, src + i, n);
            o += n;
            i += n;
            continue;
        }
        if (o + 4 >= size)
            break;
        unsigned char b = (unsigned char)src[i++];
        dst[o++] = '\\';
        dst[o++] = 'x';
        dst[o++] = hex[b >> 4];
        dst[o++] = hex[b & 15];
        escaped++;
    }
    dst[o] = '\0';
    if (ret_cut)
        *ret_cut = i < len;
    return escaped;
}

int cs_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return (int)len;
    size_t n = max; /* s[n] is the first byte not shown: back up to a lead byte */
    for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; k++)
        n--;
    return (int)n;
}
