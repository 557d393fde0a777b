-- Retention: a scheduled backup's grandfather-father-son label, pins (kept forever), and
-- backups whose deletion from storage has begun: hidden at once, finished by the next prune.
ALTER TABLE backups ADD COLUMN label TEXT;
ALTER TABLE backups ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE backups ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
-- Per environment, as JSON: the retention policy (NULL = the defaults) and the backup
-- schedule (NULL = none).
ALTER TABLE environments ADD COLUMN retention TEXT;
ALTER TABLE environments ADD COLUMN schedule TEXT;
