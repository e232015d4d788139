/* series.c - see series.h. */
#include "series.h"

#include <errno.h>

#include "pricing.h"
#include "timestamp.h"

const char *cs_series_outcome_name(cs_series_outcome o)
{
    static const char *const names[CS_SERIES__COUNT] = {"baseline", "charged", "reset",
                                                        "duplicate", "late", "nan", "gap"};
    return (int)o >= 0 && o < CS_SERIES__COUNT ? names[o] : "unknown";
}

cs_series_outcome cs_series_apply(cs_series_state *st, cs_metric_kind kind, int64_t max_gap_usec,
                                  int64_t t, cs_sample_special special, cs_dec value,
                                  cs_dec *ret_usage)
{
    *ret_usage = cs_dec_zero();
    if (st->exists && t == st->last_usec)
        return CS_SERIES_DUPLICATE;
    if (st->exists && t < st->last_usec)
        return CS_SERIES_LATE;
    if (special != CS_SAMPLE_FINITE) {
        if (kind == CS_METRIC_KIND_GAUGE && st->exists) {
            st->has_value = false; /* the series is absent until its next sample */
            st->last_usec = t;
        }
        return CS_SERIES_NAN;
    }
    if (!st->exists || !st->has_value) {
        *st = (cs_series_state){true, true, t, value};
        return CS_SERIES_BASELINE;
    }
    cs_series_outcome out = CS_SERIES_CHARGED;
    if (kind == CS_METRIC_KIND_COUNTER) {
        if (cs_dec_cmp(value, st->last_value) < 0) {
            *ret_usage = value; /* reset: counted from zero again */
            out = CS_SERIES_RESET;
        } else {
            cs_dec_sub(value, st->last_value, ret_usage);
        }
    } else {
        int64_t dt = t - st->last_usec;
        if (dt > max_gap_usec) {
            out = CS_SERIES_GAP;
        } else {
            cs_dec seconds = {(cs_i128)dt * 1000000}; /* dt microseconds, exact */
            if (cs_dec_mul(st->last_value, seconds, ret_usage) < 0) {
                *ret_usage = cs_dec_zero();
                out = CS_SERIES_GAP; /* beyond the decimal range: not charged */
            }
        }
    }
    st->last_usec = t;
    st->last_value = value;
    return out;
}

/* Prices one charged increment into agg. */
static int charge(const cs_series_sample *x, cs_dec usage, cs_agg *agg)
{
    cs_dec qty;
    cs_price p;
    if (cs_dec_div_int(usage, x->unit_divisor, &qty) < 0 ||
        cs_pricing_cost(qty, x->unit_price, x->discount_rate, &p) < 0)
        return -ERANGE;
    cs_agg_key k = {.hour_usec = cs_timestamp_hour(x->time_usec),
                    .customer = x->customer,
                    .plan = x->plan,
                    .product = x->product,
                    .meter = x->meter,
                    .rule_id = x->rule_id,
                    .rules_version = x->rules_version,
                    .currency = x->currency,
                    .unit = x->unit,
                    .unit_price = x->unit_price,
                    .discount_rate = p.discount_rate};
    return cs_agg_add(agg, &k, qty, p.list_cost, p.discount, p.cost, NULL);
}

int cs_series_settle(cs_series_state *st, const cs_series_sample *samples, size_t n,
                     cs_agg *agg, uint64_t outcomes[CS_SERIES__COUNT])
{
    for (size_t i = 0; i < n; i++) {
        const cs_series_sample *x = &samples[i];
        cs_dec usage;
        cs_series_outcome o = cs_series_apply(st, x->kind, x->max_gap_usec, x->time_usec,
                                              x->special, x->value, &usage);
        outcomes[o]++;
        if (o == CS_SERIES_CHARGED || o == CS_SERIES_RESET) {
            int r = charge(x, usage, agg);
            if (r < 0)
                return r;
        }
    }
    return 0;
}
