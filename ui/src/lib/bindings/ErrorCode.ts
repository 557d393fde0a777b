// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.

export type ErrorCode = "validation" | "not_found" | "conflict" | "invalid_database_url" | "keyring_unavailable" | "keyring_locked" | "secret_missing" | "pg_auth_failed" | "pg_database_missing" | "pg_unreachable" | "pg_timeout" | "pg_tls" | "pg_error" | "media_dir_missing" | "media_not_a_directory" | "media_unreadable" | "target_in_use" | "s3_auth_failed" | "s3_bucket_missing" | "s3_storage_class_rejected" | "s3_unreachable" | "storage_error" | "io" | "catalog" | "internal";
