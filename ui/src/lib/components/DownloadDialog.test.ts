import { describe, expect, it, vi, beforeEach } from "vitest";
import { toast } from "svelte-sonner";
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import DownloadDialog from "./DownloadDialog.svelte";
import * as api from "../api";
import { store } from "../state.svelte";
import { downloadJob, record, tree } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, startDownload: vi.fn(), chooseFolder: vi.fn() };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn(), info: vi.fn(), warning: vi.fn() } }));

const ID = "20250303T143000Z-abcd1234";

describe("DownloadDialog", () => {
  beforeEach(() => {
    vi.mocked(api.startDownload).mockReset().mockResolvedValue(downloadJob({ id: "d1", status: "queued" }));
    vi.mocked(api.chooseFolder).mockReset().mockResolvedValue(null);
    vi.mocked(toast.info).mockReset();
    store.tree = tree;
    store.downloads = {};
  });

  it("offers the parts the backup holds, both ticked, and says what will be written", async () => {
    const user = userEvent.setup();
    render(DownloadDialog, { props: { open: true, record: record() } });

    const database = await screen.findByTestId("download-database");
    const media = screen.getByTestId("download-media");
    expect(database).toBeChecked();
    expect(media).toBeChecked();
    expect(screen.getByTestId("download-size")).toHaveTextContent("132 MiB");
    expect(screen.getAllByTestId("download-file-name").map((n) => n.textContent)).toEqual([
      "Shop-production-20250303T143000Z.dump",
      "Shop-production-20250303T143000Z-media.tar",
      "SHA256SUMS",
    ]);
    expect(screen.getByTestId("download-summary")).toHaveTextContent("sha256sum -c SHA256SUMS");

    await user.click(media);
    expect(screen.getByTestId("download-size")).toHaveTextContent("120 MiB");
    expect(screen.getAllByTestId("download-file-name")).toHaveLength(2);
  });

  it("offers only the media of a backup without a database", async () => {
    const mediaOnly = record();
    mediaOnly.manifest = { ...mediaOnly.manifest, database: null };
    render(DownloadDialog, { props: { open: true, record: mediaOnly } });

    const database = await screen.findByTestId("download-database");
    expect(database).not.toBeChecked();
    expect(database).toBeDisabled();
    expect(screen.getByText("This backup holds no database.")).toBeInTheDocument();
    expect(screen.getByTestId("download-media")).toBeChecked();
    expect(screen.getByTestId("download-size")).toHaveTextContent("12 MiB");
  });

  it("takes the folder the app's dialog returns, sends the request and closes at once", async () => {
    vi.mocked(api.chooseFolder).mockResolvedValue("/tmp/e2e-downloads");
    const user = userEvent.setup();
    render(DownloadDialog, { props: { open: true, record: record() } });

    expect(await screen.findByTestId("download-directory")).toHaveValue("");
    await user.click(screen.getByTestId("download-choose-folder"));
    expect(api.chooseFolder).toHaveBeenCalledWith("download-folder", null);
    expect(screen.getByTestId("download-directory")).toHaveValue("/tmp/e2e-downloads");

    await user.click(screen.getByTestId("download-database"));
    await user.click(screen.getByTestId("download-submit"));

    expect(api.startDownload).toHaveBeenCalledWith({
      backupId: ID,
      directory: "/tmp/e2e-downloads",
      database: false,
      media: true,
    });
    expect(toast.info).toHaveBeenCalledWith("Preparing download…", expect.anything());
    await vi.waitFor(() => expect(screen.queryByTestId("download-dialog")).not.toBeInTheDocument());
    expect(store.downloads.d1).toBeDefined();
  });

  it("keeps the folder when the picker is cancelled, and starts the picker from it", async () => {
    store.downloads = { d9: downloadJob({ id: "d9", status: "succeeded", request: { directory: "/srv/exports" } }) };
    vi.mocked(api.chooseFolder).mockResolvedValueOnce(null).mockResolvedValueOnce("/home/me/Exports");
    const user = userEvent.setup();
    render(DownloadDialog, { props: { open: true, record: record() } });

    await user.click(await screen.findByTestId("download-choose-folder"));
    expect(api.chooseFolder).toHaveBeenCalledWith("download-folder", "/srv/exports");
    expect(screen.getByTestId("download-directory")).toHaveValue("/srv/exports");
    await user.click(screen.getByTestId("download-choose-folder"));
    expect(screen.getByTestId("download-directory")).toHaveValue("/home/me/Exports");

    await user.click(screen.getByTestId("download-submit"));
    expect(api.startDownload).toHaveBeenCalledWith({ backupId: ID, directory: "/home/me/Exports", database: true, media: true });
  });

  it("starts from the folder of the latest download", async () => {
    store.downloads = { d9: downloadJob({ id: "d9", status: "succeeded", request: { directory: "/srv/exports" } }) };
    render(DownloadDialog, { props: { open: true, record: record() } });
    expect(await screen.findByTestId("download-directory")).toHaveValue("/srv/exports");
  });

  it("asks for a folder and a part before sending anything", async () => {
    const user = userEvent.setup();
    render(DownloadDialog, { props: { open: true, record: record() } });

    await user.click(await screen.findByTestId("download-submit"));
    expect(screen.getByTestId("field-error-directory")).toHaveTextContent("Choose the folder to write the files into.");

    await user.click(screen.getByTestId("download-database"));
    await user.click(screen.getByTestId("download-media"));
    expect(screen.queryByTestId("download-summary")).not.toBeInTheDocument();
    await user.click(screen.getByTestId("download-submit"));
    expect(screen.getByTestId("field-error-what")).toHaveTextContent("Choose the database, the media or both.");
    expect(api.startDownload).not.toHaveBeenCalled();
  });

  it("shows the core's refusal inline when it is about a field, in an alert otherwise", async () => {
    vi.mocked(api.chooseFolder).mockResolvedValue("/gone");
    vi.mocked(api.startDownload).mockRejectedValueOnce({
      code: "validation",
      field: "directory",
      message: "/gone is not a folder.",
    });
    const user = userEvent.setup();
    render(DownloadDialog, { props: { open: true, record: record() } });

    await user.click(await screen.findByTestId("download-choose-folder"));
    await user.click(screen.getByTestId("download-submit"));
    expect(await screen.findByTestId("field-error-directory")).toHaveTextContent("/gone is not a folder.");
    expect(screen.queryByTestId("download-form-error")).not.toBeInTheDocument();

    vi.mocked(api.startDownload).mockRejectedValueOnce({
      code: "disk_full",
      field: null,
      message: "132 MiB are needed in /gone but only 20 MiB are free.",
    });
    await user.click(screen.getByTestId("download-submit"));
    const alert = await screen.findByTestId("download-form-error");
    expect(alert).toHaveTextContent("only 20 MiB are free");
    expect(screen.queryByTestId("field-error-directory")).not.toBeInTheDocument();
    expect(within(screen.getByTestId("download-dialog")).getByTestId("download-submit")).toBeEnabled();
    expect(toast.info).not.toHaveBeenCalled();
  });
});
