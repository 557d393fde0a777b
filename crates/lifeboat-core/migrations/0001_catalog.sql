-- Timestamps are UTC RFC 3339 text. Secrets never live here: only whether one is saved.
CREATE TABLE applications (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL COLLATE NOCASE UNIQUE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE storage_targets (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL COLLATE NOCASE UNIQUE,
    is_default  INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    -- JSON of the target's settings (kind, bucket, …) without the secret key.
    config      TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE UNIQUE INDEX storage_targets_one_default ON storage_targets (is_default) WHERE is_default = 1;

CREATE TABLE environments (
    id              TEXT PRIMARY KEY NOT NULL,
    application_id  TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name            TEXT NOT NULL COLLATE NOCASE,
    pg_host         TEXT,
    pg_port         INTEGER,
    pg_database     TEXT,
    pg_user         TEXT,
    pg_ssl_mode     TEXT,
    pg_password_saved INTEGER NOT NULL DEFAULT 0 CHECK (pg_password_saved IN (0, 1)),
    media_dir       TEXT,
    target_id       TEXT NOT NULL REFERENCES storage_targets (id) ON DELETE RESTRICT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (application_id, name)
);
CREATE INDEX environments_target ON environments (target_id);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY NOT NULL,
    value  TEXT NOT NULL
);
