-- keyprov schema v4: the same tables, with state checks SQLite evaluates cheaply. A CHECK of
-- the form `x IN (a, b, c)` with three or more constants builds a temporary index on every
-- row written; `x = a OR x = b OR ...` compares in place. SQLite cannot alter a CHECK, so each
-- table is rebuilt under its name, rows and indexes unchanged.

CREATE TABLE key_mappings_v4 (
    id            TEXT    NOT NULL PRIMARY KEY,
    application   TEXT    NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key_type      TEXT    NOT NULL CHECK (key_type = 'PRODUCTION' OR key_type = 'SANDBOX'),
    key_manager   TEXT    NOT NULL,
    consumer_key  TEXT    NOT NULL,
    mode          TEXT    NOT NULL CHECK (mode = 'MAPPED' OR mode = 'CREATED'),
    state         TEXT    NOT NULL
        CHECK (state = 'ACTIVE' OR state = 'SUSPENDED' OR state = 'ORPHANED'),
    validated     INTEGER NOT NULL CHECK (validated = 0 OR validated = 1),
    secret_proven INTEGER NOT NULL CHECK (secret_proven = 0 OR secret_proven = 1),
    snapshot      TEXT    NOT NULL, -- JSON: ClientSnapshot (never a secret)
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL, -- JSON: Actor
    CONSTRAINT key_mappings_slot UNIQUE (application, key_type, key_manager),
    CONSTRAINT key_mappings_consumer_key UNIQUE (key_manager, consumer_key)
);
INSERT INTO key_mappings_v4 SELECT * FROM key_mappings;
DROP TABLE key_mappings;
ALTER TABLE key_mappings_v4 RENAME TO key_mappings;

CREATE TABLE subscriptions_v4 (
    application TEXT    NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    api         TEXT    NOT NULL REFERENCES apis (id),
    state       TEXT    NOT NULL
        CHECK (state = 'UNBLOCKED' OR state = 'BLOCKED' OR state = 'PROD_ONLY_BLOCKED'
               OR state = 'ON_HOLD' OR state = 'REJECTED'),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (application, api)
);
INSERT INTO subscriptions_v4 SELECT * FROM subscriptions;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_v4 RENAME TO subscriptions;
CREATE INDEX subscriptions_api ON subscriptions (api);
