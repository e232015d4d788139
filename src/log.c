/* log.c - JSON line logging (see log.h), built with jansson so that every
 * string is escaped correctly whatever it contains. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "timestamp.h"

static cs_log_level min_level = CS_LOG_INFO;

void cs_log_set_level(const char *name)
{
    if (!name)
        return;
    if (strcmp(name, "debug") == 0)
        min_level = CS_LOG_DEBUG;
    else if (strcmp(name, "warn") == 0)
        min_level = CS_LOG_WARN;
    else if (strcmp(name, "error") == 0)
        min_level = CS_LOG_ERROR;
    else
        min_level = CS_LOG_INFO;
}

void cs_log(cs_log_level level, const char *msg, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char ts[CS_TIMESTAMP_STRLEN];
    struct timeval tv;
    va_list ap;

    if (level < min_level)
        return;
    gettimeofday(&tv, NULL);
    cs_timestamp_format((int64_t)tv.tv_sec * CS_USEC_PER_SEC + tv.tv_usec, ts, sizeof(ts));
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "level", json_string(names[level]));
    json_object_set_new(o, "msg", json_string(msg));
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (!v)
            v = "";
        char *end;
        if (v[0] == '#' && v[1]) {
            long long n = strtoll(v + 1, &end, 10);
            if (!*end) {
                json_object_set_new(o, k, json_integer(n));
                continue;
            }
        }
        json_object_set_new(o, k, json_string(v));
    }
    va_end(ap);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return;
    size_t n = strlen(line);
    line[n] = '\n'; /* replace the NUL: one write per line */
    ssize_t w = write(STDOUT_FILENO, line, n + 1);
    (void)w;
    free(line);
}
