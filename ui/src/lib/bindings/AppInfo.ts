// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { KeyringStatus } from "./KeyringStatus";

export type AppInfo = { version: string, home: string, keyring: KeyringStatus, };
