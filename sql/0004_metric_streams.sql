-- Infrastructure metric streams.  Samples are first stored as pending, in
-- the flush transaction together with the Kafka offsets (exactly-once
-- ingestion).  A settlement transaction later takes every pending sample
-- older than the group's watermark (the slowest partition's newest sample
-- time), applies them per series in timestamp order to the series' state,
-- and adds the resulting costs to usage_cost, all at once.  Since one series
-- can arrive on several partitions, settling only below the watermark is what
-- makes the result independent of which worker read what, and when.

CREATE TABLE metric_samples_pending (
    id            bigserial      PRIMARY KEY,
    group_id      text           NOT NULL,
    series_id     bytea          NOT NULL,  -- SHA-256 of the canonical series text
    series        text           NOT NULL,
    ts            timestamptz    NOT NULL,
    value         NUMERIC(38,12),           -- NULL for NaN and infinities
    special       text,                     -- 'NaN', '+Inf', '-Inf'
    kind          text           NOT NULL CHECK (kind IN ('counter', 'gauge')),
    unit_divisor  bigint         NOT NULL,
    max_gap_us    bigint         NOT NULL,
    customer      text           NOT NULL,
    plan          text           NOT NULL,
    product       text           NOT NULL,
    meter         text           NOT NULL,
    rule_id       text           NOT NULL,
    rules_version text           NOT NULL,
    currency      char(3)        NOT NULL,
    unit          text           NOT NULL,
    unit_price    NUMERIC(38,12) NOT NULL,
    discount_rate NUMERIC(38,12) NOT NULL,
    topic         text           NOT NULL,
    partition     integer        NOT NULL,
    "offset"      bigint         NOT NULL
);
CREATE INDEX metric_samples_pending_ts ON metric_samples_pending (group_id, ts);

-- Last settled sample of every live series.
CREATE TABLE metric_series (
    group_id   text           NOT NULL,
    series_id  bytea          NOT NULL,
    series     text           NOT NULL,
    last_ts    timestamptz    NOT NULL,
    last_value NUMERIC(38,12),           -- NULL: absent since a NaN (gauges)
    updated_at timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, series_id)
);
CREATE INDEX metric_series_last_ts ON metric_series (group_id, last_ts);

-- Newest sample time seen on every partition of the metric topics.
CREATE TABLE metric_watermarks (
    group_id   text        NOT NULL,
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    max_ts     timestamptz,              -- NULL until the partition's first sample
    advanced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
