import type { RetentionDecision } from "./bindings/RetentionDecision";
import type { RetentionPolicy } from "./bindings/RetentionPolicy";
import type { FieldErrors } from "./errors";

/** The policy's numbers as the editor's text fields hold them. */
export type PolicyFields = Record<keyof RetentionPolicy, string>;

export const POLICY_KEYS: (keyof RetentionPolicy)[] = [
  "onDemandKeepRecent",
  "onDemandMaxAgeDays",
  "daily",
  "weekly",
  "monthly",
];

const LEAST: Record<keyof RetentionPolicy, number> = {
  onDemandKeepRecent: 1,
  onDemandMaxAgeDays: 0,
  daily: 0,
  weekly: 0,
  monthly: 0,
};
const MOST = 10_000;

export function policyFields(policy: RetentionPolicy): PolicyFields {
  return Object.fromEntries(POLICY_KEYS.map((k) => [k, String(policy[k])])) as PolicyFields;
}

/** The policy the fields hold, or the errors that stop it (the core checks the same bounds). */
export function parsePolicy(fields: PolicyFields): { policy: RetentionPolicy } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const policy = {} as RetentionPolicy;
  for (const key of POLICY_KEYS) {
    const text = fields[key].trim();
    const n = Number(text);
    if (text === "" || !Number.isInteger(n) || n < LEAST[key] || n > MOST) {
      errors[key] = `Enter a whole number from ${LEAST[key]} to ${MOST}.`;
    } else {
      policy[key] = n;
    }
  }
  return Object.keys(errors).length > 0 ? { errors } : { policy };
}

export function samePolicy(a: RetentionPolicy, b: RetentionPolicy): boolean {
  return POLICY_KEYS.every((k) => a[k] === b[k]);
}

/** Counts and bytes of what a policy keeps and deletes. */
export function previewTotals(decisions: RetentionDecision[]): { kept: number; deleted: number; freedBytes: number } {
  const deleted = decisions.filter((d) => d.delete);
  return {
    kept: decisions.length - deleted.length,
    deleted: deleted.length,
    freedBytes: deleted.reduce((sum, d) => sum + d.storedBytes, 0),
  };
}
