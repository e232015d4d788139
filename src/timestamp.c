/* timestamp.c - strict RFC 3339 parsing without the C library's time zone
 * state: days are counted from the civil date directly (Howard Hinnant's
 * days_from_civil algorithm), so the result never depends on TZ. */
#include "timestamp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *ry, int *rm, int *rd)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *ry = (int)(y + (m <= 2));
    *rm = m;
    *rd = d;
}

static bool num(const char *s, size_t len, size_t at, int n, int *ret)
{
    int v = 0;
    if (at + (size_t)n > len)
        return false;
    for (int i = 0; i < n; i++) {
        char c = s[at + (size_t)i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *ret = v;
    return true;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dim[m - 1];
}

int cs_timestamp_parse(const char *s, size_t len, int64_t *ret_usec)
{
    int y, mo, d, h, mi, sec;
    size_t i;

    if (!s || !num(s, len, 0, 4, &y) || len < 20 || s[4] != '-' ||
        !num(s, len, 5, 2, &mo) || s[7] != '-' || !num(s, len, 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !num(s, len, 11, 2, &h) || s[13] != ':' || !num(s, len, 14, 2, &mi) ||
        s[16] != ':' || !num(s, len, 17, 2, &sec))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return -EINVAL;
    if (sec == 60) /* leap second: counted as the last second of the minute */
        sec = 59;
    if (y < 1970)
        return -ERANGE;
    i = 19;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        int n = 0;
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
            if (n < 6)
                frac = frac * 10 + (s[i] - '0');
        }
        if (n == 0 || n > 9)
            return -EINVAL;
        for (; n < 6; n++)
            frac *= 10;
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        bool neg = s[i] == '-';
        if (!num(s, len, i + 1, 2, &oh) || i + 3 >= len || s[i + 3] != ':' ||
            !num(s, len, i + 4, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        off = (int64_t)(oh * 60 + om) * 60;
        if (neg)
            off = -off;
        i += 6;
    } else {
        return -EINVAL;
    }
    if (i != len)
        return -EINVAL;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (secs < 0)
        return -ERANGE;
    *ret_usec = secs * CS_USEC_PER_SEC + frac;
    return 0;
}

int cs_timestamp_format(int64_t usec, char *buf, size_t size)
{
    int64_t secs = usec / CS_USEC_PER_SEC, frac = usec % CS_USEC_PER_SEC;
    int64_t days = secs / 86400, rem = secs % 86400;
    int y, m, d, n;

    civil_from_days(days, &y, &m, &d);
    if (frac)
        n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)frac);
    else
        n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
    if (n < 0 || (size_t)n >= size)
        return -ENOSPC;
    return n;
}

int64_t cs_timestamp_month_start(int64_t usec)
{
    int y, m, d;
    civil_from_days(usec / CS_USEC_PER_SEC / 86400, &y, &m, &d);
    return days_from_civil(y, m, 1) * 86400 * CS_USEC_PER_SEC;
}

int cs_timestamp_month(const char *s, int64_t *ret_from, int64_t *ret_to)
{
    static const char shape[] = "dddd-dd";
    for (size_t i = 0; i < sizeof(shape) - 1; i++)
        if (!s[i] || (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != '-'))
            return -EINVAL;
    if (s[7])
        return -EINVAL;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    if (y < 1970 || y > 9998 || m < 1 || m > 12)
        return -EINVAL;
    char from[32], to[32];
    snprintf(from, sizeof(from), "%04d-%02d-01T00:00:00Z", y, m);
    snprintf(to, sizeof(to), "%04d-%02d-01T00:00:00Z", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
    if (cs_timestamp_parse(from, strlen(from), ret_from) < 0 ||
        cs_timestamp_parse(to, strlen(to), ret_to) < 0)
        return -EINVAL;
    return 0;
}
