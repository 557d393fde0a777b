// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { PgConnection } from "./PgConnection";

export type Environment = { id: string, applicationId: string, name: string, connection: PgConnection | null, mediaDir: string | null, targetId: string, createdAt: string, };
