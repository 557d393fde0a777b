import { describe, expect, it, vi, beforeEach } from "vitest";
import { toast, type ExternalToast } from "svelte-sonner";
import * as api from "./api";
import { store } from "./state.svelte";
import { downloadJob, downloadSummary, job, restoreJob, restoreSummary, succeeded, tree } from "./testing/fixtures";

vi.mock("./api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./api")>();
  return {
    ...actual,
    listBackups: vi.fn(),
    onJob: vi.fn(),
    cancelJob: vi.fn(),
    listDownloads: vi.fn(),
    startDownload: vi.fn(),
    showInFolder: vi.fn(),
  };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn(), info: vi.fn(), warning: vi.fn() } }));

describe("store: backups and job events", () => {
  beforeEach(() => {
    vi.mocked(api.listBackups).mockReset();
    vi.mocked(toast.success).mockReset();
    vi.mocked(toast.error).mockReset();
    vi.mocked(toast.info).mockReset();
    vi.mocked(toast.warning).mockReset();
    store.backups = {};
    store.runningJobs = {};
    store.safetyBackups = {};
    store.restores = {};
    store.tree = tree;
  });

  it("listens to job events once", async () => {
    vi.mocked(api.onJob).mockResolvedValue(() => {});
    await Promise.all([store.listenForJobs(), store.listenForJobs()]);
    expect(api.onJob).toHaveBeenCalledOnce();
  });

  it("follows a job's progress, then reloads the list and toasts when it ends", async () => {
    const older = succeeded("j0");
    vi.mocked(api.listBackups).mockResolvedValueOnce([older]);
    await store.loadBackups("e1");

    store.receiveJob(job({ id: "j1", bytesDone: 10, bytesTotal: 100 }));
    expect(store.activeJob("e1")?.bytesDone).toBe(10);
    expect(store.backups.e1.map((e) => e.job.id)).toEqual(["j1", "j0"]);

    store.receiveJob(job({ id: "j1", bytesDone: 50, bytesTotal: 100 }));
    expect(store.activeJob("e1")?.bytesDone).toBe(50);
    expect(store.backups.e1).toHaveLength(2);

    vi.mocked(api.listBackups).mockResolvedValueOnce([succeeded("j1"), older]);
    store.receiveJob(job({ id: "j1", status: "succeeded", finishedAt: "2025-03-03T14:32:05.000Z" }));
    expect(store.activeJob("e1")).toBeNull();
    expect(toast.success).toHaveBeenCalledWith("Backup finished", expect.anything());
    await vi.waitFor(() => expect(store.backups.e1[0].backup).not.toBeNull());

    // A late progress report does not bring the job back to life.
    store.receiveJob(job({ id: "j1", bytesDone: 60, bytesTotal: 100 }));
    expect(store.activeJob("e1")).toBeNull();
  });

  it("toasts a failure with its message, once", () => {
    const failed = job({
      id: "j9",
      status: "failed",
      finishedAt: "2025-03-03T14:30:05.000Z",
      error: { code: "pg_dump_failed", field: null, message: "pg_dump: connection refused" },
    });
    store.receiveJob(failed);
    store.receiveJob(failed);
    expect(toast.error).toHaveBeenCalledOnce();
    expect(toast.error).toHaveBeenCalledWith(expect.any(String), { description: "pg_dump: connection refused" });
  });

  it("keeps restore jobs out of the backups, and tells how they ended", async () => {
    vi.mocked(api.listBackups).mockResolvedValue([succeeded("j0")]);
    await store.loadBackups("e2");

    store.trackJob(restoreJob({ id: "r10", phase: "checking" }));
    store.receiveJob(restoreJob({ id: "r10", bytesDone: 10, bytesTotal: 100 }));
    expect(store.backups.e2.map((e) => e.job.id)).toEqual(["j0"]);
    expect(store.activeJob("e2")?.id).toBe("r10");
    expect(store.restores.r10.bytesDone).toBe(10);
    expect(store.activeRestoreOf("20250303T143000Z-abcd1234")?.id).toBe("r10");

    store.receiveJob(
      restoreJob({ id: "r10", status: "succeeded", finishedAt: "2025-03-05T10:01:23.000Z", outcome: { type: "restore", ...restoreSummary() } }),
    );
    expect(store.activeJob("e2")).toBeNull();
    expect(store.activeRestoreOf("20250303T143000Z-abcd1234")).toBeNull();
    expect(store.backups.e2.map((e) => e.job.id)).toEqual(["j0"]);
    expect(toast.success).toHaveBeenCalledWith("Restore finished", { description: "Shop / staging · Database + media" });
    expect(toast.success).not.toHaveBeenCalledWith("Backup finished", expect.anything());
    // The destination's backups are reloaded: the safety backup is one of them now.
    expect(api.listBackups).toHaveBeenCalledTimes(2);
  });

  it("follows a restore's safety backup as part of the restore", async () => {
    vi.mocked(api.listBackups).mockResolvedValue([]);
    await store.loadBackups("e2");
    const restore = restoreJob({ id: "r11", phase: "safety-backup" });
    store.receiveJob(restore);

    const safety = job({ id: "j11", environmentId: "e2", bytesDone: 5, bytesTotal: 50, request: { environmentId: "e2", note: "before restore of x" } });
    store.receiveJob(safety);
    expect(store.activeJob("e2")?.id).toBe("r11");
    expect(store.progressOf(restore).id).toBe("j11");
    // The safety backup is a backup of the destination, listed as such.
    expect(store.backups.e2.map((e) => e.job.id)).toEqual(["j11"]);

    store.receiveJob(job({ id: "j11", environmentId: "e2", status: "succeeded", finishedAt: "2025-03-05T10:00:30.000Z" }));
    expect(toast.success).not.toHaveBeenCalled();
    await vi.waitFor(() => expect(api.listBackups).toHaveBeenCalledTimes(2));
    // Reloading the list (which never holds restores) does not forget the running restore.
    expect(store.activeJob("e2")?.id).toBe("r11");
    expect(store.progressOf(restore).id).toBe("r11");
  });

  it("toasts a failed restore with its message and a restore whose checks failed as a warning", () => {
    store.receiveJob(
      restoreJob({
        id: "r12",
        status: "failed",
        finishedAt: "2025-03-05T10:00:30.000Z",
        error: { code: "pg_restore_failed", field: null, message: "pg_restore: error: could not create table" },
      }),
    );
    expect(toast.error).toHaveBeenCalledWith("Restore of Shop / staging failed", {
      description: "pg_restore: error: could not create table",
    });

    const checks = [{ name: "extensions", ok: false, detail: "postgis is missing" }];
    store.receiveJob(
      restoreJob({ id: "r13", status: "succeeded", outcome: { type: "restore", ...restoreSummary({ checks }) } }),
    );
    expect(toast.warning).toHaveBeenCalledWith("Restore finished, but a check failed: extensions", {
      description: "postgis is missing",
    });

    store.receiveJob(restoreJob({ id: "r14", status: "cancelled" }));
    expect(toast.info).toHaveBeenCalledWith("Restore cancelled", { description: "Shop / staging" });
  });

  it("says when a restore can no longer be cancelled", async () => {
    vi.mocked(api.cancelJob).mockResolvedValueOnce(false);
    expect(await store.cancelJob(restoreJob({ id: "r15", cancellable: false }))).toBe(false);
    expect(toast.info).toHaveBeenCalledWith("The restore can no longer be cancelled");
    expect(api.listBackups).not.toHaveBeenCalled();
  });
});

/** Clicks the action button of the first toast `show` was called with. */
function clickToastAction(show: typeof toast.info): void {
  const action = vi.mocked(show).mock.calls[0][1]?.action as Extract<ExternalToast["action"], { label: unknown }>;
  action.onClick(new MouseEvent("click") as Parameters<typeof action.onClick>[0]);
}

describe("store: downloads", () => {
  beforeEach(() => {
    vi.mocked(api.listBackups).mockReset();
    vi.mocked(api.listDownloads).mockReset();
    vi.mocked(api.startDownload).mockReset();
    vi.mocked(api.showInFolder).mockReset();
    vi.mocked(api.cancelJob).mockReset();
    for (const t of [toast.success, toast.error, toast.info, toast.warning]) vi.mocked(t).mockReset();
    store.backups = {};
    store.runningJobs = {};
    store.safetyBackups = {};
    store.restores = {};
    store.downloads = {};
    store.tree = tree;
    store.view = { kind: "home" };
  });

  it("keeps download jobs out of the backups and the running jobs, and says when one is ready", async () => {
    vi.mocked(api.listBackups).mockResolvedValue([succeeded("j0")]);
    await store.loadBackups("e1");

    store.receiveJob(downloadJob({ id: "d20", bytesDone: 10 * 1024 }));
    expect(store.backups.e1.map((e) => e.job.id)).toEqual(["j0"]);
    expect(store.runningJobs.e1).toBeUndefined();
    expect(store.activeJob("e1")).toBeNull();
    expect(store.downloads.d20.bytesDone).toBe(10 * 1024);
    expect(store.runningDownloads).toBe(1);

    // A backup of the same environment runs beside the download.
    store.receiveJob(job({ id: "j21" }));
    expect(store.activeJob("e1")?.id).toBe("j21");
    store.receiveJob(downloadJob({ id: "d20", bytesDone: 20 * 1024 }));
    expect(store.activeJob("e1")?.id).toBe("j21");
    expect(store.backups.e1.map((e) => e.job.id)).toEqual(["j21", "j0"]);

    store.receiveJob(
      downloadJob({ id: "d20", status: "succeeded", finishedAt: "2025-03-03T14:40:00.000Z", outcome: downloadSummary() }),
    );
    expect(store.runningDownloads).toBe(0);
    expect(store.activeJob("e1")?.id).toBe("j21");
    expect(toast.success).toHaveBeenCalledOnce();
    expect(toast.success).toHaveBeenCalledWith("Download ready", {
      description: "/home/me/Downloads",
      action: expect.objectContaining({ label: "Show in folder" }),
    });
    expect(api.listBackups).toHaveBeenCalledOnce();

    // The toast's action opens the folder.
    vi.mocked(api.showInFolder).mockResolvedValue(null);
    clickToastAction(toast.success);
    expect(api.showInFolder).toHaveBeenCalledWith("/home/me/Downloads");

    // A late progress report does not bring it back to life.
    store.receiveJob(downloadJob({ id: "d20", bytesDone: 30 * 1024 }));
    expect(store.downloads.d20.status).toBe("succeeded");
    expect(store.runningDownloads).toBe(0);
  });

  it("toasts a failed download with its message", () => {
    store.receiveJob(
      downloadJob({
        id: "d22",
        status: "failed",
        finishedAt: "2025-03-03T14:40:00.000Z",
        error: { code: "disk_full", field: null, message: "Not enough free space in /home/me/Downloads." },
      }),
    );
    expect(toast.error).toHaveBeenCalledWith("Download failed", {
      description: "Not enough free space in /home/me/Downloads.",
    });
    expect(store.runningJobs).toEqual({});
    expect(store.backups).toEqual({});
  });

  it("loads the downloads, newest first, without undoing an end an event told", async () => {
    store.receiveJob(downloadJob({ id: "d30", status: "succeeded", outcome: downloadSummary() }));
    vi.mocked(api.listDownloads).mockResolvedValue([
      downloadJob({ id: "d31", createdAt: "2025-03-04T09:00:00.000Z", status: "failed" }),
      downloadJob({ id: "d30" }),
    ]);

    await store.loadDownloads();
    expect(store.downloadList.map((d) => d.id)).toEqual(["d31", "d30"]);
    expect(store.downloads.d30.status).toBe("succeeded");
    expect(store.downloadsError).toBeNull();

    vi.mocked(api.listDownloads).mockRejectedValue({ code: "catalog", field: null, message: "database is locked" });
    await store.loadDownloads();
    expect(store.downloadsError).toBe("database is locked");
    expect(store.downloadList).toHaveLength(2);
  });

  it("starts a download and says it goes on in the background", async () => {
    vi.mocked(api.startDownload).mockResolvedValue(downloadJob({ id: "d40", status: "queued" }));
    const request = { backupId: "20250303T143000Z-abcd1234", directory: "/tmp/out", database: true, media: false };

    await store.startDownload(request);
    expect(api.startDownload).toHaveBeenCalledWith(request);
    expect(store.downloads.d40.status).toBe("queued");
    expect(store.runningDownloads).toBe(1);
    expect(toast.info).toHaveBeenCalledWith("Preparing download…", expect.objectContaining({
      description: "The files appear in /tmp/out once they are ready.",
    }));

    clickToastAction(toast.info);
    expect(store.view).toEqual({ kind: "downloads" });
  });

  it("reloads the downloads when one had finished before it could be cancelled", async () => {
    vi.mocked(api.cancelJob).mockResolvedValue(false);
    vi.mocked(api.listDownloads).mockResolvedValue([]);
    expect(await store.cancelJob(downloadJob({ id: "d50" }))).toBe(false);
    expect(toast.info).toHaveBeenCalledWith("The download had already finished");
    expect(api.listDownloads).toHaveBeenCalledOnce();
    expect(api.listBackups).not.toHaveBeenCalled();
  });
});

describe("store: the recovery key", () => {
  beforeEach(() => {
    vi.mocked(api.listBackups).mockReset().mockResolvedValue([]);
    vi.mocked(toast.error).mockReset();
    store.tree = tree;
    store.view = { kind: "home" };
  });

  it("offers to import the recovery key when a job failed for want of it", () => {
    store.receiveJob(
      downloadJob({
        id: "d31",
        status: "failed",
        finishedAt: "2025-03-03T14:40:00.000Z",
        error: { code: "recovery_key_missing", field: null, message: "This machine has no recovery key for age1x." },
      }),
    );
    const options = vi.mocked(toast.error).mock.calls[0][1] as ExternalToast;
    const action = options.action as { label: string; onClick: () => void };
    expect(action.label).toBe("Import recovery key…");
    action.onClick();
    expect(store.view).toEqual({ kind: "settings" });
  });

  it("asks once, after a backup succeeds, to save a key never saved", () => {
    const info = { version: "1", home: "/h", keyring: { available: true, message: null, code: null } };
    store.info = { ...info, recoveryKeySavedAt: "2026-11-01T00:00:00.000Z" };
    store.receiveJob(job({ id: "k1", status: "succeeded", finishedAt: "2025-03-03T14:32:05.000Z" }));
    expect(store.askToSaveKey).toBe(false);

    store.info = { ...info, recoveryKeySavedAt: null };
    store.receiveJob(job({ id: "k2", status: "failed", finishedAt: "2025-03-03T14:33:05.000Z" }));
    expect(store.askToSaveKey).toBe(false);
    store.receiveJob(job({ id: "k3", status: "succeeded", finishedAt: "2025-03-03T14:34:05.000Z" }));
    expect(store.askToSaveKey).toBe(true);

    store.askToSaveKey = false;
    store.receiveJob(job({ id: "k4", status: "succeeded", finishedAt: "2025-03-03T14:35:05.000Z" }));
    expect(store.askToSaveKey).toBe(false);
  });
});

describe("store: unsaved edits", () => {
  it("asks before leaving a page with unsaved edits, and goes only when told to", () => {
    store.unsaved = {};
    store.leaving = null;
    store.view = { kind: "environment", id: "e1" };
    store.markUnsaved("database", "Database", true);

    store.show({ kind: "settings" });
    expect(store.view).toEqual({ kind: "environment", id: "e1" });
    expect(store.leaving).toEqual({ kind: "settings" });
    store.answerLeaving(false);
    expect(store.view).toEqual({ kind: "environment", id: "e1" });
    expect(store.unsaved).toEqual({ database: "Database" });

    store.selectEnvironment("e2");
    store.answerLeaving(true);
    expect(store.view).toEqual({ kind: "environment", id: "e2" });
    expect(store.unsaved).toEqual({});

    store.show({ kind: "settings" });
    expect(store.view).toEqual({ kind: "settings" });
    expect(store.leaving).toBeNull();
  });
});
