-- The CA certificate file that vouches for an environment's database server (verify-ca and
-- verify-full), used by the connection probe and the client tools alike.
ALTER TABLE environments ADD COLUMN pg_ssl_root_cert TEXT;
