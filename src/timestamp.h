/* timestamp.h - RFC 3339 times as microseconds since the Unix epoch (UTC).
 *
 * Event times decide the hour bucket and which pricing rule applies, so they
 * are parsed strictly: "2026-11-03T10:15:00Z", optional fraction of up to 9
 * digits (truncated to microseconds), offset "Z" or "+hh:mm"/"-hh:mm".
 * Pure functions, thread-safe.
 */
#ifndef CS_TIMESTAMP_H
#define CS_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#define CS_USEC_PER_SEC  INT64_C(1000000)
#define CS_USEC_PER_HOUR (INT64_C(3600) * CS_USEC_PER_SEC)
/* "2026-11-03T10:15:00.123456Z" plus NUL */
#define CS_TIMESTAMP_STRLEN 32

/* Parses len bytes of s.  Returns 0 and *ret_usec, or -EINVAL when the text
 * is not an RFC 3339 date-time or names an impossible date (2026-02-30),
 * -ERANGE for years outside 1970..9999. */
int cs_timestamp_parse(const char *s, size_t len, int64_t *ret_usec);

/* Writes usec as "YYYY-MM-DDTHH:MM:SSZ" (with ".ffffff" when it has a
 * fraction).  Returns the length, or -ENOSPC. */
int cs_timestamp_format(int64_t usec, char *buf, size_t size);

/* Parses a billing month: exactly "YYYY-MM", digits only, 1970-01 to
 * 9998-12 (so that the month's end is a valid time).  Returns 0 with the
 * first instant of the month and of the next in *ret_from and *ret_to, or
 * -EINVAL.  The one parser for the command line, the server and closing. */
int cs_timestamp_month(const char *s, int64_t *ret_from, int64_t *ret_to);

/* Returns the first instant of usec's UTC month (usec >= 0). */
int64_t cs_timestamp_month_start(int64_t usec);

/* Returns usec truncated to the start of its UTC hour. */
static inline int64_t cs_timestamp_hour(int64_t usec)
{
    return usec - (usec % CS_USEC_PER_HOUR);
}

#endif
