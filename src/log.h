/* log.h - structured logs: one JSON object per line on stdout.
 *
 *   {"time":"2026-11-03T10:15:00.123456Z","level":"info","msg":"...",
 *    "topic":"usage-events","partition":3}
 *
 * Library modules do not log; the command layer (worker, main) logs once per
 * event with context.  Thread-safe (one write(2) per line).
 */
#ifndef CS_LOG_H
#define CS_LOG_H

typedef enum cs_log_level { CS_LOG_DEBUG, CS_LOG_INFO, CS_LOG_WARN, CS_LOG_ERROR } cs_log_level;

/* Sets the minimum level written; name is debug, info, warn or error. */
void cs_log_set_level(const char *name);

/* Writes a line at level with message fmt and extra fields given as
 * alternating key and string value pointers, ended by NULL.  A value
 * starting with '#' followed by digits is written as a JSON number. */
void cs_log(cs_log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
