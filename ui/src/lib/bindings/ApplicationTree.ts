// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { Environment } from "./Environment";

export type ApplicationTree = { id: string, name: string, createdAt: string, environments: Array<Environment>, };
