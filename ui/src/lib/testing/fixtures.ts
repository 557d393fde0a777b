// Sample records for unit tests.
import type { ApplicationTree } from "../bindings/ApplicationTree";
import type { BackupEntry } from "../bindings/BackupEntry";
import type { BackupRecord } from "../bindings/BackupRecord";
import type { BackupRequest } from "../bindings/BackupRequest";
import type { DownloadRequest } from "../bindings/DownloadRequest";
import type { DownloadSummary } from "../bindings/DownloadSummary";
import type { Environment } from "../bindings/Environment";
import type { Job } from "../bindings/Job";
import type { JobRequest } from "../bindings/JobRequest";
import type { RestoreRequest } from "../bindings/RestoreRequest";
import type { RestoreSummary } from "../bindings/RestoreSummary";
import type { DownloadJob } from "../downloads";

export const MiB = 1024 * 1024;

export const environment: Environment = {
  id: "e1",
  applicationId: "a1",
  name: "production",
  connection: { host: "db.example.com", port: 5432, database: "shop", user: "app", sslMode: "prefer", hasPassword: true },
  mediaDir: "/srv/shop/media",
  targetId: "t-local",
  createdAt: "2024-01-01T00:00:00Z",
  retention: { onDemandKeepRecent: 3, onDemandMaxAgeDays: 30, daily: 7, weekly: 4, monthly: 12 },
  schedule: null,
  drillSchedule: null,
  drillPlace: { kind: "scratch" },
  server: null,
  dumpOnServer: false,
  mediaBucket: null,
  hooks: { beforeBackup: null, afterBackup: null, beforeRestore: null, afterRestore: null, timeoutSeconds: 600 },
};

type JobOverrides<R> = Partial<Omit<Job, "request">> & { request?: Partial<R> };

function jobWith(request: JobRequest, overrides: Partial<Omit<Job, "request">>): Job {
  return {
    id: "j1",
    environmentId: "e1",
    request,
    status: "running",
    phase: "streaming",
    bytesDone: 0,
    bytesTotal: 0,
    bytesPerSecond: 0,
    error: null,
    backupId: null,
    cancellable: true,
    outcome: null,
    createdAt: "2025-03-03T14:30:00.000Z",
    finishedAt: null,
    hooks: [],
    ...overrides,
  };
}

export function job(overrides: JobOverrides<BackupRequest> = {}): Job {
  const { request, ...rest } = overrides;
  return jobWith(
    { type: "backup", kind: "on-demand", environmentId: "e1", database: true, media: true, note: null, fullRescan: false, ...request },
    rest,
  );
}

/** Shop with its production (e1) and staging (e2) environments. */
export const tree: ApplicationTree[] = [
  {
    id: "a1",
    name: "Shop",
    createdAt: "2024-01-01T00:00:00Z",
    environments: [
      environment,
      {
        ...environment,
        id: "e2",
        name: "staging",
        connection: { ...environment.connection!, host: "localhost", database: "shop_staging" },
        mediaDir: "/srv/staging/media",
      },
    ],
  },
  { id: "a2", name: "Blog", createdAt: "2024-01-02T00:00:00Z", environments: [] },
];

/** A download of `record()` (a backup of production, e1) into /home/me/Downloads, downloading. */
export function downloadJob(
  overrides: Partial<Omit<DownloadJob, "request">> & { request?: Partial<DownloadRequest> } = {},
): DownloadJob {
  const { request, outcome = null, ...rest } = overrides;
  return {
    ...jobWith(
      {
        type: "download",
        backupId: "20250303T143000Z-abcd1234",
        directory: "/home/me/Downloads",
        database: true,
        media: true,
        ...request,
      },
      { id: "d1", phase: "downloading", bytesTotal: 132 * MiB, ...rest },
    ),
    outcome,
  } as DownloadJob;
}

/** What a download of `record()`'s database and media into /home/me/Downloads wrote. */
export function downloadSummary(): { type: "download" } & DownloadSummary {
  const dir = "/home/me/Downloads";
  return {
    type: "download",
    backupId: "20250303T143000Z-abcd1234",
    directory: dir,
    files: [
      { path: `${dir}/Shop-production-20250303T143000Z.dump`, bytes: 120 * MiB, sha256: "a".repeat(64) },
      { path: `${dir}/Shop-production-20250303T143000Z-media.tar`, bytes: 12 * MiB, sha256: "c".repeat(64) },
      { path: `${dir}/SHA256SUMS`, bytes: 230, sha256: "e".repeat(64) },
    ],
  };
}

/** A restore job of `record()` into staging (e2), restoring. */
export function restoreJob(overrides: JobOverrides<RestoreRequest> = {}): Job {
  const { request, ...rest } = overrides;
  return jobWith(
    {
      type: "restore",
      backupId: "20250303T143000Z-abcd1234",
      environmentId: "e2",
      database: true,
      media: true,
      safetyBackup: true,
      confirmation: "staging",
      ...request,
    },
    { id: "r1", environmentId: "e2", phase: "restoring", ...rest },
  );
}

export function restoreSummary(overrides: Partial<RestoreSummary> = {}): RestoreSummary {
  return {
    backupId: "20250303T143000Z-abcd1234",
    safetyBackupId: "20250305T100000Z-5afe0001",
    database: {
      database: "shop_staging",
      tables: 42,
      extensions: ["plpgsql", "pg_trgm"],
      latestMigrations: [
        { app: "orders", name: "0012_order_total" },
        { app: "auth", name: "0012_alter_user_first_name_max_length" },
      ],
      kept: [{ kind: "extension", name: "pg_trgm", reason: "already installed, owned by postgres", fix: null, command: null }],
    },
    media: { directory: "/srv/staging/media", files: 2400, bytes: 11 * MiB, keptCopy: null },
    checks: [
      { name: "tables", ok: true, detail: "42 of the dump's 42 tables exist" },
      { name: "extensions", ok: true, detail: "plpgsql, pg_trgm are installed" },
      { name: "media", ok: true, detail: "2400 files match the manifest and are in place" },
    ],
    durationMs: 83_000,
    ...overrides,
  };
}

export function record(overrides: Partial<BackupRecord> = {}): BackupRecord {
  return {
    id: "20250303T143000Z-abcd1234",
    jobId: "j1",
    targetId: "t-local",
    storageDir: "Shop/production/20250303T143000Z-abcd1234",
    storedBytes: 40 * MiB,
    verification: null,
    label: null,
    pinned: false,
    manifest: {
      format: 1,
      backupId: "20250303T143000Z-abcd1234",
      application: { id: "a1", name: "Shop" },
      environment: { id: "e1", name: "production" },
      kind: "on-demand",
      createdAt: "2025-03-03T14:30:00.000Z",
      finishedAt: "2025-03-03T14:32:05.000Z",
      note: "Before the 4.2 upgrade",
      database: {
        artifact: {
          name: "database.dump.zst.age",
          plaintextBytes: 120 * MiB,
          plaintextSha256: "a".repeat(64),
          storedBytes: 30 * MiB,
          storedSha256: "b".repeat(64),
        },
        serverVersion: "16.4",
        pgDumpVersion: "16.4",
        tocEntries: 412,
        migrations: null,
      },
      media: {
        artifact: {
          name: "media.tar.zst.age",
          plaintextBytes: 12 * MiB,
          plaintextSha256: "c".repeat(64),
          storedBytes: 10 * MiB,
          storedSha256: "d".repeat(64),
        },
        fileCount: 2400,
        totalBytes: 11 * MiB,
      },
      compression: { algorithm: "zstd", level: 3 },
      encryption: { scheme: "age-x25519", recipient: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgp" },
    },
    ...overrides,
  };
}

export function succeeded(id = "j1"): BackupEntry {
  return {
    job: job({ id, status: "succeeded", finishedAt: "2025-03-03T14:32:05.000Z", backupId: "20250303T143000Z-abcd1234" }),
    backup: record({ jobId: id }),
  };
}
