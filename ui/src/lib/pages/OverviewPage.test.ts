import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import OverviewPage from "./OverviewPage.svelte";
import * as api from "../api";
import type { EnvironmentStatus } from "../bindings/EnvironmentStatus";
import { store } from "../state.svelte";
import { tree } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, environmentStatuses: vi.fn() };
});

const status: EnvironmentStatus = {
  applicationId: "a1",
  applicationName: "Shop",
  environmentId: "e1",
  environmentName: "production",
  schedule: null,
  drillSchedule: null,
  nextRun: null,
  lastBackupAt: "2026-11-20T02:00:00.000Z",
  punctuality: "unscheduled",
  lastDrill: null,
  drillPunctuality: "unscheduled",
  failedAttempt: { jobId: "j9", at: "2026-11-28T02:00:00.000Z", message: "pg_dump: connection refused" },
};

describe("OverviewPage", () => {
  it("shows a failed last attempt in red, and backs up from the row", async () => {
    vi.mocked(api.environmentStatuses).mockResolvedValue([status]);
    store.tree = tree;
    const user = userEvent.setup();
    render(OverviewPage);

    const failed = await screen.findByTestId("overview-failed");
    expect(failed).toHaveTextContent("Failed");
    expect(failed).toHaveAttribute("title", "pg_dump: connection refused");
    expect(failed.className).toContain("text-red");
    expect(screen.getByTestId("overview-last-backup")).toHaveTextContent("last good");
    expect(screen.getByText("Schedule status")).toBeInTheDocument();

    await user.click(screen.getByTestId("overview-back-up"));
    expect(store.view).toEqual({ kind: "environment", id: "e1" });
    expect(store.backupDialogFor).toBe("e1");
  });
});
