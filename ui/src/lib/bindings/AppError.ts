// Temporary placeholder: ts-rs generates and overwrites this file from the Rust types.
import type { ErrorCode } from "./ErrorCode";

export type AppError = { code: ErrorCode, message: string, field: string | null, };
