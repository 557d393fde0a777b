-- Why storage refused retention's last attempt to delete a backup (Object Lock, a key without
-- delete permission): the backup stays listed with the reason, and the next prune tries again.
ALTER TABLE backups ADD COLUMN deletion_refused TEXT;
