import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import TargetDialog from "./TargetDialog.svelte";
import * as api from "../api";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, createTarget: vi.fn(), updateTarget: vi.fn(), testTarget: vi.fn() };
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
    vi.mocked(api.testTarget).mockReset().mockResolvedValue({ elapsedMs: 12 });
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

  it("offers insecure HTTP only for a plain http:// endpoint on another machine, and sends it when chosen", async () => {
    const user = userEvent.setup();
    render(TargetDialog, { props: { open: true, kind: "s3" } });
    await fillS3(user, "http://127.0.0.1:9000");
    expect(screen.queryByTestId("target-insecure-http")).not.toBeInTheDocument();
    const endpoint = screen.getByTestId("target-endpoint");
    await user.clear(endpoint);
    await user.type(endpoint, "http://nas.example.com:9000");
    await user.click(screen.getByTestId("target-insecure-http"));
    await user.click(screen.getByTestId("target-submit"));
    expect(api.createTarget).toHaveBeenCalledWith(
      expect.objectContaining({ config: expect.objectContaining({ insecureHttp: true }) }),
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

  it("marks every missing field at once, before anything is sent", async () => {
    const user = userEvent.setup();
    render(TargetDialog, { props: { open: true, kind: "s3" } });
    await user.click(await screen.findByTestId("target-submit"));
    for (const field of ["name", "bucket", "accessKeyId", "secretAccessKey"]) {
      expect(screen.getByTestId(`field-error-${field}`)).toBeInTheDocument();
    }
    expect(api.testTarget).not.toHaveBeenCalled();
    expect(api.createTarget).not.toHaveBeenCalled();
  });

  it("tests before saving and saves a failing target only when told to", async () => {
    vi.mocked(api.testTarget).mockRejectedValue({
      code: "s3_auth_failed",
      field: "secretAccessKey",
      message: "The secret access key does not belong to this access key ID: enter it again.",
      detail: "While listing the target: 403 Forbidden: <Code>SignatureDoesNotMatch</Code>",
    });
    const user = userEvent.setup();
    render(TargetDialog, { props: { open: true, kind: "s3" } });
    await fillS3(user, "http://127.0.0.1:9000");
    await user.click(screen.getByTestId("target-submit"));

    await vi.waitFor(() =>
      expect(screen.getByTestId("field-error-secretAccessKey")).toHaveTextContent("does not belong"),
    );
    expect(api.createTarget).not.toHaveBeenCalled();
    expect(screen.getByTestId("target-dialog-error-detail")).toHaveTextContent("SignatureDoesNotMatch");

    await user.click(screen.getByTestId("target-save-untested"));
    await vi.waitFor(() => expect(api.createTarget).toHaveBeenCalledTimes(1));
    expect(api.testTarget).toHaveBeenCalledTimes(1);
  });

  it("says that backups stay behind when an edited target moves", async () => {
    const target = {
      id: "t1",
      name: "Offsite",
      isDefault: false,
      createdAt: "2026-11-01T00:00:00Z",
      config: {
        kind: "s3" as const,
        hasSecret: true,
        endpoint: "http://127.0.0.1:9000",
        region: "us-east-1",
        bucket: "backups",
        prefix: "",
        pathStyle: true,
        storageClass: "STANDARD",
        accessKeyId: "key",
      },
    };
    vi.mocked(api.updateTarget).mockResolvedValue({ ...target, config: { ...target.config, bucket: "other" } });
    const onimport = vi.fn();
    const user = userEvent.setup();
    render(TargetDialog, { props: { open: true, target, onimport } });
    await user.clear(await screen.findByTestId("target-name"));
    await user.type(screen.getByTestId("target-name"), "Renamed");
    expect(screen.queryByTestId("target-moved")).not.toBeInTheDocument();

    await user.clear(screen.getByTestId("target-bucket"));
    await user.type(screen.getByTestId("target-bucket"), "other");
    expect(screen.getByTestId("target-moved")).toHaveTextContent("stay where they are");
    await user.click(screen.getByTestId("target-submit"));
    await vi.waitFor(() => expect(api.updateTarget).toHaveBeenCalled());
    const { toast } = await import("svelte-sonner");
    const options = vi.mocked(toast.success).mock.calls.at(-1)?.[1] as { action?: { onClick: () => void } };
    options.action?.onClick();
    expect(onimport).toHaveBeenCalledWith(expect.objectContaining({ id: "t1" }));
  });

  it("fills in what a provider needs when it is chosen", async () => {
    const user = userEvent.setup();
    render(TargetDialog, { props: { open: true, kind: "s3" } });
    await user.click(await screen.findByTestId("target-provider"));
    const r2 = (await screen.findAllByTestId("target-provider-option")).find((o) => o.dataset.value === "r2");
    await user.click(r2!);

    expect(screen.getByTestId("target-endpoint")).toHaveValue("https://ACCOUNT_ID.r2.cloudflarestorage.com");
    expect(screen.getByTestId("target-region")).toHaveValue("auto");
    expect(screen.getByTestId("target-storage-class")).toHaveAttribute("data-value", "STANDARD");
    expect(screen.getByTestId("target-path-style")).toHaveAttribute("data-state", "checked");
    expect(screen.getByTestId("target-provider-hint")).toHaveTextContent("ACCOUNT_ID");
  });
});
