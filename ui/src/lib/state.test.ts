import { describe, expect, it, vi, beforeEach } from "vitest";
import { toast } from "svelte-sonner";
import * as api from "./api";
import { store } from "./state.svelte";
import { job, succeeded } from "./testing/fixtures";

vi.mock("./api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./api")>();
  return { ...actual, listBackups: vi.fn(), onJob: vi.fn() };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn(), info: vi.fn() } }));

describe("store: backups and job events", () => {
  beforeEach(() => {
    vi.mocked(api.listBackups).mockReset();
    vi.mocked(toast.success).mockReset();
    vi.mocked(toast.error).mockReset();
    store.backups = {};
    store.runningJobs = {};
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
});
