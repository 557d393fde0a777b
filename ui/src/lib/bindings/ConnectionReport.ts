// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { PgDumpTool } from "./PgDumpTool";

export type ConnectionReport = { serverVersion: string, serverMajor: number, databaseSizeBytes: number, pgDump: PgDumpTool | null, pgDumpCandidates: Array<PgDumpTool>, };
