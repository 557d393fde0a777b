-- Whether an environment behind a server runs pg_dump there (its own client tools) rather
-- than here; a server's pg_dump is also used whenever this machine has none new enough.
ALTER TABLE environments ADD COLUMN dump_on_server INTEGER NOT NULL DEFAULT 0;
