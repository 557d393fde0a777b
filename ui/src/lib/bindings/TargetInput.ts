// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { TargetConfigInput } from "./TargetConfigInput";

export type TargetInput = { name: string, config: TargetConfigInput, };
