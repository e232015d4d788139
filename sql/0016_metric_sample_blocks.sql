-- Pending metric samples packed into blocks (src/pending.h): a flush writes
-- one row per settlement shard holding all of its batch's samples of that
-- shard, instead of one metric_samples_pending row per sample.  Writing,
-- indexing and deleting a row per sample was most of what settling a
-- sample cost PostgreSQL (docs/performance.md).
--
-- min_ts lets a settlement read only the blocks holding a sample below the
-- watermark; it settles those samples and writes the block's others back
-- as a new block, in the same transaction.  The data is not compressed
-- (STORAGE EXTERNAL): it is dense already, and read back soon.
--
-- metric_samples_pending stays: samples a worker of an earlier version
-- left there are settled from it, with the blocks' samples, until it is
-- empty.
CREATE TABLE metric_sample_blocks (
    id       bigserial   PRIMARY KEY,
    group_id text        NOT NULL,
    shard    smallint    NOT NULL CHECK (shard BETWEEN 0 AND 15),
    min_ts   timestamptz NOT NULL,
    max_ts   timestamptz NOT NULL,
    samples  integer     NOT NULL CHECK (samples > 0),
    data     bytea       NOT NULL
);
ALTER TABLE metric_sample_blocks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX metric_sample_blocks_shard ON metric_sample_blocks (group_id, shard, min_ts);
