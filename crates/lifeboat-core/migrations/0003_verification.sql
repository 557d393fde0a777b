-- The latest verification of a backup (re-read, decrypted, every checksum and the dump's TOC
-- checked), as JSON; NULL until one has run.
ALTER TABLE backups ADD COLUMN verification TEXT;
