// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { TargetConfig } from "./TargetConfig";

export type StorageTarget = { id: string, name: string, isDefault: boolean, config: TargetConfig, createdAt: string, };
