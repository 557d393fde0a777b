-- Restore drills: every drill's report, kept as a history per environment.
CREATE TABLE drills (
    -- The drill's job id.
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    backup_id       TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ok              INTEGER NOT NULL,
    -- JSON of the whole report (checks, durations).
    report          TEXT NOT NULL
);
CREATE INDEX drills_environment ON drills (environment_id, started_at);
-- Per environment, as JSON: SQL checks every drill runs against the restored database.
ALTER TABLE environments ADD COLUMN drill_checks TEXT;
