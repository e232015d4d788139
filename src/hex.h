/* hex.h - bytes as lowercase hexadecimal digits and back (pure,
 * header-only).  Used for series ids and fingerprints in PostgreSQL's text
 * formats, tokens, and the escapes of URLs and JSON. */
#ifndef CS_HEX_H
#define CS_HEX_H

#include <stddef.h>

/* Writes the 2n lowercase digits of in[0..n) and a NUL to out (2n + 1
 * bytes). */
static inline void cs_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The value of one hex digit (either case), or -1. */
static inline int cs_hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Reads n bytes from the 2n digits at in into out.  0, or -1 if one of
 * them is not a hex digit (a NUL included: in may be shorter). */
static inline int cs_hex_decode(const char *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = cs_hex_digit(in[2 * i]), lo = hi < 0 ? -1 : cs_hex_digit(in[2 * i + 1]);
        if (lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

#endif
