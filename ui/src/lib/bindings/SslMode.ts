// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.

export type SslMode = "disable" | "prefer" | "require" | "verify-ca" | "verify-full";
