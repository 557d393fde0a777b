import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import BackupDialog from "./BackupDialog.svelte";
import * as api from "../api";
import { environment, job } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, createBackup: vi.fn() };
});

describe("BackupDialog", () => {
  beforeEach(() => {
    vi.mocked(api.createBackup).mockReset();
  });

  it("starts an on-demand backup with what was chosen and the trimmed note", async () => {
    const started = job({ request: { media: false, note: "Before the upgrade" } });
    vi.mocked(api.createBackup).mockResolvedValue(started);
    const onstarted = vi.fn();
    const user = userEvent.setup();
    render(BackupDialog, { props: { open: true, env: environment, onstarted } });

    const database = await screen.findByTestId("backup-include-database");
    const media = screen.getByTestId("backup-include-media");
    expect(database).toBeChecked();
    expect(media).toBeChecked();

    await user.click(media);
    await user.type(screen.getByTestId("backup-note"), "  Before the upgrade  ");
    await user.click(screen.getByTestId("backup-submit"));

    expect(api.createBackup).toHaveBeenCalledWith({
      environmentId: "e1",
      database: true,
      media: false,
      note: "Before the upgrade",
      kind: "on-demand",
      fullRescan: false,
    });
    expect(onstarted).toHaveBeenCalledWith(started);
    await vi.waitFor(() => expect(screen.queryByTestId("backup-dialog")).not.toBeInTheDocument());
  });

  it("sends no note when it is blank", async () => {
    vi.mocked(api.createBackup).mockResolvedValue(job());
    const user = userEvent.setup();
    render(BackupDialog, { props: { open: true, env: environment } });

    await user.type(await screen.findByTestId("backup-note"), "   ");
    await user.click(screen.getByTestId("backup-submit"));

    expect(api.createBackup).toHaveBeenCalledWith(expect.objectContaining({ database: true, media: true, note: null }));
  });

  it("shows that a backup is already running and stays open", async () => {
    vi.mocked(api.createBackup).mockRejectedValue({
      code: "already_running",
      field: null,
      message: "A backup of production is already running.",
    });
    const user = userEvent.setup();
    render(BackupDialog, { props: { open: true, env: environment } });

    await user.click(await screen.findByTestId("backup-submit"));

    expect(await screen.findByTestId("backup-error")).toHaveTextContent("A backup of production is already running.");
    expect(screen.getByTestId("backup-dialog")).toBeInTheDocument();
  });

  it("shows a validation error under the option it is about", async () => {
    vi.mocked(api.createBackup).mockRejectedValue({
      code: "validation",
      field: "media",
      message: "This environment has no media directory yet.",
    });
    const user = userEvent.setup();
    render(BackupDialog, { props: { open: true, env: environment } });

    await user.click(await screen.findByTestId("backup-submit"));

    expect(await screen.findByTestId("field-error-media")).toHaveTextContent("This environment has no media directory yet.");
    expect(screen.queryByTestId("backup-error")).not.toBeInTheDocument();
  });

  it("disables what the environment does not have, with a hint", async () => {
    render(BackupDialog, { props: { open: true, env: { ...environment, mediaDir: null } } });

    const media = await screen.findByTestId("backup-include-media");
    expect(media).toBeDisabled();
    expect(media).not.toBeChecked();
    expect(screen.getByText(/No media directory or bucket yet/)).toBeInTheDocument();
    expect(screen.getByTestId("backup-include-database")).toBeChecked();
  });

  it("asks for something to back up before calling the core", async () => {
    const user = userEvent.setup();
    render(BackupDialog, { props: { open: true, env: { ...environment, mediaDir: null } } });

    await user.click(await screen.findByTestId("backup-include-database"));
    await user.click(screen.getByTestId("backup-submit"));

    expect(await screen.findByTestId("field-error-what")).toHaveTextContent("Choose the database, the media or both.");
    expect(api.createBackup).not.toHaveBeenCalled();
  });
});
