/* process.h - the process's own resource usage, from /proc (Linux). */
#ifndef CS_PROCESS_H
#define CS_PROCESS_H

#include <stdint.h>

typedef struct cs_process_stats {
    int64_t cpu_usec;        /* user + system CPU time */
    int64_t rss_bytes;       /* resident set size */
    int64_t open_fds;
    int64_t max_fds;         /* soft RLIMIT_NOFILE */
    int64_t start_time_sec;  /* Unix time the process started */
} cs_process_stats;

/* Samples the calling process.  Returns 0, or -errno if /proc is not
 * readable (fields then stay 0). */
int cs_process_sample(cs_process_stats *ret);

#endif
