-- Efficiency: the idle part of every bill line, kept per resource, so that
-- finance sees which nodes (ResourceId) carry the idle spend, not only
-- which pools.  Replaced with the period's allocation (open periods).
CREATE TABLE spend_idle_resources (
    billing_period date           NOT NULL,
    pool           text           NOT NULL,
    resource_id    text           NOT NULL,  -- '' when the bill line names none
    resource_name  text           NOT NULL,
    currency       char(3)        NOT NULL,
    idle           NUMERIC(38,12) NOT NULL,
    lines          integer        NOT NULL,
    PRIMARY KEY (billing_period, pool, resource_id, currency)
);
