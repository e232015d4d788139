-- Event de-duplication: the CloudEvents (source, id) pairs each consumer
-- group has already counted, written in the flush transaction together with
-- the aggregates and offsets.  A producer that sends an event twice (a retry
-- after a lost acknowledgement) is charged once.  Rows older than
-- dedup.window_hours (by first sighting) are pruned.
CREATE TABLE event_ids (
    group_id text        NOT NULL,
    source   text        NOT NULL,
    id       text        NOT NULL,
    seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, source, id)
);
CREATE INDEX event_ids_seen_at ON event_ids (seen_at);
