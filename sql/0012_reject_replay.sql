-- costream rejects replay marks what it re-published (and where), so that a
-- reject is not replayed twice by accident; retention prunes by received_at.
ALTER TABLE rejected_events ADD COLUMN replayed_at timestamptz;
ALTER TABLE rejected_events ADD COLUMN replayed_to text;
CREATE INDEX rejected_events_received ON rejected_events (group_id, received_at);
