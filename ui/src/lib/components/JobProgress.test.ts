import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import JobProgress from "./JobProgress.svelte";
import { job, MiB, restoreJob } from "../testing/fixtures";

describe("JobProgress", () => {
  it("shows how far the backup got", () => {
    render(JobProgress, {
      props: { job: job({ bytesDone: 25 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 5 * MiB }) },
    });

    const bar = screen.getByTestId("backup-progress");
    expect(bar).toHaveAttribute("role", "progressbar");
    expect(bar).toHaveAttribute("aria-valuenow", "25");
    // The total is a guess while a database is dumped.
    expect(screen.getByTestId("backup-bytes")).toHaveTextContent("25 MiB of ≈ 100 MiB");
    expect(screen.getByTestId("backup-rate")).toHaveTextContent("5.0 MiB/s");
    expect(screen.getByTestId("backup-phase")).toHaveTextContent("Compressing, encrypting and uploading");
  });

  it("shows an exact total for media alone, and an indeterminate bar without a total", async () => {
    const { rerender } = render(JobProgress, {
      props: { job: job({ request: { database: false }, bytesDone: 3 * MiB, bytesTotal: 4 * MiB }) },
    });
    expect(screen.getByTestId("backup-bytes")).toHaveTextContent("3.0 MiB of 4.0 MiB");
    expect(screen.getByTestId("backup-progress")).toHaveAttribute("aria-valuenow", "75");

    await rerender({ job: job({ phase: "", bytesDone: 0, bytesTotal: 0 }) });
    expect(screen.getByTestId("backup-progress")).not.toHaveAttribute("aria-valuenow");
    expect(screen.getByTestId("backup-phase")).toHaveTextContent("Preparing");
  });

  it("cancels", async () => {
    const oncancel = vi.fn();
    const user = userEvent.setup();
    render(JobProgress, { props: { job: job(), oncancel } });

    await user.click(screen.getByTestId("backup-cancel"));
    expect(oncancel).toHaveBeenCalledOnce();
  });

  it("labels a restore, and shows its safety backup's progress while that runs", () => {
    const restore = restoreJob({ phase: "safety-backup" });
    const safety = job({ id: "j2", environmentId: "e2", bytesDone: 10 * MiB, bytesTotal: 40 * MiB });
    render(JobProgress, { props: { job: restore, progress: safety, oncancel: () => {}, prefix: "running-restore" } });

    expect(screen.getByTestId("running-job")).toHaveTextContent("Restoring from 20250303T143000Z-abcd1234…");
    expect(screen.getByTestId("running-restore-phase")).toHaveTextContent("Taking a safety backup…");
    expect(screen.getByTestId("running-restore-progress")).toHaveAttribute("aria-valuenow", "25");
    expect(screen.getByTestId("running-restore-cancel")).toBeInTheDocument();
  });

  it("offers no Cancel once the job is past its point of no return", () => {
    render(JobProgress, { props: { job: restoreJob({ phase: "committing", cancellable: false }), oncancel: () => {} } });

    expect(screen.queryByTestId("restore-cancel")).not.toBeInTheDocument();
    expect(screen.getByTestId("restore-finishing")).toHaveTextContent("Finishing — can no longer be cancelled");
    expect(screen.getByTestId("restore-phase")).toHaveTextContent("Committing…");
  });
});
