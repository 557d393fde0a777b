import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import { toast } from "svelte-sonner";
import RecoveryKeySection from "./RecoveryKeySection.svelte";
import * as api from "../api";
import { store } from "../state.svelte";

vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));
vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, importRecoveryKey: vi.fn() };
});

describe("RecoveryKeySection", () => {
  beforeEach(() => {
    vi.mocked(api.importRecoveryKey).mockReset();
    vi.mocked(toast.success).mockReset();
  });

  it("imports the key file the user picks and says what it unlocks", async () => {
    vi.mocked(api.importRecoveryKey).mockResolvedValue("age1recipient");
    const user = userEvent.setup();
    render(RecoveryKeySection);

    await user.click(screen.getByTestId("import-recovery-key"));

    expect(api.importRecoveryKey).toHaveBeenCalled();
    expect(toast.success).toHaveBeenCalledWith("Recovery key imported", {
      description: expect.stringContaining("age1recipient can now be verified, downloaded and restored here"),
    });
  });

  it("shows why a file is no recovery key, and imports nothing when the dialog is closed", async () => {
    vi.mocked(api.importRecoveryKey).mockResolvedValueOnce(null);
    const user = userEvent.setup();
    render(RecoveryKeySection);
    await user.click(screen.getByTestId("import-recovery-key"));
    expect(toast.success).not.toHaveBeenCalled();

    vi.mocked(api.importRecoveryKey).mockRejectedValue({
      code: "validation",
      message: "/tmp/notes.txt holds no age X25519 identity (AGE-SECRET-KEY-…).",
      field: null,
    });
    await user.click(screen.getByTestId("import-recovery-key"));
    expect(await screen.findByTestId("recovery-key-error")).toHaveTextContent("holds no age X25519 identity");
  });

  it("warns until the key has been saved to a file, then says when it was", async () => {
    const info = { version: "1", home: "/h", keyring: { available: true, message: null, code: null } };
    store.info = { ...info, recoveryKeySavedAt: null };
    const { unmount } = render(RecoveryKeySection);
    expect(screen.getByTestId("recovery-key-unsaved")).toHaveTextContent("Export a copy now");
    expect(screen.queryByTestId("recovery-key-saved")).not.toBeInTheDocument();
    unmount();

    store.info = { ...info, recoveryKeySavedAt: "2026-11-29T08:00:00.000Z" };
    render(RecoveryKeySection);
    expect(screen.getByTestId("recovery-key-saved")).toHaveTextContent("Last saved to a file");
    expect(screen.queryByTestId("recovery-key-unsaved")).not.toBeInTheDocument();
  });
});
