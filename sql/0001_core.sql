-- costream core schema: hourly cost aggregates, consumed offsets, rejected events.
-- Money and quantities are NUMERIC(38,12): the exact range of costream's
-- fixed-point decimals (src/decimal.h), so nothing is rounded on the way in.

CREATE TABLE usage_cost (
    hour           timestamptz    NOT NULL,  -- start of the UTC hour of event time
    customer       text           NOT NULL,  -- 'unattributed' when no customer resolved
    product        text           NOT NULL,
    meter          text           NOT NULL,
    rule_id        text           NOT NULL,  -- the pricing rule that priced the events
    rules_version  text           NOT NULL,  -- the rules file version it came from
    plan           text           NOT NULL,  -- plan tier at pricing time (discount source)
    currency       char(3)        NOT NULL,
    unit           text           NOT NULL,
    unit_price     NUMERIC(38,12) NOT NULL,
    discount_rate  NUMERIC(38,12) NOT NULL,
    quantity       NUMERIC(38,12) NOT NULL DEFAULT 0,
    list_cost      NUMERIC(38,12) NOT NULL DEFAULT 0,
    discount       NUMERIC(38,12) NOT NULL DEFAULT 0,
    cost           NUMERIC(38,12) NOT NULL DEFAULT 0,  -- list_cost - discount
    events         bigint         NOT NULL DEFAULT 0,
    updated_at     timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (hour, customer, product, meter, rule_id, rules_version, plan),
    CHECK (cost = list_cost - discount)
);
CREATE INDEX usage_cost_customer_hour ON usage_cost (customer, hour);

-- Next Kafka offset to consume, per consumer group and partition.  Advanced
-- only together with the aggregates, in one transaction, by compare-and-set.
CREATE TABLE consumer_offsets (
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    next_offset bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

CREATE TABLE rejected_events (
    id          bigserial   PRIMARY KEY,
    group_id    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    reason      text        NOT NULL,  -- stable code, e.g. invalid_quantity
    detail      text        NOT NULL,  -- what exactly was wrong, naming the field
    raw         bytea       NOT NULL,  -- the message value as received
    msg_key     bytea,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (group_id, topic, partition, "offset")
);
CREATE INDEX rejected_events_reason ON rejected_events (reason);
