-- Billing periods, closed months, customers and report access tokens.

-- A closed month's charges never change.  Usage that arrives later for it is
-- charged in the first open month after it, as a correction that names the
-- month it belongs to (usage_cost.billing_period vs. the month of hour).
CREATE TABLE closed_periods (
    period    date        PRIMARY KEY CHECK (period = date_trunc('month', period)::date),
    closed_at timestamptz NOT NULL DEFAULT now(),
    closed_by text        NOT NULL DEFAULT current_user
);

-- The month a usage hour is billed in: its own UTC month, or the first open
-- month after it.
CREATE FUNCTION cs_billing_period(h timestamptz) RETURNS date
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m date := date_trunc('month', h AT TIME ZONE 'UTC')::date;
BEGIN
    WHILE EXISTS (SELECT 1 FROM closed_periods WHERE period = m) LOOP
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN m;
END
$$;

ALTER TABLE usage_cost ADD COLUMN billing_period date;
UPDATE usage_cost SET billing_period = date_trunc('month', hour AT TIME ZONE 'UTC')::date;
ALTER TABLE usage_cost ALTER COLUMN billing_period SET NOT NULL;
ALTER TABLE usage_cost DROP CONSTRAINT usage_cost_pkey;
ALTER TABLE usage_cost ADD PRIMARY KEY
    (billing_period, hour, customer, product, meter, rule_id, rules_version, plan);
CREATE INDEX usage_cost_period_customer ON usage_cost (billing_period, customer, product);

-- Customer attributes as last seen in Redis by a worker, for reports.
CREATE TABLE customers (
    id          text        PRIMARY KEY,
    name        text,
    plan        text,
    cost_center text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The customer names and cost centres a closed month's reports show, frozen
-- when it was closed, so that renaming a customer later does not change them.
CREATE TABLE closed_period_customers (
    period      date NOT NULL REFERENCES closed_periods (period),
    customer    text NOT NULL,
    name        text,
    cost_center text,
    PRIMARY KEY (period, customer)
);

-- Bearer tokens for the report endpoints: "cst_<id>_<secret>"; only the
-- SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id          text        PRIMARY KEY,
    secret_hash bytea       NOT NULL,
    scope       text        NOT NULL CHECK (scope IN ('finance', 'customer')),
    customer    text,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((scope = 'customer') = (customer IS NOT NULL))
);
