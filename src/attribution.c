/* attribution.c - attribution texts (see attribution.h). */
#include "attribution.h"

#include <errno.h>
#include <string.h>

#define SEP '\x1f'

int cs_attribution_format(char *const *order, size_t norder, const cs_label *labels, size_t n,
                          char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return -ENOSPC;
    buf[0] = '\0';
    for (size_t i = 0; i < norder; i++)
        for (size_t k = 0; k < n; k++) {
            if (strcmp(labels[k].name, order[i]) != 0)
                continue;
            const char *v = labels[k].value;
            if (strpbrk(v, "\x1f\n\r") || strchr(order[i], '='))
                return 0; /* not representable: stays unattributed for good */
            size_t need = (used ? 1 : 0) + strlen(order[i]) + 1 + strlen(v);
            if (used + need >= size)
                return -ENOSPC;
            if (used)
                buf[used++] = SEP;
            used += (size_t)(stpcpy(buf + used, order[i]) - (buf + used));
            buf[used++] = '=';
            used += (size_t)(stpcpy(buf + used, v) - (buf + used));
            break;
        }
    buf[used] = '\0';
    return (int)used;
}

int cs_attribution_parse(const char *text, cs_label *ret, size_t max, char *scratch)
{
    size_t n = 0;
    strcpy(scratch, text);
    for (char *p = scratch; *p;) {
        char *end = strchr(p, SEP), *eq = strchr(p, '=');
        if (end)
            *end = '\0';
        if (!eq || eq == p || n == max)
            return -EINVAL;
        *eq = '\0';
        ret[n++] = (cs_label){p, eq + 1};
        p = end ? end + 1 : p + strlen(p);
        if (end && !*p)
            return -EINVAL; /* a trailing separator */
    }
    return (int)n;
}
