-- A job is any long-running operation (backups now; restores and downloads later).
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    phase           TEXT NOT NULL DEFAULT '',
    bytes_done      INTEGER NOT NULL DEFAULT 0,
    bytes_total     INTEGER NOT NULL DEFAULT 0,
    bytes_per_second INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT,
    error_message   TEXT,
    -- JSON of what was asked (for a backup: what to include, the note, the kind).
    request         TEXT NOT NULL,
    backup_id       TEXT,
    target_id       TEXT,
    -- Storage directory holding this job's unfinished objects; cleared once they are either
    -- committed (a finished backup) or removed. Set on a finished job = cleanup still owed.
    cleanup_dir     TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at     TEXT
);
CREATE INDEX jobs_environment ON jobs (environment_id, created_at);

-- Only backups whose manifest.json (the commit marker) was written are here.
CREATE TABLE backups (
    id              TEXT PRIMARY KEY NOT NULL,
    environment_id  TEXT NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    job_id          TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    target_id       TEXT NOT NULL REFERENCES storage_targets (id),
    storage_dir     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    stored_bytes    INTEGER NOT NULL,
    manifest        TEXT NOT NULL
);
CREATE INDEX backups_environment ON backups (environment_id, created_at);
