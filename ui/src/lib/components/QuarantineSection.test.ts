import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import QuarantineSection from "./QuarantineSection.svelte";
import * as api from "../api";
import type { QuarantinedBackup } from "../bindings/QuarantinedBackup";
import { store } from "../state.svelte";

vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));
vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, quarantinedBackups: vi.fn(), trustBackup: vi.fn(), dismissQuarantined: vi.fn() };
});

const forged = {
  id: "q1",
  targetId: "t1",
  storageDir: "shop/production/20991231T000000Z-deadbeef",
  reason: "its manifest carries no authentication",
  foundAt: "2026-11-29T10:00:00.000Z",
  manifest: {
    backupId: "20991231T000000Z-deadbeef",
    application: { id: "a", name: "shop" },
    environment: { id: "e", name: "production" },
    createdAt: "2099-12-31T00:00:00.000Z",
    encryption: { scheme: "age-x25519", recipient: "age1recipient" },
  },
} as unknown as QuarantinedBackup;

describe("QuarantineSection", () => {
  beforeEach(() => {
    vi.mocked(api.quarantinedBackups).mockReset().mockResolvedValue([forged]);
    vi.mocked(api.trustBackup).mockReset();
    vi.mocked(api.dismissQuarantined).mockReset().mockResolvedValue();
    vi.spyOn(store, "refresh").mockResolvedValue();
  });

  it("shows where an untrusted backup was found and why, and trusts it only after confirming", async () => {
    vi.mocked(api.trustBackup).mockResolvedValue({
      imported: [forged.manifest.backupId],
      alreadyKnown: 0,
      environmentsCreated: [],
      incomplete: [],
      unreadable: [],
      quarantined: [],
    });
    const user = userEvent.setup();
    render(QuarantineSection);

    expect(await screen.findByTestId("quarantine-reason")).toHaveTextContent("carries no authentication");
    expect(screen.getByTestId("quarantined-backup")).toHaveTextContent("shop/production/20991231T000000Z-deadbeef");
    await user.click(screen.getByTestId("trust-quarantined"));
    expect(api.trustBackup).not.toHaveBeenCalled();
    expect(screen.getByTestId("confirm-dialog")).toHaveTextContent("age1recipient");

    vi.mocked(api.quarantinedBackups).mockResolvedValue([]);
    await user.click(screen.getByTestId("confirm-delete"));
    expect(api.trustBackup).toHaveBeenCalledWith("q1");
    expect(store.refresh).toHaveBeenCalled();
  });

  it("dismisses an entry, and shows nothing when there is none", async () => {
    const user = userEvent.setup();
    render(QuarantineSection);
    vi.mocked(api.quarantinedBackups).mockResolvedValue([]);
    await user.click(await screen.findByTestId("dismiss-quarantined"));
    expect(api.dismissQuarantined).toHaveBeenCalledWith("q1");
    expect(screen.queryByTestId("quarantine")).not.toBeInTheDocument();
  });
});
