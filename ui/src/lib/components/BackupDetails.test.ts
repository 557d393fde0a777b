import { describe, expect, it, vi, beforeEach } from "vitest";
import { toast } from "svelte-sonner";
import { render, screen, within } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import BackupDetails from "./BackupDetails.svelte";
import * as api from "../api";
import type { VerifyReport } from "../bindings/VerifyReport";
import { store } from "../state.svelte";
import { record, succeeded } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, verifyBackup: vi.fn(), listBackups: vi.fn() };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn(), info: vi.fn() } }));

const ID = "20250303T143000Z-abcd1234";

function report(overrides: Partial<VerifyReport> = {}): VerifyReport {
  return {
    backupId: ID,
    ok: true,
    verifiedAt: "2025-03-05T10:00:00.000Z",
    sampled: false,
    checks: [
      { name: "Database checksum", ok: true, detail: "SHA-256 matches the manifest" },
      { name: "Media files", ok: true, detail: "2,400 files match the manifest" },
    ],
    ...overrides,
  };
}

describe("BackupDetails: verification", () => {
  beforeEach(() => {
    vi.mocked(api.verifyBackup).mockReset();
    vi.mocked(api.listBackups).mockReset().mockResolvedValue([succeeded("j1")]);
    vi.mocked(toast.success).mockReset();
    vi.mocked(toast.error).mockReset();
    store.backups = {};
    store.verifying = {};
  });

  it("says when a backup was never verified", () => {
    render(BackupDetails, { props: { record: record() } });
    expect(screen.getByTestId("verification")).toHaveTextContent("Never verified");
  });

  it("says why retention could not delete a backup", () => {
    const { unmount } = render(BackupDetails, { props: { record: record() } });
    expect(screen.queryByTestId("backup-details-deletion-refused")).not.toBeInTheDocument();
    unmount();
    render(BackupDetails, { props: { record: { ...record(), deletionRefused: "Storage refused: Access Denied." } } });
    expect(screen.getByTestId("backup-details-deletion-refused")).toHaveTextContent(
      "Retention could not delete it: Storage refused: Access Denied. The next prune tries again.",
    );
  });

  it("says whether the server's roles went beside the dump, and why not", () => {
    const withRoles = record();
    withRoles.manifest = {
      ...withRoles.manifest,
      globals: { artifact: withRoles.manifest.database!.artifact, roles: 4 },
    };
    const { unmount } = render(BackupDetails, { props: { record: withRoles } });
    expect(screen.getByTestId("backup-details-roles")).toHaveTextContent("4 roles beside the dump (no passwords)");
    unmount();

    const without = record();
    without.manifest = { ...without.manifest, globalsNote: "The roles were not backed up: permission denied." };
    render(BackupDetails, { props: { record: without } });
    expect(screen.getByTestId("backup-details-roles")).toHaveTextContent("permission denied");
  });

  it("lists the checks of the latest verification", () => {
    render(BackupDetails, { props: { record: record({ verification: report() }) } });
    const block = screen.getByTestId("verification");
    expect(block).not.toHaveTextContent("Never verified");
    expect(within(block).getByTestId("verification-summary")).toHaveTextContent("All 2 checks passed");
    const checks = within(block).getAllByTestId("verification-check");
    expect(checks).toHaveLength(2);
    expect(checks[0]).toHaveAttribute("data-ok", "true");
    expect(checks[0]).toHaveTextContent("Database checksum");
    expect(checks[0]).toHaveTextContent("SHA-256 matches the manifest");
  });

  it("verifies on request, spinning meanwhile, then shows the failing check and reloads the list", async () => {
    let resolve!: (r: VerifyReport) => void;
    vi.mocked(api.verifyBackup).mockReturnValue(new Promise((r) => (resolve = r)));
    const user = userEvent.setup();
    render(BackupDetails, { props: { record: record() } });

    const button = screen.getByTestId("verify-backup");
    await user.click(button);
    expect(api.verifyBackup).toHaveBeenCalledWith(ID);
    expect(button).toBeDisabled();
    expect(within(button).getByTestId("spinner")).toBeInTheDocument();

    resolve(
      report({
        ok: false,
        checks: [
          { name: "Database dump", ok: true, detail: "pg_restore --list read 412 entries" },
          { name: "Media files", ok: false, detail: "uploads/logo.png: SHA-256 does not match the manifest" },
        ],
      }),
    );

    const block = screen.getByTestId("verification");
    await vi.waitFor(() => expect(block).toHaveTextContent("uploads/logo.png: SHA-256 does not match the manifest"));
    const failing = within(block).getAllByTestId("verification-check")[1];
    expect(failing).toHaveAttribute("data-ok", "false");
    expect(within(block).getByTestId("verification-summary")).toHaveTextContent("1 check of 2 failed");
    expect(button).toBeEnabled();
    expect(within(button).queryByTestId("spinner")).not.toBeInTheDocument();
    expect(toast.error).toHaveBeenCalledWith("Verification failed: Media files", expect.anything());
    expect(api.listBackups).toHaveBeenCalledWith("e1");
  });

  it("toasts a passed verification", async () => {
    vi.mocked(api.verifyBackup).mockResolvedValue(report());
    const user = userEvent.setup();
    render(BackupDetails, { props: { record: record() } });

    await user.click(screen.getByTestId("verify-backup"));
    await vi.waitFor(() => expect(toast.success).toHaveBeenCalledWith("Backup verified"));
    expect(screen.getByTestId("verification")).toHaveTextContent("All 2 checks passed");
  });

  it("toasts when the verification cannot run, with the way to import a missing key", async () => {
    vi.mocked(api.verifyBackup).mockRejectedValue({
      code: "recovery_key_missing",
      field: null,
      message: "The recovery key is not in the keyring.",
    });
    const user = userEvent.setup();
    render(BackupDetails, { props: { record: record() } });

    await user.click(screen.getByTestId("verify-backup"));
    await vi.waitFor(() =>
      expect(toast.error).toHaveBeenCalledWith("Could not verify the backup", {
        description: "The recovery key is not in the keyring.",
        action: expect.objectContaining({ label: "Import recovery key…" }),
      }),
    );
    expect(screen.getByTestId("verify-backup")).toBeEnabled();
    expect(screen.getByTestId("verification")).toHaveTextContent("Never verified");
  });
});

describe("BackupDetails: restore", () => {
  it("offers to restore the backup when the caller can", async () => {
    const onrestore = vi.fn();
    const user = userEvent.setup();
    const { unmount } = render(BackupDetails, { props: { record: record(), onrestore } });

    await user.click(screen.getByTestId("restore-backup"));
    expect(onrestore).toHaveBeenCalledOnce();
    unmount();

    render(BackupDetails, { props: { record: record() } });
    expect(screen.queryByTestId("restore-backup")).not.toBeInTheDocument();
  });
});

describe("BackupDetails: download", () => {
  it("offers to prepare a download beside the restore when the caller can", async () => {
    const ondownload = vi.fn();
    const user = userEvent.setup();
    const { unmount } = render(BackupDetails, { props: { record: record(), onrestore: vi.fn(), ondownload } });

    expect(screen.getByTestId("restore-backup")).toBeInTheDocument();
    await user.click(screen.getByTestId("prepare-download"));
    expect(ondownload).toHaveBeenCalledOnce();
    unmount();

    render(BackupDetails, { props: { record: record(), onrestore: vi.fn() } });
    expect(screen.queryByTestId("prepare-download")).not.toBeInTheDocument();
  });
});
