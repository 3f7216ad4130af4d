-- keyprov schema v1. Timestamps are Unix milliseconds (UTC); ids are UUIDs in their hyphenated
-- lowercase text form, whose text order is their byte order. Enumerations use the wire
-- spelling. JSON columns hold values that are only ever read back whole.

CREATE TABLE applications (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    owner        TEXT    NOT NULL,
    organization TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    CONSTRAINT applications_name UNIQUE (organization, owner, name)
);

CREATE INDEX applications_owner ON applications (owner, created_at, id);

CREATE TABLE apis (
    id           TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    context      TEXT NOT NULL,
    organization TEXT NOT NULL,
    key_managers TEXT NOT NULL, -- JSON: AllowedKeyManagers
    audience     TEXT
);

CREATE TABLE subscriptions (
    application TEXT    NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    api         TEXT    NOT NULL REFERENCES apis (id),
    state       TEXT    NOT NULL
        CHECK (state IN ('UNBLOCKED', 'BLOCKED', 'PROD_ONLY_BLOCKED', 'ON_HOLD', 'REJECTED')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (application, api)
);

CREATE INDEX subscriptions_api ON subscriptions (api);

-- behaviour.md P3: both halves are unique constraints, so concurrent attempts have one winner.
CREATE TABLE key_mappings (
    id            TEXT    NOT NULL PRIMARY KEY,
    application   TEXT    NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    key_type      TEXT    NOT NULL CHECK (key_type IN ('PRODUCTION', 'SANDBOX')),
    key_manager   TEXT    NOT NULL,
    consumer_key  TEXT    NOT NULL,
    mode          TEXT    NOT NULL CHECK (mode IN ('MAPPED', 'CREATED')),
    state         TEXT    NOT NULL CHECK (state IN ('ACTIVE', 'SUSPENDED', 'ORPHANED')),
    validated     INTEGER NOT NULL CHECK (validated IN (0, 1)),
    secret_proven INTEGER NOT NULL CHECK (secret_proven IN (0, 1)),
    snapshot      TEXT    NOT NULL, -- JSON: ClientSnapshot (never a secret)
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL, -- JSON: Actor
    CONSTRAINT key_mappings_slot UNIQUE (application, key_type, key_manager),
    CONSTRAINT key_mappings_consumer_key UNIQUE (key_manager, consumer_key)
);
