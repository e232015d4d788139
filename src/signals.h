/* signals.h - the signal handling every costream executable shares:
 * SIGTERM and SIGINT set *stop, SIGHUP sets *reload (when given), SIGPIPE
 * is ignored (a client that goes away is an error return, not a death).
 * Call once per process, from main. */
#ifndef CS_SIGNALS_H
#define CS_SIGNALS_H

#include <signal.h>

void cs_signals_install(volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

#endif
