/* signals.c - see signals.h. */
#include "signals.h"

#include <stddef.h>

static volatile sig_atomic_t *stop_flag, *reload_flag;

static void on_stop(int sig)
{
    (void)sig;
    *stop_flag = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    if (reload_flag)
        *reload_flag = 1;
}

void cs_signals_install(volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    struct sigaction sa = {0};
    stop_flag = stop;
    reload_flag = reload;
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
