-- Unattributed usage keeps the labels it was looked up by (attribution:
-- "name=value" pairs in labels.order, joined by 0x1f), so that
-- `costream reattribute` can move it to its customer once Redis knows the
-- labels.  usage_cost keeps the whole cost under customer 'unattributed'
-- meanwhile; this table is its breakdown by attribution.
CREATE TABLE unattributed_usage (
    billing_period date           NOT NULL,
    hour           timestamptz    NOT NULL,
    product        text           NOT NULL,
    meter          text           NOT NULL,
    rule_id        text           NOT NULL,
    rules_version  text           NOT NULL,
    plan           text           NOT NULL,
    attribution    text           NOT NULL,
    currency       char(3)        NOT NULL,
    unit           text           NOT NULL,
    unit_price     NUMERIC(38,12) NOT NULL,
    discount_rate  NUMERIC(38,12) NOT NULL,
    quantity       NUMERIC(38,12) NOT NULL,
    list_cost      NUMERIC(38,12) NOT NULL,
    discount       NUMERIC(38,12) NOT NULL,
    cost           NUMERIC(38,12) NOT NULL,
    events         bigint         NOT NULL,
    PRIMARY KEY (billing_period, hour, product, meter, rule_id, rules_version, plan, attribution),
    CHECK (cost = list_cost - discount)
);
CREATE INDEX unattributed_usage_attribution ON unattributed_usage (billing_period, attribution);

-- Every move, with the amounts before and after (the discount is the
-- customer's plan's), who and when: re-attribution is never silent.
CREATE TABLE reattributions (
    id              bigserial      PRIMARY KEY,
    billing_period  date           NOT NULL,
    hour            timestamptz    NOT NULL,
    product         text           NOT NULL,
    meter           text           NOT NULL,
    rule_id         text           NOT NULL,
    rules_version   text           NOT NULL,
    attribution     text           NOT NULL,
    customer        text           NOT NULL,
    plan            text           NOT NULL,
    quantity        NUMERIC(38,12) NOT NULL,
    list_cost       NUMERIC(38,12) NOT NULL,
    discount_before NUMERIC(38,12) NOT NULL,
    cost_before     NUMERIC(38,12) NOT NULL,
    discount_rate   NUMERIC(38,12) NOT NULL,
    discount        NUMERIC(38,12) NOT NULL,
    cost            NUMERIC(38,12) NOT NULL,
    events          bigint         NOT NULL,
    actor           text           NOT NULL,
    at              timestamptz    NOT NULL DEFAULT now()
);
