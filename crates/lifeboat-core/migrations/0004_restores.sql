-- Restores. A job past its point of no return (a transaction's commit, a directory swap) can
-- no longer be cancelled.
ALTER TABLE jobs ADD COLUMN cancellable INTEGER NOT NULL DEFAULT 1;
-- JSON of what a finished job produced (a restore's summary); NULL otherwise.
ALTER TABLE jobs ADD COLUMN outcome TEXT;
-- A local directory the job replaces (a restore's media destination). Set on a finished job =
-- its staging or replaced copy beside that directory still has to be put right.
ALTER TABLE jobs ADD COLUMN local_dir TEXT;
