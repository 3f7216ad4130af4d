-- keyprov schema v2: the change counter. Every write that changes something advances it by the
-- number of changes it publishes, in the same transaction, so revisions survive restarts and
-- follow commit order.

CREATE TABLE change_revision (
    id    INTEGER PRIMARY KEY CHECK (id = 0),
    value INTEGER NOT NULL
);

INSERT INTO change_revision (id, value) VALUES (0, 0);
