-- De-duplication without a row per event.  Each flush stores, per event
-- hour, one row holding the 16-byte fingerprints (the first 16 bytes of
-- SHA-256(source || NUL || id)) of the events it counted, packed.  Workers
-- keep the fingerprints of the hours they see in memory; a flush takes an
-- advisory lock per (group, hour) and reads the rows other workers stored
-- since, so an event is counted once per group whichever worker and
-- partition it comes through (docs/formats.md#duplicates).  Rows older than
-- dedup.window_hours are pruned.
CREATE TABLE event_fingerprints (
    group_id   text        NOT NULL,
    hour       timestamptz NOT NULL,  -- '-infinity': converted from event_ids (hour unknown)
    seq        bigserial   NOT NULL,  -- per hour, rows commit in seq order (the lock)
    fps        bytea       NOT NULL CHECK (octet_length(fps) % 16 = 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, hour, seq)
);
CREATE INDEX event_fingerprints_created ON event_fingerprints (group_id, created_at);

-- the ids counted before this migration keep being duplicates
INSERT INTO event_fingerprints (group_id, hour, fps, created_at)
SELECT group_id, '-infinity',
       string_agg(substring(sha256(convert_to(source, 'UTF8') || '\x00'::bytea || convert_to(id, 'UTF8'))
                            FROM 1 FOR 16), ''::bytea),
       max(seen_at)
  FROM event_ids GROUP BY group_id;
DROP TABLE event_ids;
