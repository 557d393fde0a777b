-- The server an environment is reached through over SSH ([user@]host[:port] or a Host alias);
-- its connection and hooks are then as that server sees them.
ALTER TABLE environments ADD COLUMN ssh_server TEXT;
