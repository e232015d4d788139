-- One secondary index on the aggregates instead of two.
--
-- Every new usage_cost row is an entry in each of the table's indexes, and
-- the keys of a secondary index that leads with the customer arrive in no
-- order (rows are written in primary-key order, hour first), so each entry
-- lands on another page.  With usage_cost_customer_hour (customer, hour)
-- and usage_cost_period_customer (billing_period, customer, product) the
-- two were a quarter of the cost of inserting a row (docs/performance.md).
--
-- One index leading with the customer serves every lookup either served:
--   a customer's rows in a billing period      (customer, billing_period)
--   a customer's rows over a range of hours    (customer, then hour within it)
--   whether a customer has any row at all      (customer)
-- and lookups by billing period alone use the primary key, which leads with
-- it.  Updates of existing rows (live traffic after a row's first flush)
-- are HOT at fillfactor 70 (sql/0015) and touch no index either way.
--
-- Building the index reads the whole table once, holding off writes
-- meanwhile: on a large table, expect the migration to take a while
-- (docs/operations.md, upgrading).
CREATE INDEX usage_cost_customer ON usage_cost (customer, billing_period, hour);
DROP INDEX usage_cost_customer_hour;
DROP INDEX usage_cost_period_customer;
