-- Prunes that deleted backups, for an environment's activity: retention deleting backups is
-- something the user must be able to see afterwards.
CREATE TABLE prunes (
    id              TEXT PRIMARY KEY,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    at              TEXT NOT NULL,
    deleted         INTEGER NOT NULL,
    freed_bytes     INTEGER NOT NULL
);
CREATE INDEX prunes_by_environment ON prunes (environment_id, at);
