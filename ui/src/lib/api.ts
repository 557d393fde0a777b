// Typed wrappers around the Tauri commands of the Rust core.
// Every rejected invoke() rejects with an AppError object.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppError } from "./bindings/AppError";
import type { AppInfo } from "./bindings/AppInfo";
import type { Application } from "./bindings/Application";
import type { BackupEntry } from "./bindings/BackupEntry";
import type { BackupRequest } from "./bindings/BackupRequest";
import type { DownloadRequest } from "./bindings/DownloadRequest";
import type { DrillReport } from "./bindings/DrillReport";
import type { DrillRequest } from "./bindings/DrillRequest";
import type { ApplicationTree } from "./bindings/ApplicationTree";
import type { ConnectionReport } from "./bindings/ConnectionReport";
import type { Environment } from "./bindings/Environment";
import type { Job } from "./bindings/Job";
import type { EnvironmentInput } from "./bindings/EnvironmentInput";
import type { EnvironmentChange } from "./bindings/EnvironmentChange";
import type { MediaBucketCheck } from "./bindings/MediaBucketCheck";
import type { MediaBucketInput } from "./bindings/MediaBucketInput";
import type { MediaStats } from "./bindings/MediaStats";
import type { PgConnectionInput } from "./bindings/PgConnectionInput";
import type { Recurrence } from "./bindings/Recurrence";
import type { PruneReport } from "./bindings/PruneReport";
import type { RetentionDecision } from "./bindings/RetentionDecision";
import type { RetentionPolicy } from "./bindings/RetentionPolicy";
import type { Hooks } from "./bindings/Hooks";
import type { QuarantinedBackup } from "./bindings/QuarantinedBackup";
import type { SyncReport } from "./bindings/SyncReport";
import type { BackupSchedule } from "./bindings/BackupSchedule";
import type { EnvironmentStatus } from "./bindings/EnvironmentStatus";
import type { RestorePreview } from "./bindings/RestorePreview";
import type { DrillPlaceInput } from "./bindings/DrillPlaceInput";
import type { ActivityItem } from "./bindings/ActivityItem";
import type { DatabaseRestorePlan } from "./bindings/DatabaseRestorePlan";
import type { RestoreRequest } from "./bindings/RestoreRequest";
import type { Settings } from "./bindings/Settings";
import type { SshHostKey } from "./bindings/SshHostKey";
import type { StorageTarget } from "./bindings/StorageTarget";
import type { TargetInput } from "./bindings/TargetInput";
import type { TargetReport } from "./bindings/TargetReport";
import type { VerifyReport } from "./bindings/VerifyReport";
import type { DownloadJob } from "./downloads";

export function isAppError(e: unknown): e is AppError {
  if (typeof e !== "object" || e === null) return false;
  const o = e as Record<string, unknown>;
  return (
    typeof o.code === "string" &&
    typeof o.message === "string" &&
    (o.field === null || o.field === undefined || typeof o.field === "string")
  );
}

/** Human-readable message for anything a command (or the runtime) rejected with. */
export function errorMessage(e: unknown): string {
  if (isAppError(e)) return e.message;
  if (typeof e === "string") return e;
  if (e instanceof Error) return e.message;
  return "Unexpected error";
}

export function appInfo(): Promise<AppInfo> {
  return invoke("app_info");
}

export function listApplications(): Promise<ApplicationTree[]> {
  return invoke("list_applications");
}

export function createApplication(name: string): Promise<Application> {
  return invoke("create_application", { name });
}

export function renameApplication(id: string, name: string): Promise<Application> {
  return invoke("rename_application", { id, name });
}

export function deleteApplication(id: string): Promise<null> {
  return invoke("delete_application", { id });
}

export function createEnvironment(input: EnvironmentInput): Promise<Environment> {
  return invoke("create_environment", { input });
}

/** Saves one part of an environment; the rest stays as stored. */
export function changeEnvironment(id: string, change: EnvironmentChange): Promise<Environment> {
  return invoke("change_environment", { id, change });
}

export function deleteEnvironment(id: string): Promise<null> {
  return invoke("delete_environment", { id });
}

export function parseDatabaseUrl(url: string): Promise<PgConnectionInput> {
  return invoke("parse_database_url", { url });
}

export function testConnection(
  input: PgConnectionInput,
  environmentId: string | null,
): Promise<ConnectionReport> {
  return invoke("test_connection", { input, environmentId });
}

/** Counted on the environment's server when it has one. */
export function mediaStats(path: string, environmentId: string | null = null): Promise<MediaStats> {
  return invoke("media_stats", { path, environmentId });
}

export function listTargets(): Promise<StorageTarget[]> {
  return invoke("list_targets");
}

export function createTarget(input: TargetInput): Promise<StorageTarget> {
  return invoke("create_target", { input });
}

export function updateTarget(id: string, input: TargetInput): Promise<StorageTarget> {
  return invoke("update_target", { id, input });
}

export function deleteTarget(id: string): Promise<null> {
  return invoke("delete_target", { id });
}

export function testTarget(input: TargetInput, targetId: string | null): Promise<TargetReport> {
  return invoke("test_target", { input, targetId });
}

export function getSettings(): Promise<Settings> {
  return invoke("get_settings");
}

export function updateSettings(settings: Settings): Promise<Settings> {
  return invoke("update_settings", { settings });
}

/** Starts a backup in the background; progress arrives as `job` events (see onJob). */
export function createBackup(request: BackupRequest): Promise<Job> {
  return invoke("create_backup", { request });
}

/** Every backup attempt of an environment, newest first. */
export function listBackups(environmentId: string): Promise<BackupEntry[]> {
  return invoke("list_backups", { environmentId });
}

/**
 * Reads a backup back from storage, decrypts it and checks it against its manifest; the report
 * is also recorded on the backup. Can take a while on big backups.
 */
export function verifyBackup(backupId: string): Promise<VerifyReport> {
  return invoke("verify_backup", { backupId });
}

/**
 * What restoring a backup into an environment would overwrite there, and whether the user must
 * type the environment's name to confirm.
 */
export function restorePreview(backupId: string, environmentId: string): Promise<RestorePreview> {
  return invoke("restore_preview", { backupId, environmentId });
}

/**
 * What restoring the backup's database into an environment would drop and recreate, keep as it
 * is, and need an administrator for. Reads the start of the dump from storage and looks at the
 * destination database; changes nothing.
 */
export function restoreDatabasePlan(backupId: string, environmentId: string): Promise<DatabaseRestorePlan> {
  return invoke("restore_database_plan", { backupId, environmentId });
}

/**
 * Starts restoring a backup into an environment in the background; progress arrives as `job`
 * events of the destination (see onJob), the summary as the finished job's `outcome`.
 */
export function startRestore(request: RestoreRequest): Promise<Job> {
  return invoke("start_restore", { request });
}

/**
 * Starts writing a backup's dump and/or media tar, decrypted, into an existing local folder,
 * with a SHA256SUMS beside them, in the background. Free space is checked first. Progress
 * arrives as `job` events (see onJob), the files written as the finished job's `outcome`; a
 * download that fails or is cancelled leaves no files behind.
 */
export function startDownload(request: DownloadRequest): Promise<DownloadJob> {
  return invoke("start_download", { request });
}

/** Every download, newest first, finished or not (they are kept across restarts). */
/** What happened to an environment, newest first: its jobs and the prunes that deleted backups. */
export function activity(environmentId: string): Promise<ActivityItem[]> {
  return invoke("activity", { environmentId });
}

export function listDownloads(): Promise<DownloadJob[]> {
  return invoke("list_downloads");
}

/** Opens the system's file manager at a folder. */
export function showInFolder(path: string): Promise<null> {
  return invoke("show_in_folder", { path });
}

/** Asks a running job to stop; false when it was not running (any more) or is past its point of no return. */
export function cancelJob(jobId: string): Promise<boolean> {
  return invoke("cancel_job", { jobId });
}

/**
 * Asks for a key file (a native dialog the app opens) and makes the age identity in it this
 * computer's recovery key (backups made with it elsewhere become readable here; new backups are
 * encrypted to it). Resolves to its recipient, or null when the dialog was cancelled.
 */
export function importRecoveryKey(): Promise<string | null> {
  return invoke("import_recovery_key");
}

/**
 * Asks where to save the recovery key (the secret that decrypts every backup) and writes it
 * there. Resolves to the file written, or null when the dialog was cancelled.
 */
export function exportRecoveryKey(): Promise<string | null> {
  return invoke("export_recovery_key");
}

/** What a folder is picked for: one picked for one purpose does not serve another. */
export type FolderPurpose = "download-folder" | "pg-bin-dir" | "media-folder";

/**
 * The native folder dialog, opened by the app. Paths that decide where data goes or what runs
 * are picked there, never typed in: the app accepts a download folder or client-tools folder
 * only when it was. Resolves to the folder, or null when the dialog was cancelled.
 */
export function chooseFolder(purpose: FolderPurpose, start: string | null): Promise<string | null> {
  return invoke("choose_folder", { purpose, start });
}

/** Sets the commands run around the environment's backups and restores. */
export function setHooks(environmentId: string, hooks: Hooks): Promise<Environment> {
  return invoke("set_hooks", { environmentId, hooks });
}

/** `[user@]host[:port]` or a Host alias of the user's SSH config; "" clears it. */
export function setServer(environmentId: string, server: string): Promise<Environment> {
  return invoke("set_server", { environmentId, server });
}

/** Puts the environment's media in a bucket (replacing a folder), or with null forgets it. */
export function setMediaBucket(environmentId: string, input: MediaBucketInput | null): Promise<Environment> {
  return invoke("set_media_bucket", { environmentId, input });
}

/**
 * What the key may do in the media bucket (the one given, else the saved one): list and read,
 * and with `write` also write and delete a probe object.
 */
export function checkMediaBucket(
  environmentId: string,
  input: MediaBucketInput | null,
  write: boolean,
): Promise<MediaBucketCheck> {
  return invoke("check_media_bucket", { environmentId, input, write });
}

/** Whether pg_dump runs on the environment's server, with its own client tools. */
export function setDumpOnServer(environmentId: string, onServer: boolean): Promise<Environment> {
  return invoke("set_dump_on_server", { environmentId, onServer });
}

/** The Host aliases of the user's SSH configuration. */
export function sshHosts(): Promise<string[]> {
  return invoke("ssh_hosts");
}

export function unknownHostKeys(server: string): Promise<SshHostKey[]> {
  return invoke("unknown_host_keys", { server });
}

/** Connects as a job would; `ssh_key_locked` names a key whose passphrase is needed. */
export function testServer(server: string): Promise<void> {
  return invoke("test_server", { server });
}

/** Kept in the system keyring once it is shown to unlock the key. */
export function setSshKeyPassphrase(key: string, passphrase: string): Promise<void> {
  return invoke("set_ssh_key_passphrase", { key, passphrase });
}

export function trustHostKeys(server: string, fingerprints: string[]): Promise<SshHostKey[]> {
  return invoke("trust_host_keys", { server, fingerprints });
}

/** Pinned backups are kept forever, whatever the retention policy says. */
export function setPinned(backupId: string, pinned: boolean): Promise<null> {
  return invoke("set_pinned", { backupId, pinned });
}

export function setRetention(environmentId: string, policy: RetentionPolicy): Promise<Environment> {
  return invoke("set_retention", { environmentId, policy });
}

/** What `policy` would keep and delete of an environment's backups now; changes nothing. */
export function retentionPreview(environmentId: string, policy: RetentionPolicy): Promise<RetentionDecision[]> {
  return invoke("retention_preview", { environmentId, policy });
}

/** Applies the environment's saved retention policy: deletes what it no longer keeps. */
export function prune(environmentId: string): Promise<PruneReport> {
  return invoke("prune", { environmentId });
}

/**
 * Adds the backups found in a storage target (every manifest.json under it) to the catalog,
 * creating their applications and environments when missing.
 */
export function syncCatalog(targetId: string): Promise<SyncReport> {
  return invoke("sync_catalog", { targetId });
}

/** Backups found in storage whose manifest the recovery key does not vouch for. */
export function quarantinedBackups(): Promise<QuarantinedBackup[]> {
  return invoke("quarantined_backups");
}

/** Trusts a quarantined backup: it joins the catalog as its manifest claims. */
export function trustBackup(id: string): Promise<SyncReport> {
  return invoke("trust_backup", { id });
}

/** Forgets a quarantined backup; storage is left as it is. */
export function dismissQuarantined(id: string): Promise<void> {
  return invoke("dismiss_quarantined", { id });
}

/** Sets (or, with null, removes) an environment's backup schedule; the running scheduler takes it up at once. */
export function setSchedule(environmentId: string, schedule: BackupSchedule | null): Promise<Environment> {
  return invoke("set_schedule", { environmentId, schedule });
}

/** The next `count` runs of a schedule (RFC 3339, UTC), or a validation error naming the bad field. */
export function upcomingRuns(schedule: BackupSchedule, count: number): Promise<string[]> {
  return invoke("upcoming_runs", { schedule, count });
}

/** Every environment with its schedule, next run, last backup and whether backups keep up. */
export function environmentStatuses(): Promise<EnvironmentStatus[]> {
  return invoke("environment_statuses");
}

export function autostartEnabled(): Promise<boolean> {
  return invoke("autostart_enabled");
}

/** Starts Lifeboat at login, or stops doing so; resolves to the setting now in effect. */
export function setAutostart(enabled: boolean): Promise<boolean> {
  return invoke("set_autostart", { enabled });
}

/**
 * Starts a restore drill in the background: the backup (the newest when `backupId` is null)
 * restored into a temporary database and directory, checked, timed and removed. Progress
 * arrives as `job` events; the report lands in the environment's drill history.
 */
export function startDrill(request: DrillRequest): Promise<Job> {
  return invoke("start_drill", { request });
}

/** An environment's drills, newest first. */
export function listDrills(environmentId: string): Promise<DrillReport[]> {
  return invoke("list_drills", { environmentId });
}

/** Sets (or, with null, removes) the environment's restore-drill schedule. */
export function setDrillSchedule(environmentId: string, recurrence: Recurrence | null): Promise<Environment> {
  return invoke("set_drill_schedule", { environmentId, recurrence });
}

/**
 * Sets where the environment's drills restore its database: a scratch server Lifeboat runs on
 * this computer, the environment's own server, or another one (a null password keeps the saved
 * one).
 */
export function setDrillPlace(environmentId: string, place: DrillPlaceInput): Promise<Environment> {
  return invoke("set_drill_place", { environmentId, place });
}

export function drillChecks(environmentId: string): Promise<string[]> {
  return invoke("drill_checks", { environmentId });
}

/** SQL every drill runs on the restored database; each must return a true or non-zero value. */
export function setDrillChecks(environmentId: string, checks: string[]): Promise<null> {
  return invoke("set_drill_checks", { environmentId, checks });
}

/** Calls `handler` when the tray menu's "Back up now…" was chosen. */
export function onTrayBackUp(handler: () => void): Promise<UnlistenFn> {
  return listen("tray-back-up", () => handler());
}

/**
 * Calls `handler` with the whole job record whenever a job (a backup, a restore or a download)
 * starts, progresses or finishes.
 */
export function onJob(handler: (job: Job) => void): Promise<UnlistenFn> {
  return listen<Job>("job", (event) => handler(event.payload));
}
