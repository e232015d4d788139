-- Rollups of usage_cost for the finance page, kept exact by PostgreSQL
-- itself (docs/performance.md, "The finance page").
--
--   usage_period  a billing period's cost per customer, product and currency
--   usage_hour    a billing period's cost per hour and currency
--
-- Every statement that changes usage_cost (a worker's flush, the metric
-- settlement, reattribution, a repair by hand) appends what it changed,
-- summed per rollup key, to usage_rollup_delta, in its own transaction:
-- statement triggers with transition tables, so no writer can forget.
-- Writers only append, so two workers' flushes never wait on each other's
-- rollup rows.  A worker folds the appended rows into the two rollups now
-- and then (cs_store_rollup_compact: one transaction, the rows it deletes
-- are the rows it adds).  A reader sums a rollup and the deltas of its
-- period in one snapshot, which equals usage_cost's sums in that snapshot
-- to the last digit.
CREATE TABLE usage_period (
    billing_period date    NOT NULL,
    customer       text    NOT NULL,
    product        text    NOT NULL,
    currency       text    NOT NULL,
    cost           numeric NOT NULL,
    list_cost      numeric NOT NULL,
    discount       numeric NOT NULL,
    events         bigint  NOT NULL,
    PRIMARY KEY (billing_period, customer, product, currency)
);

CREATE TABLE usage_hour (
    billing_period date        NOT NULL,
    hour           timestamptz NOT NULL,
    currency       text        NOT NULL,
    cost           numeric     NOT NULL,
    list_cost      numeric     NOT NULL,
    discount       numeric     NOT NULL,
    events         bigint      NOT NULL,
    PRIMARY KEY (billing_period, hour, currency)
);

-- A row is either a usage_period delta (hour NULL) or a usage_hour delta
-- (customer and product NULL).
CREATE TABLE usage_rollup_delta (
    billing_period date        NOT NULL,
    hour           timestamptz,
    customer       text,
    product        text,
    currency       text        NOT NULL,
    cost           numeric     NOT NULL,
    list_cost      numeric     NOT NULL,
    discount       numeric     NOT NULL,
    events         bigint      NOT NULL
);
CREATE INDEX usage_rollup_delta_period ON usage_rollup_delta (billing_period);

-- What a statement changed, with its sign, summed per key of both rollups
-- (one function per kind of statement: each sees its own transition tables).
CREATE FUNCTION usage_rollup_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollup_delta
    SELECT billing_period, hour, customer, product, currency,
           sum(cost), sum(list_cost), sum(discount), sum(events)
      FROM new_rows
     GROUP BY GROUPING SETS ((billing_period, customer, product, currency),
                             (billing_period, hour, currency));
    RETURN NULL;
END $$;

CREATE FUNCTION usage_rollup_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollup_delta
    SELECT billing_period, hour, customer, product, currency,
           sum(cost), sum(list_cost), sum(discount), sum(events)
      FROM (SELECT billing_period, hour, customer, product, currency,
                   cost, list_cost, discount, events FROM new_rows
            UNION ALL
            SELECT billing_period, hour, customer, product, currency,
                   -cost, -list_cost, -discount, -events FROM old_rows) d
     GROUP BY GROUPING SETS ((billing_period, customer, product, currency),
                             (billing_period, hour, currency))
    HAVING sum(cost) <> 0 OR sum(list_cost) <> 0 OR sum(discount) <> 0 OR sum(events) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION usage_rollup_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollup_delta
    SELECT billing_period, hour, customer, product, currency,
           -sum(cost), -sum(list_cost), -sum(discount), -sum(events)
      FROM old_rows
     GROUP BY GROUPING SETS ((billing_period, customer, product, currency),
                             (billing_period, hour, currency));
    RETURN NULL;
END $$;

CREATE FUNCTION usage_rollup_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM usage_rollup_delta;
    DELETE FROM usage_period;
    DELETE FROM usage_hour;
    RETURN NULL;
END $$;

CREATE TRIGGER usage_rollup_insert AFTER INSERT ON usage_cost
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_inserted();
CREATE TRIGGER usage_rollup_update AFTER UPDATE ON usage_cost
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_updated();
CREATE TRIGGER usage_rollup_delete AFTER DELETE ON usage_cost
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_deleted();
CREATE TRIGGER usage_rollup_truncate AFTER TRUNCATE ON usage_cost
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollup_truncated();

-- What is already stored (the migration holds off writers meanwhile).
INSERT INTO usage_period
SELECT billing_period, customer, product, currency,
       sum(cost), sum(list_cost), sum(discount), sum(events)
  FROM usage_cost GROUP BY 1, 2, 3, 4;
INSERT INTO usage_hour
SELECT billing_period, hour, currency, sum(cost), sum(list_cost), sum(discount), sum(events)
  FROM usage_cost GROUP BY 1, 2, 3;
