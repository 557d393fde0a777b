-- Per environment, as JSON: the restore-drill schedule (NULL = none) and the server drills
-- restore on (NULL = the environment's own; its password is in the keyring).
ALTER TABLE environments ADD COLUMN drill_schedule TEXT;
ALTER TABLE environments ADD COLUMN drill_server TEXT;
