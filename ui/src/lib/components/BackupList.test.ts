import { describe, expect, it, vi } from "vitest";
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import BackupList from "./BackupList.svelte";
import * as api from "../api";
import { job, record, succeeded } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, createBackup: vi.fn() };
});

describe("BackupList", () => {
  const failed = {
    job: job({
      id: "j2",
      status: "failed",
      createdAt: "2025-03-04T09:00:00.000Z",
      finishedAt: "2025-03-04T09:00:03.000Z",
      request: { media: false },
      error: { code: "pg_dump_failed", field: null, message: "pg_dump: error: permission denied for table orders" },
    }),
    backup: null,
  };

  it("renders a failed attempt with its error and a succeeded backup with its sizes", () => {
    render(BackupList, { props: { entries: [failed, succeeded("j1")] } });

    const rows = screen.getAllByTestId("backup-row");
    expect(rows).toHaveLength(2);

    const [bad, good] = rows;
    expect(bad).toHaveAttribute("data-status", "failed");
    expect(within(bad).getByTestId("backup-status")).toHaveTextContent("Failed");
    expect(within(bad).getByTestId("backup-row-error")).toHaveTextContent("permission denied for table orders");
    expect(within(bad).getByTestId("backup-row-what")).toHaveTextContent("Database");

    expect(good).toHaveAttribute("data-status", "succeeded");
    expect(within(good).getByTestId("backup-status")).toHaveTextContent("Succeeded");
    const what = within(good).getByTestId("backup-row-what");
    expect(what).toHaveTextContent("Database 120 MiB");
    expect(what).toHaveTextContent("Media 11 MiB in 2,400 files");
    expect(what).toHaveTextContent("Stored 40 MiB");
    expect(within(good).getByTestId("backup-row-note")).toHaveTextContent("Before the 4.2 upgrade");
    expect(good).toHaveTextContent("On-demand");
    expect(good).toHaveTextContent("2 min 5 s");
    expect(within(good).queryByTestId("backup-row-error")).not.toBeInTheDocument();
  });

  it("retries a failed backup and takes the user to the field at fault", async () => {
    const refused = {
      job: job({
        id: "j3",
        status: "failed",
        finishedAt: "2025-03-04T09:00:03.000Z",
        request: { media: false, note: "nightly" },
        error: { code: "pg_auth_failed", field: "password", message: "The server refused this password for user “app”." },
      }),
      backup: null,
    };
    vi.mocked(api.createBackup).mockResolvedValue(job({ id: "j4", status: "queued" }));
    const field = document.createElement("input");
    field.id = "password-x1";
    document.body.append(field);
    const user = userEvent.setup();
    render(BackupList, { props: { entries: [refused, succeeded("j1")] } });

    const [bad, good] = screen.getAllByTestId("backup-row");
    expect(within(good).queryByTestId("backup-row-retry")).not.toBeInTheDocument();
    await user.click(within(bad).getByTestId("backup-row-fix"));
    expect(within(bad).getByTestId("backup-row-fix")).toHaveTextContent("Fix the password");
    expect(document.activeElement).toBe(field);

    await user.click(within(bad).getByTestId("backup-row-retry"));
    expect(api.createBackup).toHaveBeenCalledWith({
      environmentId: "e1",
      database: true,
      media: false,
      note: "nightly",
      kind: "on-demand",
      fullRescan: false,
    });
    field.remove();
  });

  it("warns when an after-hook failed after a good backup, with what it printed", () => {
    const done = succeeded("j3");
    done.job = {
      ...done.job,
      hooks: [
        {
          phase: "after-backup",
          command: "./manage.py maintenance_mode off",
          exitCode: 1,
          timedOut: false,
          output: "maintenance mode stays on\n",
          durationMs: 40,
        },
      ],
    };
    render(BackupList, { props: { entries: [done] } });
    expect(screen.getByTestId("backup-row-hook")).toHaveTextContent("The after-backup hook exited with 1.");
    expect(screen.getByTestId("backup-row-hook-output")).toHaveTextContent("maintenance mode stays on");
  });

  it("sets a restore's safety backup apart from the user's own", () => {
    const safety = { ...succeeded("j7"), job: job({ id: "j7", status: "succeeded", request: { kind: "safety" } }) };
    render(BackupList, { props: { entries: [safety, succeeded("j1")] } });
    const [first, second] = screen.getAllByTestId("kind-badge");
    expect(first).toHaveTextContent("Safety backup");
    expect(second).toHaveTextContent("On-demand");
  });

  it("words interrupted and cancelled attempts", () => {
    const interrupted = {
      job: job({
        id: "j3",
        status: "failed",
        finishedAt: "2025-03-04T09:00:03.000Z",
        error: { code: "interrupted", field: null, message: "Lifeboat stopped while this job was running." },
      }),
      backup: null,
    };
    const cancelled = {
      job: job({
        id: "j4",
        status: "cancelled",
        finishedAt: "2025-03-04T09:00:03.000Z",
        error: { code: "cancelled", field: null, message: "Cancelled" },
      }),
      backup: null,
    };
    render(BackupList, { props: { entries: [interrupted, cancelled] } });

    const [a, b] = screen.getAllByTestId("backup-row");
    expect(within(a).getByTestId("backup-status")).toHaveTextContent("Interrupted");
    expect(within(a).getByTestId("backup-row-error")).toHaveTextContent("Lifeboat stopped");
    expect(within(b).getByTestId("backup-status")).toHaveTextContent("Cancelled");
    expect(within(b).queryByTestId("backup-row-error")).not.toBeInTheDocument();
  });

  it("opens only succeeded backups", async () => {
    const onselect = vi.fn();
    const user = userEvent.setup();
    const entry = succeeded("j1");
    render(BackupList, { props: { entries: [failed, entry], onselect } });

    const [bad, good] = screen.getAllByTestId("backup-row");
    // A failed attempt's only buttons are its own actions (Retry), not a way to open it.
    expect(within(bad).queryByRole("button", { name: /show details/i })).not.toBeInTheDocument();
    await user.click(within(good).getByRole("button", { name: /show details/i }));
    expect(onselect).toHaveBeenCalledWith(entry);
  });

  it("says so when there are no backups", () => {
    render(BackupList, { props: { entries: [] } });
    expect(screen.getByTestId("backups-empty")).toHaveTextContent("No backups yet");
  });

  it("badges succeeded backups by their latest verification", () => {
    const verification = { backupId: "b", verifiedAt: "2025-03-05T10:00:00.000Z", sampled: false, checks: [] };
    const verified = { ...succeeded("j1"), backup: record({ jobId: "j1", verification: { ...verification, ok: true } }) };
    const broken = { ...succeeded("j2"), backup: record({ jobId: "j2", verification: { ...verification, ok: false } }) };
    const unverified = succeeded("j3");
    const sampled = {
      ...succeeded("j4"),
      backup: record({ jobId: "j4", verification: { ...verification, ok: true, sampled: true } }),
    };
    render(BackupList, { props: { entries: [verified, broken, unverified, sampled] } });

    const [a, b, c, d] = screen.getAllByTestId("backup-row");
    expect(within(a).getByTestId("verified-badge")).toHaveTextContent("Verified");
    // Only a sample was read back: checked, not verified.
    expect(within(d).getByTestId("verified-badge")).toHaveTextContent("Checked");
    expect(within(a).queryByTestId("verification-failed-badge")).not.toBeInTheDocument();
    expect(within(b).getByTestId("verification-failed-badge")).toHaveTextContent("Verification failed");
    expect(within(b).queryByTestId("verified-badge")).not.toBeInTheDocument();
    expect(within(c).queryByTestId("verified-badge")).not.toBeInTheDocument();
    expect(within(c).queryByTestId("verification-failed-badge")).not.toBeInTheDocument();
  });
});
