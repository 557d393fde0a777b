import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import SaveKeyDialog from "./SaveKeyDialog.svelte";
import * as api from "../api";

vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));
vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, exportRecoveryKey: vi.fn(), appInfo: vi.fn() };
});

describe("SaveKeyDialog", () => {
  it("exports the key where the user chooses and closes", async () => {
    vi.mocked(api.exportRecoveryKey).mockResolvedValue("/home/me/lifeboat-recovery-key.txt");
    vi.mocked(api.appInfo).mockResolvedValue({
      version: "1",
      home: "/h",
      keyring: { available: true, message: null, code: null },
      recoveryKeySavedAt: "2026-11-29T08:00:00.000Z",
    });
    const user = userEvent.setup();
    render(SaveKeyDialog, { props: { open: true } });

    await user.click(await screen.findByTestId("save-key-export"));
    expect(api.exportRecoveryKey).toHaveBeenCalled();
    await vi.waitFor(() => expect(screen.queryByTestId("save-key-dialog")).not.toBeInTheDocument());
  });

  it("stays open when the save dialog is cancelled", async () => {
    vi.mocked(api.exportRecoveryKey).mockResolvedValue(null);
    const user = userEvent.setup();
    render(SaveKeyDialog, { props: { open: true } });
    await user.click(await screen.findByTestId("save-key-export"));
    expect(screen.getByTestId("save-key-dialog")).toBeInTheDocument();
  });
});
