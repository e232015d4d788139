/* series.h - counter and gauge semantics of one metric series (pure).
 *
 * Samples are applied in timestamp order to the series' state (last sample
 * time and value):
 *
 * counter  usage = value - last value; a decrease is a reset and the usage is
 *          the new value (as Prometheus's increase()).  NaN/Inf samples are
 *          skipped and leave the state as it was.
 * gauge    usage = last value x seconds since the last sample (the value
 *          holds until the next sample), unless that gap exceeds max_gap,
 *          which is not charged.  NaN (the staleness marker) and Inf end the
 *          series: the next sample is a new baseline.
 *
 * The first sample of a series, or the first after it was evicted, is its
 * baseline: never charged.  A sample not after the last one is a duplicate
 * (same time) or late (earlier), and is not charged.  docs/metric-streams.md
 * has a worked example.
 */
#ifndef CS_SERIES_H
#define CS_SERIES_H

#include <stdbool.h>
#include <stdint.h>

#include "agg.h"
#include "decimal.h"
#include "rules.h"
#include "sample.h"

typedef struct cs_series_state {
    bool exists;      /* a baseline has been seen */
    bool has_value;   /* false after a NaN/Inf ended a gauge */
    int64_t last_usec;
    cs_dec last_value;
} cs_series_state;

typedef enum cs_series_outcome {
    CS_SERIES_BASELINE,
    CS_SERIES_CHARGED,
    CS_SERIES_RESET,     /* counter reset; charged with the new value */
    CS_SERIES_DUPLICATE,
    CS_SERIES_LATE,
    CS_SERIES_NAN,       /* NaN or Inf: not charged */
    CS_SERIES_GAP,       /* gauge gap beyond max_gap: not charged */
    CS_SERIES__COUNT
} cs_series_outcome;

/* Stable name ("charged", "late", ...). */
const char *cs_series_outcome_name(cs_series_outcome o);

/* Applies one sample to *st.  *ret_usage receives the raw usage for
 * CHARGED and RESET (metric units, or units x seconds for gauges), zero
 * otherwise. */
cs_series_outcome cs_series_apply(cs_series_state *st, cs_metric_kind kind, int64_t max_gap_usec,
                                  int64_t time_usec, cs_sample_special special, cs_dec value,
                                  cs_dec *ret_usage);

/* One stored sample of a series, as settlement reads it back: the sample
 * and what ingestion resolved for it (rule, customer, price).  Strings are
 * borrowed from the caller for the duration of cs_series_settle(). */
typedef struct cs_series_sample {
    int64_t time_usec;
    cs_sample_special special;
    cs_dec value;              /* when special == CS_SAMPLE_FINITE */
    cs_metric_kind kind;
    int64_t unit_divisor;      /* raw usage / divisor = priced quantity (> 0) */
    int64_t max_gap_usec;
    const char *customer, *plan, *product, *meter, *rule_id, *rules_version, *currency, *unit;
    cs_dec unit_price, discount_rate;
} cs_series_sample;

/* Applies the samples of ONE series, already in settlement order (time,
 * then topic, partition, offset), to *st, and adds what they charge to agg:
 * the quantity (usage / unit_divisor, half-even at 12 decimals) priced at
 * the sample's unit price and discount, in the hour of the later sample of
 * each pair, for that sample's customer and plan.  outcomes[o] is raised
 * once per sample.  0, or -ERANGE (a cost beyond 38 digits) / -ENOMEM
 * from agg; on error *st, agg and outcomes are partly updated and the
 * caller abandons the whole settlement (its transaction rolls back). */
int cs_series_settle(cs_series_state *st, const cs_series_sample *samples, size_t n,
                     cs_agg *agg, uint64_t outcomes[CS_SERIES__COUNT]);

#endif
