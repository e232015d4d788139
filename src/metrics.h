/* metrics.h - an in-process metrics registry with Prometheus text and
 * OpenMetrics exposition.
 *
 * Families (counter, gauge, histogram) have fixed label names; series are
 * created on first use by their label values.  Every value is an exact
 * cs_dec, so money counters are exposed to the last digit and no binary
 * floating point is involved.  Label values are escaped per the format
 * (backslash, double quote, newline).
 *
 * Cardinality guard: a family may cap the number of distinct values of one
 * label (the customer).  Values seen once the cap is reached are folded into
 * the value "other"; admission is first come, first served, and callers
 * pre-admit the largest customers at start (see docs/metrics.md), so the
 * folded ones are the smallest and counters stay monotonic.  The number of
 * folded values is exposed by the caller from cs_metrics_family_folded().
 *
 * Thread-safety: every function takes the registry's mutex; the worker
 * updates while the HTTP thread renders.
 */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>

#include "decimal.h"

#define CS_METRICS_MAX_LABELS 8
#define CS_METRICS_OTHER "other"

typedef enum cs_metric_type {
    CS_METRIC_COUNTER,
    CS_METRIC_GAUGE,
    CS_METRIC_HISTOGRAM,
} cs_metric_type;

typedef struct cs_metrics cs_metrics;
typedef struct cs_metric_family cs_metric_family;
typedef struct cs_metric_series cs_metric_series;

cs_metrics *cs_metrics_new(void);
void cs_metrics_free(cs_metrics *m); /* NULL allowed */

/* Registers a family.  name is the full Prometheus name (counters end in
 * _total).  buckets (histograms only) are upper bounds in ascending order,
 * +Inf is implied.  Returns the family (owned by the registry), or NULL on
 * allocation failure or a bad definition. */
cs_metric_family *cs_metrics_family(cs_metrics *m, const char *name, const char *help,
                                    cs_metric_type type, const char *const *label_names,
                                    size_t nlabels, const cs_dec *buckets, size_t nbuckets);

/* Caps the distinct values of label index `label` at max_values (including
 * "other"); 0 removes the cap. */
void cs_metrics_family_cap(cs_metric_family *f, size_t label, size_t max_values);

/* Admits a value of the capped label (while room is left) without creating
 * a series, so that it is never folded.  Returns 1 if admitted or already
 * known, 0 if the cap is reached. */
int cs_metrics_family_admit(cs_metric_family *f, const char *value);

/* Distinct values folded into "other" so far. */
size_t cs_metrics_family_folded(cs_metric_family *f);

/* Adds v to the counter or gauge series with these label values. */
int cs_metrics_add(cs_metric_family *f, const char *const *values, cs_dec v);
/* The series with these label values (after the cardinality fold), created
 * if new, as a handle for cs_metrics_series_add(): the same series
 * cs_metrics_add() with these values would update.  Valid until
 * cs_metrics_family_reset(f) or cs_metrics_free(); NULL on allocation
 * failure.  For callers that update the same series many times (the
 * worker's cost counters, four per stored row). */
cs_metric_series *cs_metrics_series(cs_metric_family *f, const char *const *values);
/* Adds v to a counter or gauge series returned by cs_metrics_series(f, ...).
 * 0, or -ERANGE if the sum would overflow (nothing added then). */
int cs_metrics_series_add(cs_metric_family *f, cs_metric_series *s, cs_dec v);
/* Sets a gauge. */
int cs_metrics_set(cs_metric_family *f, const char *const *values, cs_dec v);
/* Records one histogram observation. */
int cs_metrics_observe(cs_metric_family *f, const char *const *values, cs_dec v);
/* Removes every series of a family (for gauges rebuilt from a query). */
void cs_metrics_family_reset(cs_metric_family *f);

/* Renders every family.  openmetrics selects OpenMetrics 1.0 text (ending in
 * "# EOF") instead of the Prometheus text format 0.0.4.  *ret_buf is
 * malloc'd, owned by the caller.  Returns 0 or -ENOMEM. */
int cs_metrics_render(cs_metrics *m, int openmetrics, char **ret_buf, size_t *ret_len);

/* Appends s to out escaped as a label value. */
void cs_metrics_escape(const char *s, char *out, size_t size);

#endif
