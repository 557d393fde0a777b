import { isAppError } from "./api";

export type FieldErrors = Record<string, string>;

/**
 * Splits a rejected command into an inline field error (any error whose `field` is one the
 * form shows: a refused password belongs under the password) or a general message for an
 * alert or toast.
 */
export function splitError(
  e: unknown,
  fields: readonly string[],
): { fields: FieldErrors; general: string | null } {
  if (isAppError(e) && e.field && fields.includes(e.field)) {
    return { fields: { [e.field]: e.message }, general: null };
  }
  if (isAppError(e)) return { fields: {}, general: e.message };
  if (typeof e === "string") return { fields: {}, general: e };
  if (e instanceof Error) return { fields: {}, general: e.message };
  return { fields: {}, general: "Unexpected error" };
}

/** What the server or library said behind an error, for a disclosure beside its sentence. */
export function errorDetail(e: unknown): string | null {
  return isAppError(e) ? (e.detail ?? null) : null;
}
