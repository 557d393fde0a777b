-- Hooks: the commands an environment runs around its backups and restores (JSON), and what each
-- run of them did, kept in its job's record (a JSON list).
ALTER TABLE environments ADD COLUMN hooks TEXT;
ALTER TABLE jobs ADD COLUMN hooks TEXT;
