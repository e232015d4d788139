-- Views for the Grafana business dashboard (grafana/dashboards/) and the
-- finance page of `costream serve`.  Panels read these views, never the raw
-- tables, so that a change of schema changes a view and not every panel.
-- Amounts are exact NUMERIC; periods are billing periods ('YYYY-MM'), so a
-- correction to a closed month counts in the open month that carries it.
-- "Elapsed" is measured in the period's own calendar at now(), UTC.

-- Cost per billing period, customer, product, meter, plan and currency.
CREATE VIEW dash_cost AS
SELECT to_char(u.billing_period, 'YYYY-MM') AS period,
       u.billing_period,
       u.customer,
       coalesce(c.name, '') AS customer_name,
       u.product, u.meter, u.plan, u.currency, u.unit,
       sum(u.quantity) AS quantity,
       sum(u.list_cost) AS list_cost,
       sum(u.discount) AS discount,
       sum(u.cost) AS cost,
       sum(u.events) AS events
  FROM usage_cost u
  LEFT JOIN customers c ON c.id = u.customer
 GROUP BY u.billing_period, u.customer, c.name, u.product, u.meter, u.plan, u.currency, u.unit;

-- Per period and currency: billed, list and discount; the unattributed part;
-- active customers; the run-rate forecast for the whole period (billed so far
-- / elapsed hours x the period's hours, for the period in progress; the billed
-- amount itself for a finished one); the previous period's cost up to the same
-- point of its month, and its whole cost.
CREATE VIEW dash_period_totals AS
WITH p AS (
    SELECT period, billing_period, currency,
           sum(cost) AS cost, sum(list_cost) AS list_cost, sum(discount) AS discount,
           sum(cost) FILTER (WHERE customer = 'unattributed') AS unattributed_cost,
           count(DISTINCT customer) FILTER (WHERE customer <> 'unattributed' AND events > 0)
               AS active_customers
      FROM dash_cost GROUP BY period, billing_period, currency
), span AS (
    SELECT p.*,
           extract(epoch FROM (p.billing_period + interval '1 month') - p.billing_period::timestamptz)
               / 3600 AS period_hours,
           greatest(0, least(extract(epoch FROM now() - p.billing_period::timestamptz),
                             extract(epoch FROM (p.billing_period + interval '1 month')
                                                - p.billing_period::timestamptz))) / 3600
               AS elapsed_hours
      FROM p
)
SELECT s.period, s.billing_period, s.currency, s.cost, s.list_cost, s.discount,
       coalesce(s.unattributed_cost, 0) AS unattributed_cost,
       CASE WHEN s.cost = 0 THEN 0
            ELSE round(coalesce(s.unattributed_cost, 0) / s.cost, 6) END AS unattributed_share,
       s.active_customers,
       CASE WHEN s.elapsed_hours >= s.period_hours OR s.elapsed_hours <= 0 THEN s.cost
            ELSE round(s.cost / s.elapsed_hours::numeric * s.period_hours::numeric, 12) END
           AS forecast,
       (SELECT coalesce(sum(u.cost), 0) FROM usage_cost u
         WHERE u.billing_period = (s.billing_period - interval '1 month')::date
           AND u.currency = s.currency
           AND u.hour < (s.billing_period - interval '1 month') + make_interval(secs => s.elapsed_hours * 3600))
           AS previous_same_point,
       (SELECT coalesce(sum(u.cost), 0) FROM usage_cost u
         WHERE u.billing_period = (s.billing_period - interval '1 month')::date
           AND u.currency = s.currency) AS previous_cost
  FROM span s;

-- Per period and customer (all products): the page's and panels' ranking.
CREATE VIEW dash_customer_period AS
SELECT period, billing_period, customer, customer_name, currency,
       sum(cost) AS cost, sum(list_cost) AS list_cost, sum(discount) AS discount,
       sum(events) AS events
  FROM dash_cost
 GROUP BY period, billing_period, customer, customer_name, currency;

-- Per period, product and currency.
CREATE VIEW dash_product_period AS
SELECT period, billing_period, product, currency,
       sum(cost) AS cost, sum(list_cost) AS list_cost, sum(discount) AS discount
  FROM dash_cost
 GROUP BY period, billing_period, product, currency;

-- Per period, plan tier and currency (free, pro, enterprise, ...; "none" for
-- unattributed usage, "unknown" for customers without a plan).
CREATE VIEW dash_plan_period AS
SELECT period, billing_period, plan, currency,
       sum(cost) AS cost, sum(list_cost) AS list_cost, sum(discount) AS discount,
       count(DISTINCT customer) AS customers
  FROM dash_cost
 GROUP BY period, billing_period, plan, currency;

-- Cost per UTC day of usage (event time), customer, product and plan.
CREATE VIEW dash_cost_daily AS
SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,
       customer, product, plan, currency,
       sum(cost) AS cost, sum(list_cost) AS list_cost, sum(quantity) AS quantity,
       sum(events) AS events
  FROM usage_cost
 GROUP BY 1, customer, product, plan, currency;

-- Usage that arrived after its month was closed, and the open period that
-- carries it.
CREATE VIEW dash_corrections AS
SELECT to_char(billing_period, 'YYYY-MM') AS period,
       to_char(date_trunc('month', hour AT TIME ZONE 'UTC'), 'YYYY-MM') AS usage_month,
       customer, product, currency,
       sum(cost) AS cost, sum(events) AS events
  FROM usage_cost
 WHERE billing_period <> date_trunc('month', hour AT TIME ZONE 'UTC')::date
 GROUP BY billing_period, 2, customer, product, currency;

-- Billing periods with usage, newest first in panels; closed or open.
CREATE VIEW dash_periods AS
SELECT DISTINCT to_char(u.billing_period, 'YYYY-MM') AS period, u.billing_period,
       EXISTS (SELECT 1 FROM closed_periods c WHERE c.period = u.billing_period) AS closed
  FROM usage_cost u;
