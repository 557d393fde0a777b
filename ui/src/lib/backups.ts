// What the Backups views show of jobs and backups: states, labels, progress.
import type { Label } from "./bindings/Label";
import type { BackupKind } from "./bindings/BackupKind";
import type { BackupRequest } from "./bindings/BackupRequest";
import type { DrillRequest } from "./bindings/DrillRequest";
import type { Job } from "./bindings/Job";
import type { JobRequest } from "./bindings/JobRequest";
import type { RestoreRequest } from "./bindings/RestoreRequest";
import type { VerifyCheck } from "./bindings/VerifyCheck";
import type { VerifyReport } from "./bindings/VerifyReport";
import { isDownloadJob } from "./downloads";

/** A job that restores a backup into its environment (the destination). */
export type RestoreJob = Job & { request: { type: "restore" } & RestoreRequest };

/** A job that restores a backup into a temporary database to prove it restorable. */
export type DrillJob = Job & { request: { type: "drill" } & DrillRequest };

export function isDrillJob(job: Job): job is DrillJob {
  return job.request.type === "drill";
}

export function isRestoreJob(job: Job): job is RestoreJob {
  return job.request.type === "restore";
}

/** What a job is, as a toast or a card names it. */
export function jobNoun(job: Job): "Backup" | "Restore" | "Download" | "Restore drill" {
  if (isDownloadJob(job)) return "Download";
  if (isDrillJob(job)) return "Restore drill";
  return isRestoreJob(job) ? "Restore" : "Backup";
}

/** What a backup job was asked to do; null for other jobs. */
export function backupRequest(job: Job): BackupRequest | null {
  return job.request.type === "backup" ? job.request : null;
}

/** A job's status, with interrupted jobs (failed with code `interrupted`) told apart. */
export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export function jobState(job: Job): JobState {
  if (job.status === "failed" && job.error?.code === "interrupted") return "interrupted";
  return job.status;
}

export const STATE_LABELS: Record<JobState, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
  interrupted: "Interrupted",
};

export const KIND_LABELS: Record<BackupKind, string> = {
  "on-demand": "On-demand",
  scheduled: "Scheduled",
  safety: "Safety backup",
};

/** Each kind's badge colour: a restore's safety backup stands apart from the user's own. */
export const KIND_TONES: Record<BackupKind, "sky" | "slate" | "amber"> = {
  "on-demand": "slate",
  scheduled: "sky",
  safety: "amber",
};

/** The grandfather-father-son tier a scheduled backup is kept as. */
export const LABEL_NAMES: Record<Label, string> = {
  daily: "daily",
  weekly: "weekly",
  monthly: "monthly",
};

/** Queued or running: the environment is busy. */
export function isActive(job: Job): boolean {
  return job.status === "queued" || job.status === "running";
}

/** Whether a report of a job is older than what is known of it: still running after its end. */
export function isStale(known: Job | undefined, report: Job): boolean {
  return known !== undefined && !isActive(known) && isActive(report);
}

/** "Database", "Media" or "Database + media". */
export function whatLabel(what: JobRequest | { database: boolean; media: boolean }): string {
  if ("type" in what && what.type === "drill") return "Everything the backup holds";
  if (!("database" in what)) return "Nothing";
  if (what.database && what.media) return "Database + media";
  if (what.database) return "Database";
  if (what.media) return "Media";
  return "Nothing";
}

/**
 * Whether bytesTotal is still a guess: while a database is dumped the total is the database's
 * size on the server, which says little about the size of the dump. A restore's total (the
 * stored bytes it reads) is exact.
 */
export function isEstimate(job: Job): boolean {
  return (backupRequest(job)?.database ?? false) && isActive(job);
}

/** Whole percent done, or null while the total is unknown. Never 100 before the job ends. */
export function progressPercent(job: Job): number | null {
  if (job.status === "succeeded") return 100;
  if (job.bytesTotal <= 0) return null;
  const percent = Math.floor((job.bytesDone / job.bytesTotal) * 100);
  return Math.max(0, Math.min(isActive(job) ? 99 : 100, percent));
}

/** Milliseconds from start to finish (or to `now` while running), null if unknown. */
export function jobDurationMs(job: Job, now: number = Date.now()): number | null {
  const start = Date.parse(job.createdAt);
  const end = job.finishedAt ? Date.parse(job.finishedAt) : isActive(job) ? now : Number.NaN;
  if (Number.isNaN(start) || Number.isNaN(end)) return null;
  return Math.max(0, end - start);
}

/** Milliseconds left at the current throughput, or null when it cannot be told. */
export function remainingMs(job: Job): number | null {
  if (!isActive(job) || job.bytesPerSecond <= 0 || job.bytesTotal <= job.bytesDone) return null;
  return ((job.bytesTotal - job.bytesDone) / job.bytesPerSecond) * 1000;
}

const RESTORE_PHASES: Record<string, string> = {
  checking: "Checking…",
  "before-restore": "Running the before-restore hook…",
  fetching: "Fetching and checking the backup…",
  "safety-backup": "Taking a safety backup…",
  restoring: "Restoring…",
  committing: "Committing…",
  "checking-restored": "Checking the restored database…",
};

/** What a running job is doing, in words. */
export function phaseLabel(job: Job): string {
  if (job.status === "queued") return "Waiting to start";
  if (isRestoreJob(job) && job.phase in RESTORE_PHASES) return RESTORE_PHASES[job.phase];
  switch (job.phase) {
    case "":
      return "Preparing";
    case "streaming":
      return "Compressing, encrypting and uploading";
    case "before-backup":
      return "Running the before-backup hook";
    case "downloading":
      return "Decrypting and writing the files";
    default:
      return job.phase.charAt(0).toUpperCase() + job.phase.slice(1);
  }
}

/**
 * What a running job's card says it does: "Backing up database + media", "Restoring from
 * <backup id>…", "Preparing database + media for download".
 */
export function jobTitle(job: Job): string {
  if (isRestoreJob(job)) return `Restoring from ${job.request.backupId}…`;
  if (isDownloadJob(job)) return `Preparing ${whatLabel(job.request).toLowerCase()} for download`;
  if (isDrillJob(job)) return `Drilling a restore of ${job.request.backupId ?? "the newest backup"}…`;
  return `Backing up ${whatLabel(job.request).toLowerCase()}`;
}

/** The first check a verification (or a restore) failed, if any. */
export function firstFailure(report: { checks: VerifyCheck[] }): VerifyCheck | null {
  return report.checks.find((c) => !c.ok) ?? null;
}

/** The more recent of two verifications of a backup (either may be missing). */
export function latestVerification(a: VerifyReport | null, b: VerifyReport | null): VerifyReport | null {
  if (!a || !b) return a ?? b;
  return Date.parse(b.verifiedAt) > Date.parse(a.verifiedAt) ? b : a;
}
