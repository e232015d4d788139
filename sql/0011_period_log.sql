-- Who closed, reopened or exported a billing month, and when
-- (costream period history).  Closing and reopening are deliberate acts;
-- a month whose FOCUS export was downloaded is reopened only by force.
CREATE TABLE period_log (
    id     bigserial   PRIMARY KEY,
    period date        NOT NULL CHECK (period = date_trunc('month', period)::date),
    action text        NOT NULL CHECK (action IN ('close', 'reopen', 'focus_export')),
    actor  text        NOT NULL,
    at     timestamptz NOT NULL DEFAULT now(),
    detail text
);
CREATE INDEX period_log_period ON period_log (period, action, at);

-- The months closed before this log existed.
INSERT INTO period_log (period, action, actor, at)
SELECT period, 'close', closed_by, closed_at FROM closed_periods;
