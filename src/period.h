/* period.h - closing and reopening billing months, deliberately (edge:
 * PostgreSQL).
 *
 * A closed month's reports never change; usage that arrives later for it
 * is billed in the next open month as a correction (docs/reports.md).
 * Closing is deliberate: a month without usage, or another month than the
 * last finished one, is closed only when the caller says yes.  Reopening
 * undoes a mistaken close (the frozen customer names go; corrections
 * already billed in later months stay where they are), unless a FOCUS
 * export of the month was downloaded since it was closed (a customer may
 * have billed from it), which needs force.  Every close, reopen and FOCUS
 * export is recorded in period_log with who (actor) and when.
 *
 * Return values: 0; -EINVAL (not a month, or not ended); -EALREADY
 * (already closed / not closed); -EPERM (needs yes or force; err says
 * why); or an error class of store.h.  err is always filled on failure.
 * Not thread-safe per cs_store.
 */
#ifndef CS_PERIOD_H
#define CS_PERIOD_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

int cs_period_close(cs_store *s, const char *period, const char *actor, bool yes, char *err,
                    size_t errsize);
int cs_period_reopen(cs_store *s, const char *period, const char *actor, bool force, char *err,
                     size_t errsize);

/* Records that a FOCUS export of period ("YYYY-MM...") was handed out. */
int cs_period_record_export(cs_store *s, const char *period, const char *actor, char *err,
                            size_t errsize);

/* Calls fn with (period, action, at, actor, detail) for every recorded
 * close, reopen and export, oldest first. */
int cs_period_history(cs_store *s, void (*fn)(void *opaque, const char *const *cols),
                      void *opaque, char *err, size_t errsize);

#endif
