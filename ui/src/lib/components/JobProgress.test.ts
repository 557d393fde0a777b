import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import JobProgress from "./JobProgress.svelte";
import { job, MiB } from "../testing/fixtures";

describe("JobProgress", () => {
  it("shows how far the backup got", () => {
    render(JobProgress, {
      props: { job: job({ bytesDone: 25 * MiB, bytesTotal: 100 * MiB, bytesPerSecond: 5 * MiB }) },
    });

    const bar = screen.getByTestId("backup-progress");
    expect(bar).toHaveAttribute("role", "progressbar");
    expect(bar).toHaveAttribute("aria-valuenow", "25");
    // The total is a guess while a database is dumped.
    expect(screen.getByTestId("backup-bytes")).toHaveTextContent("25 MB of ≈ 100 MB");
    expect(screen.getByTestId("backup-rate")).toHaveTextContent("5.0 MB/s");
    expect(screen.getByTestId("backup-phase")).toHaveTextContent("Compressing, encrypting and uploading");
  });

  it("shows an exact total for media alone, and an indeterminate bar without a total", async () => {
    const { rerender } = render(JobProgress, {
      props: { job: job({ request: { database: false }, bytesDone: 3 * MiB, bytesTotal: 4 * MiB }) },
    });
    expect(screen.getByTestId("backup-bytes")).toHaveTextContent("3.0 MB of 4.0 MB");
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
});
