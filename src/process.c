/* process.c - reads /proc/self/{stat,statm,fd} and /proc/stat's btime.
 * Fields of /proc/self/stat are counted after the command name's closing
 * parenthesis, since the name itself may contain spaces. */
#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int cs_process_sample(cs_process_stats *ret)
{
    char buf[2048];
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    memset(ret, 0, sizeof(*ret));

    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0, start = 0;
    /* after ") ": state(3) ... utime(14) stime(15) ... starttime(22) */
    if (p && sscanf(p + 2,
                    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu",
                    &utime, &stime, &start) == 3 && ticks > 0) {
        ret->cpu_usec = (int64_t)((utime + stime) * 1000000ULL / (unsigned long long)ticks);
        f = fopen("/proc/stat", "r");
        if (f) {
            unsigned long long btime = 0;
            while (fgets(buf, sizeof(buf), f))
                if (sscanf(buf, "btime %llu", &btime) == 1)
                    break;
            fclose(f);
            ret->start_time_sec = (int64_t)(btime + start / (unsigned long long)ticks);
        }
    }
    f = fopen("/proc/self/statm", "r");
    if (f) {
        long size, resident;
        if (fscanf(f, "%ld %ld", &size, &resident) == 2)
            ret->rss_bytes = (int64_t)resident * page;
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                ret->open_fds++;
        closedir(d);
        ret->open_fds--; /* the directory stream itself */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        ret->max_fds = (int64_t)rl.rlim_cur;
    return 0;
}
