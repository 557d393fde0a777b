// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { SslMode } from "./SslMode";

export type PgConnectionInput = { host: string, port: number, database: string, user: string, sslMode: SslMode, password: string | null, };
