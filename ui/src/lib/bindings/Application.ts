// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.

export type Application = { id: string, name: string, createdAt: string, };
