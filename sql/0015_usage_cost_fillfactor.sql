-- Room on every page of the aggregates for their next versions.
--
-- Live traffic updates the rows of the current hour at every flush.  With
-- full pages (the default fillfactor of 100) each update is a new tuple on
-- another page plus a new entry in each of usage_cost's three indexes; with
-- room left on the page PostgreSQL updates in place of the indexes (a HOT
-- update: no indexed column changes).  Measured on 80,000 rows updated six
-- times (docs/performance.md): 2.6 s per round at 100, 0.8 s at 70.  The
-- price is about 40 % more pages for rows that are never updated again
-- (a replayed month); existing pages keep their layout until rewritten.
ALTER TABLE usage_cost SET (fillfactor = 70);
ALTER TABLE unattributed_usage SET (fillfactor = 70);
