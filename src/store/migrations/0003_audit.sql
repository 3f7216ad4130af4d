-- keyprov schema v3: the audit trail. One row per recorded entry; the searchable fields are
-- columns, the entry itself is JSON. No foreign keys: records outlive what they describe.

CREATE TABLE audit_log (
    sequence    INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    application TEXT,
    key_manager TEXT,
    entry       TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_application ON audit_log (application, sequence);
CREATE INDEX audit_log_key_manager ON audit_log (key_manager, sequence);
CREATE INDEX audit_log_actor ON audit_log (actor, sequence);
