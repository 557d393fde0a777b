import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import TargetDialog from "./TargetDialog.svelte";
import * as api from "../api";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, createTarget: vi.fn() };
});
vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));

async function fillS3(user: ReturnType<typeof userEvent.setup>, endpoint: string) {
  await user.type(await screen.findByTestId("target-name"), "Offsite");
  if (endpoint) await user.type(screen.getByTestId("target-endpoint"), endpoint);
  await user.type(screen.getByTestId("target-bucket"), "backups");
  await user.type(screen.getByTestId("target-access-key-id"), "key");
  await user.type(screen.getByTestId("target-secret-access-key"), "secret");
}

describe("TargetDialog", () => {
  beforeEach(() => {
    vi.mocked(api.createTarget).mockReset().mockImplementation(async (input) => ({
      id: "t1",
      name: input.name,
      isDefault: false,
      config: { kind: "local", path: "/x" },
      createdAt: "2026-11-29T00:00:00Z",
    }));
  });

  it("addresses a custom endpoint path-style unless told otherwise", async () => {
    const user = userEvent.setup();
    render(TargetDialog, { props: { open: true, kind: "s3" } });
    await fillS3(user, "http://127.0.0.1:9000");
    expect(screen.getByTestId("target-path-style")).toHaveAttribute("data-state", "checked");
    await user.click(screen.getByTestId("target-submit"));
    expect(api.createTarget).toHaveBeenCalledWith(
      expect.objectContaining({
        config: expect.objectContaining({ endpoint: "http://127.0.0.1:9000", bucket: "backups", pathStyle: true }),
      }),
    );
  });

  it("sends Amazon S3 itself no path-style addressing and hides the switch", async () => {
    const user = userEvent.setup();
    render(TargetDialog, { props: { open: true, kind: "s3" } });
    await fillS3(user, "");
    expect(screen.queryByTestId("target-path-style")).not.toBeInTheDocument();
    await user.click(screen.getByTestId("target-submit"));
    expect(api.createTarget).toHaveBeenCalledWith(
      expect.objectContaining({ config: expect.objectContaining({ endpoint: null, pathStyle: false }) }),
    );
  });
});
