-- An environment whose media is a prefix of an S3-compatible bucket (django-storages) rather
-- than a directory: the bucket's settings as JSON; the secret key is in the keyring. At most
-- one of media_dir and media_bucket is set.
ALTER TABLE environments ADD COLUMN media_bucket TEXT;
