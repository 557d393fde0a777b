// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { PgConnectionInput } from "./PgConnectionInput";

export type EnvironmentInput = { applicationId: string, name: string, connection: PgConnectionInput | null, mediaDir: string | null, targetId: string | null, };
