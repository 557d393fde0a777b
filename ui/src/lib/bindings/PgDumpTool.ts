// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.

export type PgDumpTool = { path: string, major: number, version: string, };
