-- The infrastructure bill allocated to customers and products
-- (`costream spend allocate`, docs/spend.md).  One row per billing period,
-- pool, customer, product and kind; the rows of an open period are
-- replaced as a whole each time it is allocated (usage that arrived late, a
-- restated bill), in one transaction.  Per period and pool the rows add up
-- to the pool's cost in the bill in force, to the last digit.
--
-- A closed period's rows never change.  Allocating it again computes the
-- difference between the fresh allocation and what it already counts (its
-- rows plus the corrections of it stored in other periods) and stores that
-- difference in the first open period after it, with correction_of set,
-- replacing an earlier correction of it there.

CREATE TABLE spend_allocations (
    billing_period date           NOT NULL,
    pool           text           NOT NULL,  -- '' for lines no pool selects
    customer       text           NOT NULL,  -- 'unallocated' when nobody used it
    product        text           NOT NULL,  -- the driver's product; 'shared' for even/weights
    kind           text           NOT NULL CHECK (kind IN ('direct', 'shared', 'no_usage', 'no_pool', 'idle')),
    currency       char(3)        NOT NULL,
    amount         NUMERIC(38,12) NOT NULL,
    lines          integer        NOT NULL,
    rules_version  text           NOT NULL,
    correction_of  date           NOT NULL DEFAULT '-infinity',  -- the closed period corrected, or -infinity
    computed_at    timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (billing_period, pool, customer, product, kind, currency, correction_of)
);

-- Efficiency: idle capacity per period and pool, and its share of the pool.
CREATE VIEW spend_idle AS
SELECT billing_period, pool, currency,
       sum(amount) FILTER (WHERE kind = 'idle') AS idle,
       sum(amount) AS pool_cost,
       CASE WHEN sum(amount) = 0 THEN 0
            ELSE round(coalesce(sum(amount) FILTER (WHERE kind = 'idle'), 0) / sum(amount), 6) END AS idle_share
  FROM spend_allocations
 WHERE pool <> ''
 GROUP BY billing_period, pool, currency
HAVING sum(amount) FILTER (WHERE kind = 'idle') IS NOT NULL;

-- Billed (rate card) against allocated spend, per period, customer and product.
CREATE VIEW spend_margin AS
WITH billed AS (
    SELECT billing_period, customer, product, currency, sum(cost) AS billed
      FROM usage_cost GROUP BY 1, 2, 3, 4
), spent AS (
    SELECT billing_period, customer, product, currency, sum(amount) AS allocated
      FROM spend_allocations GROUP BY 1, 2, 3, 4
)
SELECT billing_period, customer, product, currency,
       coalesce(b.billed, 0) AS billed, coalesce(s.allocated, 0) AS allocated,
       coalesce(b.billed, 0) - coalesce(s.allocated, 0) AS margin
  FROM billed b FULL JOIN spent s USING (billing_period, customer, product, currency);
