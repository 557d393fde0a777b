import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import EnvironmentPage from "./EnvironmentPage.svelte";
import * as api from "../api";
import { store } from "../state.svelte";
import { environment, succeeded, tree } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return {
    ...actual,
    listBackups: vi.fn(),
    listDrills: vi.fn(async () => []),
    activity: vi.fn(async () => []),
    environmentStatuses: vi.fn(async () => []),
    drillChecks: vi.fn(async () => []),
    upcomingRuns: vi.fn(async () => []),
    retentionPreview: vi.fn(async () => []),
    mediaStats: vi.fn(async () => ({ fileCount: 0, totalBytes: 0 })),
  };
});

const blank = { ...environment, connection: null, mediaDir: null };

describe("EnvironmentPage", () => {
  beforeEach(() => {
    vi.mocked(api.listBackups).mockReset().mockResolvedValue([]);
    store.backups = {};
    store.tree = tree;
    store.targets = [
      { id: "t-local", name: "This computer", isDefault: true, config: { kind: "local", path: "/x" }, createdAt: "" },
    ];
  });

  it("leads a new environment with its setup, and nothing that cannot run yet", async () => {
    render(EnvironmentPage, { props: { app: tree[0], env: blank } });

    const card = await screen.findByTestId("setup-card");
    expect(screen.getByTestId("setup-step-database")).toHaveAttribute("data-done", "false");
    expect(screen.getByTestId("setup-step-media")).toHaveAttribute("data-done", "false");
    expect(screen.getByTestId("setup-step-storage")).toHaveTextContent("This computer");
    expect(card.compareDocumentPosition(screen.getByTestId("database-section"))).toBe(
      Node.DOCUMENT_POSITION_FOLLOWING,
    );
    for (const id of ["backups-section", "drill-section", "schedule-section", "retention-section"]) {
      expect(screen.queryByTestId(id)).not.toBeInTheDocument();
    }
  });

  it("shows backups, drills, schedule and retention once there is something to back up", async () => {
    render(EnvironmentPage, { props: { app: tree[0], env: environment } });

    expect(await screen.findByTestId("drill-section")).toBeInTheDocument();
    expect(screen.getByTestId("schedule-section")).toBeInTheDocument();
    expect(screen.getByTestId("retention-section")).toBeInTheDocument();
    expect(screen.queryByTestId("setup-card")).not.toBeInTheDocument();
  });

  it("shows the backups of an environment imported without a connection", async () => {
    vi.mocked(api.listBackups).mockResolvedValue([succeeded("j1")]);
    render(EnvironmentPage, { props: { app: tree[0], env: blank } });

    expect(await screen.findByTestId("drill-section")).toBeInTheDocument();
    expect(screen.queryByTestId("setup-card")).not.toBeInTheDocument();
  });

  it("marks a section with unsaved edits and tells the store", async () => {
    store.unsaved = {};
    const user = userEvent.setup();
    render(EnvironmentPage, { props: { app: tree[0], env: environment } });
    const media = await screen.findByTestId("media-section");
    expect(within(media).queryByTestId("unsaved-badge")).not.toBeInTheDocument();

    await user.type(within(media).getByRole("textbox"), "/more");
    expect(within(media).getByTestId("unsaved-badge")).toHaveTextContent("Unsaved changes");
    expect(store.unsaved).toEqual({ media: "Media" });
  });
});
