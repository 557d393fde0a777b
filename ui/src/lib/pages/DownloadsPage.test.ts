import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import DownloadsPage from "./DownloadsPage.svelte";
import Sidebar from "../components/Sidebar.svelte";
import * as api from "../api";
import { store } from "../state.svelte";
import { downloadJob, downloadSummary, MiB, tree } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, listDownloads: vi.fn(), startDownload: vi.fn(), cancelJob: vi.fn(), showInFolder: vi.fn() };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn(), info: vi.fn(), warning: vi.fn() } }));

const running = downloadJob({
  id: "p1",
  createdAt: "2025-03-05T10:00:00.000Z",
  bytesDone: 33 * MiB,
  bytesTotal: 132 * MiB,
});
const ready = downloadJob({
  id: "p2",
  createdAt: "2025-03-04T10:00:00.000Z",
  status: "succeeded",
  finishedAt: "2025-03-04T10:01:00.000Z",
  outcome: downloadSummary(),
});
const failed = downloadJob({
  id: "p3",
  createdAt: "2025-03-03T10:00:00.000Z",
  status: "failed",
  finishedAt: "2025-03-03T10:00:05.000Z",
  request: { directory: "/mnt/usb", database: false },
  error: { code: "io", field: null, message: "Cannot write into /mnt/usb: read-only file system" },
});
const cancelled = downloadJob({
  id: "p4",
  createdAt: "2025-03-02T10:00:00.000Z",
  status: "cancelled",
  finishedAt: "2025-03-02T10:00:05.000Z",
  error: { code: "cancelled", field: null, message: "Cancelled." },
});

function rowOf(status: string): HTMLElement {
  const row = screen.getAllByTestId("download-row").find((r) => r.dataset.status === status);
  if (!row) throw new Error(`no ${status} row`);
  return row;
}

describe("DownloadsPage", () => {
  beforeEach(() => {
    vi.mocked(api.listDownloads).mockReset().mockResolvedValue([cancelled, failed, ready, running]);
    vi.mocked(api.startDownload).mockReset();
    vi.mocked(api.cancelJob).mockReset();
    vi.mocked(api.showInFolder).mockReset().mockResolvedValue(null);
    store.tree = tree;
    store.downloads = {};
  });

  it("lists every download, newest first, with what, where and how it went", async () => {
    render(DownloadsPage);

    await vi.waitFor(() => expect(screen.getAllByTestId("download-row")).toHaveLength(4));
    expect(screen.getAllByTestId("download-row").map((r) => r.dataset.status)).toEqual([
      "running",
      "succeeded",
      "failed",
      "cancelled",
    ]);

    const done = rowOf("succeeded");
    expect(within(done).getByTestId("download-backup")).toHaveTextContent("Shop / production · 20250303T143000Z-abcd1234");
    expect(within(done).getByTestId("download-what")).toHaveTextContent("Database + media · 132 MiB");
    expect(within(done).getByTestId("download-folder")).toHaveTextContent("/home/me/Downloads");
    expect(within(done).getAllByTestId("download-file").map((f) => f.textContent)).toEqual([
      expect.stringContaining("Shop-production-20250303T143000Z.dump"),
      expect.stringContaining("Shop-production-20250303T143000Z-media.tar"),
      expect.stringContaining("SHA256SUMS"),
    ]);
    expect(within(done).getByTestId("download-status")).toHaveTextContent("Succeeded");

    expect(within(rowOf("failed")).getByTestId("download-error")).toHaveTextContent("read-only file system");
    expect(within(rowOf("failed")).getByTestId("download-what")).toHaveTextContent("Media");
    expect(within(rowOf("cancelled")).queryByTestId("download-error")).not.toBeInTheDocument();
    expect(within(rowOf("running")).getByTestId("download-progress")).toHaveAttribute("aria-valuenow", "25");
  });

  it("offers Cancel while running, Show in folder once ready and Retry after a failure or a cancel", async () => {
    render(DownloadsPage);
    await vi.waitFor(() => expect(screen.getAllByTestId("download-row")).toHaveLength(4));

    const actions = (row: HTMLElement) =>
      ["download-cancel", "download-show", "download-retry"].filter((id) => within(row).queryByTestId(id));
    expect(actions(rowOf("running"))).toEqual(["download-cancel"]);
    expect(actions(rowOf("succeeded"))).toEqual(["download-show"]);
    expect(actions(rowOf("failed"))).toEqual(["download-retry"]);
    expect(actions(rowOf("cancelled"))).toEqual(["download-retry"]);
  });

  it("cancels, shows the folder and retries with the same request", async () => {
    vi.mocked(api.cancelJob).mockResolvedValue(true);
    vi.mocked(api.startDownload).mockResolvedValue(
      downloadJob({ id: "p5", createdAt: "2025-03-06T10:00:00.000Z", status: "queued", request: { directory: "/mnt/usb", database: false } }),
    );
    const user = userEvent.setup();
    render(DownloadsPage);
    await vi.waitFor(() => expect(screen.getAllByTestId("download-row")).toHaveLength(4));

    const cancel = within(rowOf("running")).getByTestId("download-cancel");
    await user.click(cancel);
    expect(api.cancelJob).toHaveBeenCalledWith("p1");
    expect(within(cancel).getByTestId("spinner")).toBeInTheDocument();

    await user.click(within(rowOf("succeeded")).getByTestId("download-show"));
    expect(api.showInFolder).toHaveBeenCalledWith("/home/me/Downloads");

    await user.click(within(rowOf("failed")).getByTestId("download-retry"));
    expect(api.startDownload).toHaveBeenCalledWith({
      backupId: "20250303T143000Z-abcd1234",
      directory: "/mnt/usb",
      database: false,
      media: true,
    });
    await vi.waitFor(() => expect(screen.getAllByTestId("download-row")).toHaveLength(5));
    expect(screen.getAllByTestId("download-row")[0].dataset.status).toBe("queued");
  });

  it("says when there is none, then follows a new download live", async () => {
    vi.mocked(api.listDownloads).mockResolvedValue([]);
    render(DownloadsPage);
    expect(await screen.findByTestId("downloads-empty")).toHaveTextContent("No downloads yet");

    store.receiveJob(downloadJob({ id: "p6", bytesDone: 66 * MiB, bytesTotal: 132 * MiB }));
    const row = await screen.findByTestId("download-row");
    expect(row).toHaveAttribute("data-status", "running");
    expect(within(row).getByTestId("download-progress")).toHaveAttribute("aria-valuenow", "50");
    expect(within(row).getByTestId("download-phase")).toHaveTextContent("Decrypting and writing the files");

    store.receiveJob(downloadJob({ id: "p6", status: "succeeded", outcome: downloadSummary() }));
    await vi.waitFor(() => expect(row).toHaveAttribute("data-status", "succeeded"));
    expect(within(row).queryByTestId("download-progress")).not.toBeInTheDocument();
    expect(within(row).getByTestId("download-show")).toBeInTheDocument();
  });
});

describe("Sidebar: downloads", () => {
  beforeEach(() => {
    store.tree = tree;
    store.downloads = {};
    store.view = { kind: "home" };
  });

  it("opens the Downloads view and counts the running downloads", async () => {
    const user = userEvent.setup();
    render(Sidebar, { props: { onnewapplication: () => {} } });
    expect(screen.queryByTestId("downloads-running")).not.toBeInTheDocument();

    store.downloads = { p7: downloadJob({ id: "p7" }), p8: downloadJob({ id: "p8", status: "queued" }), p2: ready };
    expect(await screen.findByTestId("downloads-running")).toHaveTextContent("2");

    await user.click(screen.getByTestId("nav-downloads"));
    expect(store.view).toEqual({ kind: "downloads" });
    expect(screen.getByTestId("nav-downloads")).toHaveAttribute("aria-current", "page");
  });
});
