-- Metric settlement, sharded and gap-proof.
--
-- Shards: settlement runs per shard of the series space, shard =
-- get_byte(series_id, 0) % 16, each shard in its own transaction under its
-- own advisory lock, so the workers of a group settle different shards at
-- the same time.  A series lives in exactly one shard, and the watermark is
-- the group's, so settling shard by shard gives the same result as settling
-- everything at once.
--
-- Kind: a counter's last value is what its next sample is charged against,
-- so counters are kept far longer than gauges (metrics.counter_retention_hours)
-- before they are forgotten; a counter that comes back after an outage is
-- charged across the gap instead of starting from a new baseline.  Rows from
-- before this migration are treated as counters: kept, not lost.

ALTER TABLE metric_series ADD COLUMN kind text NOT NULL DEFAULT 'counter'
    CHECK (kind IN ('counter', 'gauge'));

CREATE INDEX metric_samples_pending_shard
    ON metric_samples_pending (group_id, (get_byte(series_id, 0) % 16), ts);
CREATE INDEX metric_series_shard
    ON metric_series (group_id, (get_byte(series_id, 0) % 16), kind, last_ts);
DROP INDEX metric_samples_pending_ts;
DROP INDEX metric_series_last_ts;
