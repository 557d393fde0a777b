// Prepared downloads: a backup's dump and media tar, decrypted into a local folder with a
// SHA256SUMS beside them. What the download dialog and the Downloads view work out.
import type { BackupManifest } from "./bindings/BackupManifest";
import type { DownloadRequest } from "./bindings/DownloadRequest";
import type { DownloadSummary } from "./bindings/DownloadSummary";
import type { Job } from "./bindings/Job";
import type { Parts } from "./restores";

/** A job that writes a backup's files into a local folder; `environmentId` is the backup's. */
export type DownloadJob = Job & {
  request: { type: "download" } & DownloadRequest;
  outcome: ({ type: "download" } & DownloadSummary) | null;
};

export function isDownloadJob(job: Job): job is DownloadJob {
  return job.request.type === "download";
}

/** What a download job was asked to do, to ask it again. */
export function downloadRequestOf(job: DownloadJob): DownloadRequest {
  const { backupId, directory, database, media } = job.request;
  return { backupId, directory, database, media };
}

/** Bytes the chosen parts take once written: their plaintext sizes. */
export function downloadBytes(manifest: BackupManifest, parts: Parts): number {
  let bytes = 0;
  if (parts.database && manifest.database) bytes += manifest.database.artifact.plaintextBytes;
  if (parts.media && manifest.media) bytes += manifest.media.artifact.plaintextBytes;
  return bytes;
}

/**
 * The names the core gives the chosen parts' files, then SHA256SUMS: "Shop-production-
 * 20250303T143000Z.dump" (with "…-roles.sql" when the backup has its server's roles), "…-media.tar". It adds "-2", "-3"… when the folder holds them already.
 */
export function downloadFileNames(manifest: BackupManifest, parts: Parts): string[] {
  const created = new Date(manifest.createdAt);
  const stamp = Number.isNaN(created.getTime())
    ? manifest.backupId
    : created.toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
  const stem = `${manifest.application.name}-${manifest.environment.name}-${stamp}`;
  const names: string[] = [];
  if (parts.database && manifest.database) names.push(`${stem}.dump`);
  if (parts.database && manifest.database && manifest.globals) names.push(`${stem}-roles.sql`);
  if (parts.media && manifest.media) names.push(`${stem}-media.tar`);
  return [...names, "SHA256SUMS"];
}

/** The last part of a path, whichever the separator. */
export function fileName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}
