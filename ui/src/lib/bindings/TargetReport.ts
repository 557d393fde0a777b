// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.

export type TargetReport = { elapsedMs: number, };
