-- Whether a customer token may read the platform's infrastructure cost
-- allocated to its customer (/reports/spend, and the finance page's link to
-- it): right for chargeback between a platform's own teams, wrong for its
-- external customers, so off unless `costream token create --with-spend`
-- says so.  Finance tokens read every customer's spend whatever this says.
ALTER TABLE api_tokens ADD COLUMN sees_spend boolean NOT NULL DEFAULT false;
