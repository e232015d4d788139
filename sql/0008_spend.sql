-- The platform's real infrastructure bill (FOCUS), as imported by
-- `costream spend import` (docs/spend.md).
--
-- Every import is recorded with the file's SHA-256: importing the same file
-- for the same source again changes nothing.  Each billing period a file
-- holds gets a new version for its source; the highest version of a
-- (source, period) is the bill in force (bill_lines_current) and earlier
-- versions stay queryable, so a restated bill replaces the earlier one
-- without losing it.

CREATE TABLE bill_imports (
    id          bigserial   PRIMARY KEY,
    source      text        NOT NULL,
    file_name   text        NOT NULL,
    sha256      bytea       NOT NULL,
    lines       integer     NOT NULL,
    rejected    integer     NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    imported_by text        NOT NULL DEFAULT current_user,
    UNIQUE (source, sha256)
);

CREATE TABLE bill_versions (
    source         text    NOT NULL,
    billing_period date    NOT NULL,
    version        integer NOT NULL,
    import_id      bigint  NOT NULL REFERENCES bill_imports (id),
    PRIMARY KEY (source, billing_period, version)
);

CREATE TABLE bill_lines (
    import_id           bigint         NOT NULL REFERENCES bill_imports (id),
    line                integer        NOT NULL,  -- line of the file
    source              text           NOT NULL,
    billing_period      date           NOT NULL,
    version             integer        NOT NULL,
    charge_period_start timestamptz    NOT NULL,
    charge_period_end   timestamptz    NOT NULL,
    billed_cost         NUMERIC(38,12) NOT NULL,
    effective_cost      NUMERIC(38,12) NOT NULL,
    list_cost           NUMERIC(38,12) NOT NULL,
    currency            char(3)        NOT NULL,
    charge_category     text           NOT NULL,
    charge_class        text           NOT NULL,  -- '' or 'Correction'
    service_name        text           NOT NULL,
    service_category    text           NOT NULL,
    resource_id         text           NOT NULL,
    resource_name       text           NOT NULL,
    region_id           text           NOT NULL,
    provider_name       text           NOT NULL,
    billing_account_id  text           NOT NULL,
    sub_account_id      text           NOT NULL,
    tags                jsonb          NOT NULL,
    columns             jsonb          NOT NULL,  -- every column of the line, as text
    PRIMARY KEY (import_id, line),
    CHECK (charge_period_end > charge_period_start)
);
CREATE INDEX bill_lines_period ON bill_lines (source, billing_period, version);

-- Lines that could not be read (kept with --keep-bad-rows), like rejected events.
CREATE TABLE bill_rejects (
    import_id bigint  NOT NULL REFERENCES bill_imports (id),
    line      integer NOT NULL,
    column_name text  NOT NULL,
    reason    text    NOT NULL,
    raw       bytea   NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- The bill in force: the highest version of every (source, billing period).
CREATE VIEW bill_lines_current AS
SELECT l.*
  FROM bill_lines l
  JOIN (SELECT source, billing_period, max(version) AS version
          FROM bill_versions GROUP BY source, billing_period) v
    USING (source, billing_period, version);
