// What the restore dialog works out: where a backup can go, what it would overwrite there,
// whether the confirmation lets it start, and what a finished restore left behind.
import type { ApplicationTree } from "./bindings/ApplicationTree";
import type { BackupRecord } from "./bindings/BackupRecord";
import type { DatabaseRestorePlan } from "./bindings/DatabaseRestorePlan";
import type { Environment } from "./bindings/Environment";
import type { Job } from "./bindings/Job";
import type { RestorePreview } from "./bindings/RestorePreview";
import type { FieldErrors } from "./errors";
import { plural } from "./format";
import { mediaLocation } from "./media";

export type Parts = { database: boolean; media: boolean };

/** Why a restore or a download with neither part ticked cannot start, as the core says it. */
export const NO_PARTS = "Choose the database, the media or both.";

/** The parts a restore can take from a backup: those it holds. */
export function partsOf(record: BackupRecord): Parts {
  return { database: record.manifest.database !== null, media: record.manifest.media !== null };
}

/** An environment of the tree with its application, or null when it is not there (any more). */
export function findEnvironment(
  tree: ApplicationTree[],
  environmentId: string,
): { app: ApplicationTree; env: Environment } | null {
  for (const app of tree) {
    const env = app.environments.find((e) => e.id === environmentId);
    if (env) return { app, env };
  }
  return null;
}

/** Why the destination cannot take the chosen parts, by request field, as the core would refuse. */
export function missingAtDestination(env: Environment, parts: Parts): FieldErrors {
  const errors: FieldErrors = {};
  if (parts.database && env.connection === null) {
    errors.database = `${env.name} has no database connection to restore into.`;
  }
  if (parts.media && mediaLocation(env) === null) {
    errors.media = `${env.name} has no media directory or bucket to restore into.`;
  }
  return errors;
}

/**
 * "The database shop on localhost:5432 and the media directory /srv/media of Shop / staging
 * will be overwritten.", or null when none of the chosen parts has anything to overwrite.
 */
export function overwriteSentence(preview: RestorePreview, parts: Parts): string | null {
  const things: string[] = [];
  if (parts.database && preview.database) things.push(`the database ${preview.database}`);
  if (parts.media && preview.mediaDir) {
    const kind = preview.mediaDir.startsWith("s3://") ? "the media in" : "the media directory";
    things.push(`${kind} ${preview.mediaDir}`);
  }
  if (things.length === 0) return null;
  const what = things.join(" and ");
  return `${what.charAt(0).toUpperCase()}${what.slice(1)} of ${preview.applicationName} / ${preview.environmentName} will be overwritten.`;
}

/**
 * Whether the restore may start as far as the confirmation goes: the destination's name typed
 * exactly when the preview asks for it (surrounding spaces do not count, as in the core).
 */
export function isConfirmed(preview: RestorePreview, typed: string): boolean {
  return !preview.requiresTypedConfirmation || typed.trim() === preview.environmentName;
}

// Phases before the point of no return: a restore that stopped in one changed nothing.
const REVERSIBLE_PHASES = new Set(["", "checking", "before-restore", "fetching", "safety-backup", "restoring"]);

/** Whether a restore that failed or was cancelled left its destination as it was. */
export function leftDestinationAlone(job: Job): boolean {
  return job.status !== "succeeded" && REVERSIBLE_PHASES.has(job.phase);
}

// Plurals pg_dump's kinds of object need beyond adding an "s".
const PLURALS: Record<string, string> = { index: "indexes", "materialized view": "materialized views", policy: "policies" };

/**
 * "3 tables, 2 sequences and 1 index": what a database restore drops (where present) and
 * creates again from the dump; null when the plan recreates nothing.
 */
export function recreatedSentence(plan: DatabaseRestorePlan): string | null {
  const parts = plan.recreated.map((c) => plural(c.count, c.kind, PLURALS[c.kind] ?? `${c.kind}s`));
  if (parts.length === 0) return null;
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
}
