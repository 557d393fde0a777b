import { isAppError } from "./api";

export type FieldErrors = Record<string, string>;

/**
 * Splits a rejected command into inline field errors (validation / conflict errors whose
 * `field` is one the form shows) or a general message for an alert or toast.
 */
export function splitError(
  e: unknown,
  fields: readonly string[],
): { fields: FieldErrors; general: string | null } {
  if (
    isAppError(e) &&
    (e.code === "validation" || e.code === "conflict") &&
    e.field &&
    fields.includes(e.field)
  ) {
    return { fields: { [e.field]: e.message }, general: null };
  }
  if (isAppError(e)) return { fields: {}, general: e.message };
  if (typeof e === "string") return { fields: {}, general: e };
  if (e instanceof Error) return { fields: {}, general: e.message };
  return { fields: {}, general: "Unexpected error" };
}
