-- keyprov schema v5: the audit trail in columns. v3 kept each entry as JSON beside the
-- searchable columns, which repeated them and took most of the table's bytes; every field is
-- now a column of its own. Sequence numbers are kept, and new records continue after them.

CREATE TABLE audit_log_v5 (
    sequence     INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL, -- Unix milliseconds
    actor        TEXT    NOT NULL, -- kind:id (user:alice, admin:carol, service:reconciler)
    request_id   TEXT    NOT NULL,
    action       TEXT    NOT NULL, -- mapping_created, imported, ...
    code         INTEGER,          -- the error code of a refusal
    application  TEXT,
    key_manager  TEXT,
    key_type     TEXT,
    mapping      TEXT,
    consumer_key TEXT,
    detail       TEXT    NOT NULL
);

INSERT INTO audit_log_v5 (sequence, at, actor, request_id, action, code, application,
                          key_manager, key_type, mapping, consumer_key, detail)
SELECT sequence, at, actor,
       json_extract(entry, '$.request_id'),
       json_extract(entry, '$.action'),
       json_extract(entry, '$.code'),
       application, key_manager,
       json_extract(entry, '$.key_type'),
       json_extract(entry, '$.mapping'),
       json_extract(entry, '$.consumer_key'),
       json_extract(entry, '$.detail')
FROM audit_log;

DROP TABLE audit_log;
ALTER TABLE audit_log_v5 RENAME TO audit_log;

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_application ON audit_log (application, sequence);
CREATE INDEX audit_log_key_manager ON audit_log (key_manager, sequence);
CREATE INDEX audit_log_actor ON audit_log (actor, sequence);
