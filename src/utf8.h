/* utf8.h - UTF-8 validation, and the one rule for turning arbitrary bytes
 * into text that PostgreSQL (or a log line, a CSV cell) always accepts.
 *
 * Every string costream writes as text is either validated where it enters
 * (decoders reject invalid UTF-8 in identity fields) or passed through
 * cs_utf8_escape(): bytes that are not part of a valid UTF-8 sequence are
 * shown as the four characters \xNN, and a string cut to fit a buffer is cut
 * only between characters.  The result is always valid UTF-8 without NUL.
 * Pure module; no state; thread-safe.
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

/* 1 if the len bytes at s are valid UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF), else 0.  NUL bytes are valid UTF-8. */
int cs_utf8_valid(const char *s, size_t len);

/* Length (1 to 4) of the valid UTF-8 sequence that starts s[0..len), or 0
 * when s does not start with one (len 0, a stray continuation byte, an
 * overlong or truncated sequence). */
size_t cs_utf8_seq_len(const char *s, size_t len);

/* Copies src[0..len) into dst (capacity size >= 1, always NUL-terminated),
 * each byte outside a valid sequence (and each NUL) written as "\xNN", and
 * stopping at the last whole character or escape that fits.  Returns the
 * number of bytes escaped; *ret_cut (may be NULL) is set to 1 when src did
 * not fit, else 0. */
size_t cs_utf8_escape(char *dst, size_t size, const char *src, size_t len, int *ret_cut);

/* How many of the len bytes at s to print so that at most max bytes are
 * shown and no character is cut: for "%.*s". */
int cs_utf8_prefix(const char *s, size_t len, size_t max);

#endif
