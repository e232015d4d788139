/* guard.h - connection limits that hold under hostile clients, for every
 * libmicrohttpd server of costream (adapter; the report server and the
 * workers' /metrics port).
 *
 * libmicrohttpd's own options give a total cap, a cap per client address
 * and an idle timeout that restarts with every byte received.  A client
 * sending one header line every few seconds ("slowloris") is never idle,
 * so on its own a few hundred of them hold every connection for as long
 * as they like.  The guard adds:
 *
 *   - a whole-request header deadline: a connection whose request line and
 *     headers are not complete header_timeout_s after it opened (or after
 *     its previous response ended, on a kept-alive connection) is shut
 *     down, however steadily it trickles;
 *   - room that stays free: once max_connections - reserve connections are
 *     open, each new one shuts down the oldest connection still sending its
 *     headers, so a health check or a scrape that sends its request at
 *     once always finds a place while attackers only trickle.
 *
 * A connection is shut down with shutdown(2); libmicrohttpd then sees the
 * end of its stream and closes it in its own thread.  libmicrohttpd tells
 * the guard a connection closed before it closes the socket, and the guard
 * touches a socket only under its lock while the connection is known, so
 * it never shuts down a reused descriptor.
 *
 * Thread safety: every callback may run on any of libmicrohttpd's threads;
 * one mutex guards the connection list.  The guard runs one thread of its
 * own, which wakes every 100 ms to enforce the deadline.
 */
#ifndef CS_GUARD_H
#define CS_GUARD_H

#include <microhttpd.h>
#include <stdint.h>

typedef struct cs_guard_limits {
    unsigned max_connections;  /* open connections at most (refused past it) */
    unsigned reserve;          /* kept free by evicting header senders */
    unsigned per_ip;           /* open connections per client address; 0: no cap */
    unsigned header_timeout_s; /* request line and headers complete within */
    unsigned idle_timeout_s;   /* a connection with nothing sent or received */
} cs_guard_limits;

/* What the guard has done, for logs and metrics. */
typedef struct cs_guard_stats {
    uint64_t open;      /* connections open now */
    uint64_t timed_out; /* shut down past the header deadline */
    uint64_t evicted;   /* shut down to keep the reserve free */
} cs_guard_stats;

typedef struct cs_guard cs_guard;

/* The reserve costream keeps for max_connections: an eighth of them, at
 * least 1 and at most 64 (0 when max_connections is 1). */
unsigned cs_guard_reserve(unsigned max_connections);

/* Starts a libmicrohttpd daemon with flags (an internal polling thread is
 * required) whose requests go to handler(cls, ...), bounded by limits;
 * completed(cls, ...) is called when a request ends (NULL: not wanted);
 * extra is a list of further options ending in MHD_OPTION_END (NULL: none).
 * Returns the guard, or NULL with errno set (-ENOMEM, or libmicrohttpd's
 * failure to listen). */
cs_guard *cs_guard_start(unsigned flags, const cs_guard_limits *limits,
                         MHD_AccessHandlerCallback handler,
                         MHD_RequestCompletedCallback completed, void *cls,
                         const struct MHD_OptionItem *extra);

/* The daemon, for MHD_get_daemon_info. */
struct MHD_Daemon *cs_guard_daemon(cs_guard *g);

void cs_guard_stats_get(cs_guard *g, cs_guard_stats *ret);

/* Stops the daemon (closing every connection), then the guard's thread;
 * NULL allowed. */
void cs_guard_stop(cs_guard *g);

#endif
