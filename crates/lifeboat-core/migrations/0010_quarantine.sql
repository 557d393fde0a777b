-- Backups found in storage whose manifest could not be authenticated (forged, foreign, or
-- written before manifests were authenticated). Kept apart from `backups` so that nothing that
-- reads backups (lists, "newest", drills, retention) can take one for a backup until the user
-- trusts it.
CREATE TABLE quarantined_backups (
    id           TEXT PRIMARY KEY,
    target_id    TEXT NOT NULL REFERENCES storage_targets (id) ON DELETE CASCADE,
    storage_dir  TEXT NOT NULL,
    backup_id    TEXT NOT NULL,
    manifest     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    found_at     TEXT NOT NULL,
    UNIQUE (target_id, storage_dir)
);
CREATE INDEX quarantined_by_backup ON quarantined_backups (backup_id);
