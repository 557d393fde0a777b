// Tiny app-wide store: the loaded application tree, storage targets, app info, which screen
// is shown, each environment's backups with live job progress, restores and downloads.
import { toast } from "svelte-sonner";
import * as api from "./api";
import { backupRequest, firstFailure, isActive, isDrillJob, isRestoreJob, type DrillJob, isStale, jobNoun, whatLabel, type RestoreJob } from "./backups";
import type { AppInfo } from "./bindings/AppInfo";
import type { ApplicationTree } from "./bindings/ApplicationTree";
import type { BackupEntry } from "./bindings/BackupEntry";
import type { DownloadRequest } from "./bindings/DownloadRequest";
import type { DrillReport } from "./bindings/DrillReport";
import type { Environment } from "./bindings/Environment";
import type { Job } from "./bindings/Job";
import type { StorageTarget } from "./bindings/StorageTarget";
import type { VerifyReport } from "./bindings/VerifyReport";
import { isDownloadJob, type DownloadJob } from "./downloads";

export type View =
  | { kind: "home" }
  | { kind: "application"; id: string }
  | { kind: "environment"; id: string }
  | { kind: "targets" }
  | { kind: "downloads" }
  | { kind: "settings" };

class AppStore {
  tree = $state<ApplicationTree[]>([]);
  targets = $state<StorageTarget[]>([]);
  info = $state<AppInfo | null>(null);
  view = $state<View>({ kind: "home" });
  loaded = $state(false);
  loadError = $state<string | null>(null);
  /** Backup attempts by environment id, newest first; absent until first loaded. */
  backups = $state<Record<string, BackupEntry[]>>({});
  backupsLoading = $state<Record<string, boolean>>({});
  backupsError = $state<Record<string, string>>({});
  /**
   * The queued or running job of each busy environment, as the last `job` event told: a backup
   * of it or a restore into it.
   */
  runningJobs = $state<Record<string, Job>>({});
  /** The safety backup a running restore takes of its destination, by environment id. */
  safetyBackups = $state<Record<string, Job>>({});
  /** Restore jobs by id, as the last `job` event told; never listed among the backups. */
  restores = $state<Record<string, Job>>({});
  /**
   * Download jobs by id, finished or not, as listed and then as the last `job` event told. They
   * run beside an environment's backups and restores, so they are never among those.
   */
  downloads = $state<Record<string, DownloadJob>>({});
  downloadsLoading = $state(false);
  downloadsError = $state<string | null>(null);
  /** Backup ids whose verification is running. */
  verifying = $state<Record<string, boolean>>({});
  /**
   * Asking to save the recovery key now: a backup succeeded while the key has never been
   * saved to a file. Asked once per session; the Overview and Settings keep reminding.
   */
  askToSaveKey = $state(false);
  private askedToSaveKey = false;

  private listening = false;
  private backupRequests: Record<string, number> = {};
  /** Jobs whose end was received: told once, and later reports of them are stale. */
  private finished = new Set<string>();
  /** Counts jobs that ended, for views that summarise them (the overview) to reload on. */
  jobsEnded = $state(0);

  selectedApplication = $derived.by((): ApplicationTree | null => {
    const v = this.view;
    if (v.kind === "application") return this.tree.find((a) => a.id === v.id) ?? null;
    if (v.kind === "environment") {
      return this.tree.find((a) => a.environments.some((e) => e.id === v.id)) ?? null;
    }
    return null;
  });

  /** Every download, newest first. */
  downloadList = $derived(
    Object.values(this.downloads).sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt)),
  );

  /** How many downloads are queued or running. */
  runningDownloads = $derived(this.downloadList.filter(isActive).length);

  selectedEnvironment = $derived.by((): Environment | null => {
    const v = this.view;
    if (v.kind !== "environment") return null;
    for (const a of this.tree) {
      const env = a.environments.find((e) => e.id === v.id);
      if (env) return env;
    }
    return null;
  });

  async init(): Promise<void> {
    await Promise.all([
      this.refreshInfo(),
      this.refresh(),
      this.refreshTargets(),
      this.listenForJobs(),
      this.loadDownloads(),
      api.onTrayBackUp(() => this.askForBackup()).catch((e) => console.warn("No tray events:", api.errorMessage(e))),
    ]);
  }

  /** The environment whose Backups section should open its backup dialog (tray "Back up now…"). */
  backupDialogFor = $state<string | null>(null);

  /** Opens the backup dialog of `environmentId`, else of the one on screen or the first there is. */
  askForBackup(environmentId?: string): void {
    const all = this.tree.flatMap((a) => a.environments);
    const env = all.find((e) => e.id === environmentId) ?? this.selectedEnvironment ?? all[0];
    if (!env) {
      toast.info("Add an application and an environment first: there is nothing to back up yet.");
      return;
    }
    this.selectEnvironment(env.id);
    this.backupDialogFor = env.id;
  }

  /** Subscribes once to the core's `job` events. */
  async listenForJobs(): Promise<void> {
    if (this.listening) return;
    this.listening = true;
    try {
      await api.onJob((job) => this.receiveJob(job));
    } catch (e) {
      this.listening = false;
      console.warn("Cannot listen to job events:", api.errorMessage(e));
    }
  }

  /** Loads (or reloads) an environment's backups; only the latest request's answer is kept. */
  async loadBackups(environmentId: string): Promise<void> {
    const request = (this.backupRequests[environmentId] ?? 0) + 1;
    this.backupRequests[environmentId] = request;
    this.backupsLoading[environmentId] = true;
    try {
      const entries = await api.listBackups(environmentId);
      if (this.backupRequests[environmentId] !== request) return;
      this.backups[environmentId] = entries;
      delete this.backupsError[environmentId];
      // A running restore holds the environment but is not in this list (its safety backup is).
      if (!this.runningRestore(environmentId)) {
        const active = entries.find((e) => isActive(e.job));
        if (active) this.runningJobs[environmentId] = active.job;
        else delete this.runningJobs[environmentId];
      }
    } catch (e) {
      if (this.backupRequests[environmentId] === request) this.backupsError[environmentId] = api.errorMessage(e);
    } finally {
      if (this.backupRequests[environmentId] === request) this.backupsLoading[environmentId] = false;
    }
  }

  /** Loads every download; an older answer does not bring back to life one an event saw end. */
  async loadDownloads(): Promise<void> {
    this.downloadsLoading = true;
    try {
      const jobs = await api.listDownloads();
      const merged = { ...this.downloads };
      for (const job of jobs) {
        if (!isStale(merged[job.id], job)) merged[job.id] = job;
      }
      this.downloads = merged;
      this.downloadsError = null;
    } catch (e) {
      this.downloadsError = api.errorMessage(e);
    } finally {
      this.downloadsLoading = false;
    }
  }

  /**
   * Starts preparing a download and says so: it goes on in the background, where the Downloads
   * view follows it. Rejects as the command does.
   */
  async startDownload(request: DownloadRequest): Promise<void> {
    this.trackJob(await api.startDownload(request));
    toast.info("Preparing download…", {
      description: `The files appear in ${request.directory} once they are ready.`,
      action: { label: "Show downloads", onClick: () => this.show({ kind: "downloads" }) },
    });
  }

  /** Opens the system's file manager at a folder, or says why it could not. */
  async showInFolder(path: string): Promise<void> {
    try {
      await api.showInFolder(path);
    } catch (e) {
      toast.error("Could not open the folder", { description: api.errorMessage(e) });
    }
  }

  /** The environment's queued or running job, if any. */
  activeJob(environmentId: string): Job | null {
    return (
      this.runningJobs[environmentId] ??
      this.backups[environmentId]?.find((e) => isActive(e.job))?.job ??
      null
    );
  }

  /** The restore running into an environment, if any. */
  private runningRestore(environmentId: string): RestoreJob | null {
    const job = this.runningJobs[environmentId];
    return job && isRestoreJob(job) && isActive(job) ? job : null;
  }

  /** The queued or running restore of a backup, if any. */
  activeRestoreOf(backupId: string): RestoreJob | null {
    for (const job of Object.values(this.restores)) {
      if (isRestoreJob(job) && isActive(job) && job.request.backupId === backupId) return job;
    }
    return null;
  }

  /** The job whose bytes show how far a job got: a restore's safety backup while it runs. */
  progressOf(job: Job): Job {
    const safety = this.safetyBackups[job.environmentId];
    return isRestoreJob(job) && job.phase === "safety-backup" && safety ? safety : job;
  }

  /**
   * Asks the core to stop a job. Resolves to true when it will stop; otherwise says why it
   * will not (it had finished, or a restore is past its point of no return).
   */
  async cancelJob(job: Job): Promise<boolean> {
    const noun = jobNoun(job).toLowerCase();
    try {
      if (await api.cancelJob(job.id)) return true;
    } catch (e) {
      toast.error(`Could not cancel the ${noun}`, { description: api.errorMessage(e) });
      return false;
    }
    if (isRestoreJob(job)) {
      toast.info("The restore can no longer be cancelled");
      return false;
    }
    toast.info(`The ${noun} had already finished`);
    if (isDownloadJob(job)) await this.loadDownloads();
    else await this.loadBackups(job.environmentId);
    return false;
  }

  /**
   * Verifies a backup, then records the result on it, reloads the environment's backups and
   * says how it went. Resolves to the report, or null when the verification could not run.
   */
  async verifyBackup(environmentId: string, backupId: string): Promise<VerifyReport | null> {
    if (this.verifying[backupId]) return null;
    this.verifying[backupId] = true;
    let report: VerifyReport;
    try {
      report = await api.verifyBackup(backupId);
    } catch (e) {
      toast.error("Could not verify the backup", { description: api.errorMessage(e), action: this.keyHelp(e) });
      return null;
    } finally {
      delete this.verifying[backupId];
    }

    const entries = this.backups[environmentId];
    if (entries) {
      this.backups[environmentId] = entries.map((e) =>
        e.backup?.id === backupId ? { ...e, backup: { ...e.backup, verification: report } } : e,
      );
    }
    if (report.ok) {
      toast.success("Backup verified");
    } else {
      const failure = firstFailure(report);
      toast.error(failure ? `Verification failed: ${failure.name}` : "Verification failed", {
        description: failure?.detail || undefined,
      });
    }
    await this.loadBackups(environmentId);
    return report;
  }

  /** Pins (keeps forever) or unpins a backup, then shows it so in the environment's list. */
  async setPinned(environmentId: string, backupId: string, pinned: boolean): Promise<void> {
    try {
      await api.setPinned(backupId, pinned);
    } catch (e) {
      toast.error(pinned ? "Could not pin the backup" : "Could not unpin the backup", { description: api.errorMessage(e) });
      return;
    }
    const entries = this.backups[environmentId];
    if (entries) {
      this.backups[environmentId] = entries.map((e) =>
        e.backup?.id === backupId ? { ...e, backup: { ...e.backup, pinned } } : e,
      );
    }
    toast.success(pinned ? "Pinned: kept whatever the retention policy says" : "Unpinned: retention applies again");
  }

  /** Runs a failed backup again, as an on-demand backup of the same parts with the same note. */
  async retryBackup(job: Job): Promise<void> {
    const request = backupRequest(job);
    if (!request) return;
    try {
      this.trackJob(
        await api.createBackup({
          environmentId: request.environmentId,
          database: request.database,
          media: request.media,
          note: request.note,
          kind: "on-demand",
          fullRescan: false,
        }),
      );
    } catch (e) {
      toast.error("Could not start the backup again", { description: api.errorMessage(e) });
    }
  }

  /** Records a job that a command just started, unless its events got here first. */
  trackJob(job: Job): void {
    const known =
      job.id in this.restores ||
      job.id in this.downloads ||
      this.runningJobs[job.environmentId]?.id === job.id ||
      this.backups[job.environmentId]?.some((e) => e.job.id === job.id);
    if (!known) this.receiveJob(job);
  }

  /** Applies a `job` event: live progress, then a toast and a reload once the job ends. */
  receiveJob(job: Job): void {
    // Anything after a job's end (a late progress report, the end twice) changes nothing.
    if (this.finished.has(job.id)) return;
    if (isDownloadJob(job)) this.receiveDownload(job);
    else if (isDrillJob(job)) this.receiveDrill(job);
    else if (isRestoreJob(job)) this.receiveRestore(job);
    else this.receiveBackup(job);
    if (this.finished.has(job.id)) this.jobsEnded += 1;
  }

  private receiveBackup(job: Job): void {
    const envId = job.environmentId;
    const entries = this.backups[envId];
    const previous = entries?.find((e) => e.job.id === job.id)?.job;
    if (isStale(previous, job)) return;

    if (entries) {
      this.backups[envId] = previous
        ? entries.map((e) => (e.job.id === job.id ? { ...e, job } : e))
        : [{ job, backup: null }, ...entries];
    }
    // A backup of an environment a restore is running into is that restore's safety backup.
    const restore = this.runningRestore(envId);
    if (isActive(job)) {
      if (restore) this.safetyBackups[envId] = job;
      else this.runningJobs[envId] = job;
      return;
    }
    if (this.runningJobs[envId]?.id === job.id) delete this.runningJobs[envId];
    if (this.safetyBackups[envId]?.id === job.id) delete this.safetyBackups[envId];
    this.finished.add(job.id);
    // The restore tells how its safety backup went.
    if (!restore) this.notifyFinished(job);
    if (entries) void this.loadBackups(envId);
  }

  private receiveRestore(job: RestoreJob): void {
    const envId = job.environmentId;
    this.restores[job.id] = job;
    if (isActive(job)) {
      this.runningJobs[envId] = job;
      return;
    }
    if (this.runningJobs[envId]?.id === job.id) delete this.runningJobs[envId];
    delete this.safetyBackups[envId];
    this.finished.add(job.id);
    this.notifyFinished(job);
    // The safety backup is one of the destination's backups now.
    if (this.backups[envId]) void this.loadBackups(envId);
  }

  /** Each environment's drills, newest first, once loaded. */
  drills = $state<Record<string, DrillReport[]>>({});
  /** The drill running in each environment, as the last `job` event told. */
  runningDrills = $state<Record<string, DrillJob>>({});

  async loadDrills(environmentId: string): Promise<void> {
    try {
      this.drills[environmentId] = await api.listDrills(environmentId);
    } catch (e) {
      toast.error("Could not load the restore drills", { description: api.errorMessage(e) });
    }
  }

  async startDrill(environmentId: string, backupId: string | null = null): Promise<void> {
    try {
      const job = await api.startDrill({ environmentId, backupId });
      if (!this.finished.has(job.id)) this.runningDrills[environmentId] = job as DrillJob;
    } catch (e) {
      toast.error("Could not start the restore drill", { description: api.errorMessage(e) });
    }
  }

  private receiveDrill(job: DrillJob): void {
    const envId = job.environmentId;
    if (isActive(job)) {
      this.runningDrills[envId] = job;
      return;
    }
    delete this.runningDrills[envId];
    this.finished.add(job.id);
    const where = this.environmentLabel(job.environmentId) ?? "the environment";
    if (job.status === "succeeded") toast.success("Restore drill passed", { description: where });
    else if (job.status === "cancelled") toast.info("Restore drill cancelled", { description: where });
    else toast.error(`Restore drill of ${where} failed`, { description: job.error?.message, action: this.keyHelp(job.error) });
    void this.loadDrills(envId);
  }

  private receiveDownload(job: DownloadJob): void {
    if (isStale(this.downloads[job.id], job)) return;
    this.downloads[job.id] = job;
    if (isActive(job)) return;
    this.finished.add(job.id);
    if (job.status === "succeeded") {
      const directory = job.outcome?.directory ?? job.request.directory;
      toast.success("Download ready", {
        description: directory,
        action: { label: "Show in folder", onClick: () => void this.showInFolder(directory) },
      });
    } else if (job.status === "cancelled") {
      toast.info("Download cancelled");
    } else {
      toast.error("Download failed", {
        description: job.error?.message ?? "The download did not finish.",
        action: this.keyHelp(job.error),
      });
    }
  }

  private notifyFinished(job: Job): void {
    const noun = jobNoun(job);
    const where = this.environmentLabel(job.environmentId);
    const what = whatLabel(job.request);
    const failure = job.outcome?.type === "restore" ? firstFailure(job.outcome) : null;
    if (job.status === "succeeded" && failure) {
      toast.warning(`${noun} finished, but a check failed: ${failure.name}`, { description: failure.detail || undefined });
    } else if (job.status === "succeeded") {
      toast.success(`${noun} finished`, { description: where ? `${where} · ${what}` : what });
      if (job.request.type === "backup") this.askToSaveKeyOnce();
    } else if (job.status === "cancelled") {
      toast.info(`${noun} cancelled`, { description: where ?? undefined });
    } else {
      toast.error(where ? `${noun} of ${where} failed` : `${noun} failed`, {
        description: job.error?.message ?? `The ${noun.toLowerCase()} did not finish.`,
        action: this.keyHelp(job.error),
      });
    }
  }

  /** For an error that is a missing recovery key: the way to import it, as a toast action. */
  keyHelp(e: unknown): { label: string; onClick: () => void } | undefined {
    if (!api.isAppError(e) || e.code !== "recovery_key_missing") return undefined;
    return { label: "Import recovery key…", onClick: () => this.show({ kind: "settings" }) };
  }

  private askToSaveKeyOnce(): void {
    if (this.askedToSaveKey || !this.info || this.info.recoveryKeySavedAt) return;
    this.askedToSaveKey = true;
    this.askToSaveKey = true;
  }

  /** "Shop / production", or null for an environment not in the tree. */
  environmentLabel(environmentId: string): string | null {
    for (const a of this.tree) {
      const env = a.environments.find((e) => e.id === environmentId);
      if (env) return `${a.name} / ${env.name}`;
    }
    return null;
  }

  async refresh(): Promise<void> {
    try {
      this.tree = await api.listApplications();
      this.loadError = null;
    } catch (e) {
      this.loadError = api.errorMessage(e);
    } finally {
      this.loaded = true;
    }
    this.fixView();
  }

  async refreshTargets(): Promise<void> {
    try {
      this.targets = await api.listTargets();
    } catch (e) {
      this.loadError = api.errorMessage(e);
    }
  }

  async refreshInfo(): Promise<void> {
    try {
      this.info = await api.appInfo();
    } catch {
      this.info = null;
    }
  }

  /** Replaces one environment in the tree after an update, without a full reload. */
  replaceEnvironment(env: Environment): void {
    this.tree = this.tree.map((a) =>
      a.id !== env.applicationId
        ? a
        : {
            ...a,
            environments: a.environments
              .map((e) => (e.id === env.id ? env : e))
              .sort((x, y) => x.name.localeCompare(y.name)),
          },
    );
  }

  /**
   * Sections of the page on screen holding edits not saved yet, by key, with their names
   * (e.g. `database: "Database"`). Leaving the page asks first.
   */
  unsaved = $state<Record<string, string>>({});
  /** Where the user wanted to go while edits were unsaved: the leave-page question is open. */
  leaving = $state<View | null>(null);

  /** A section reports whether it holds unsaved edits (and forgets itself when it goes). */
  markUnsaved(key: string, name: string, dirty: boolean): void {
    if (dirty) this.unsaved[key] = name;
    else delete this.unsaved[key];
  }

  /** Goes to `view`, unless edits would be lost: then asks first (see `leaving`). */
  private go(view: View): void {
    if (sameView(view, this.view)) return;
    if (Object.keys(this.unsaved).length > 0) {
      this.leaving = view;
      return;
    }
    this.view = view;
  }

  /** The answer to the leave-page question: go and drop the edits, or stay. */
  answerLeaving(leave: boolean): void {
    const view = this.leaving;
    this.leaving = null;
    if (leave && view) {
      this.unsaved = {};
      this.view = view;
    }
  }

  selectApplication(id: string): void {
    this.go({ kind: "application", id });
  }

  selectEnvironment(id: string): void {
    this.go({ kind: "environment", id });
  }

  /** After a create command: reloads the tree, shows the new application or environment and says so. */
  async showCreated(kind: "application" | "environment", created: { id: string; name: string }): Promise<void> {
    await this.refresh();
    this.view = { kind, id: created.id };
    toast.success(`${kind === "application" ? "Application" : "Environment"} “${created.name}” created`);
  }

  show(view: View): void {
    this.go(view);
  }

  /**
   * If the selected application or environment disappeared, fall back to something sensible;
   * "home" shows the first application, or the empty state when there is none.
   */
  private fixView(): void {
    const v = this.view;
    if (v.kind === "application" && !this.tree.some((a) => a.id === v.id)) {
      this.view = { kind: "home" };
    } else if (
      v.kind === "environment" &&
      !this.tree.some((a) => a.environments.some((e) => e.id === v.id))
    ) {
      this.view = { kind: "home" };
    }
    if (this.view.kind === "home" && this.tree.length > 0) {
      this.view = { kind: "application", id: this.tree[0].id };
    }
  }
}

function sameView(a: View, b: View): boolean {
  return a.kind === b.kind && ("id" in a ? a.id : null) === ("id" in b ? b.id : null);
}

export const store = new AppStore();
