import { describe, expect, it, vi, beforeEach } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import MediaSection from "./MediaSection.svelte";
import * as api from "../api";
import { environment } from "../testing/fixtures";
import type { MediaBucket } from "../bindings/MediaBucket";

vi.mock("svelte-sonner", () => ({ toast: { success: vi.fn(), error: vi.fn() } }));
vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, mediaStats: vi.fn(), setMediaBucket: vi.fn(), checkMediaBucket: vi.fn(), changeEnvironment: vi.fn() };
});

const bucket: MediaBucket = {
  endpoint: "https://s3.example.com",
  region: "eu-west-1",
  bucket: "shop-media",
  prefix: "media",
  pathStyle: true,
  accessKeyId: "AKIA123",
};
const readOnly = {
  list: { ok: true, detail: "Listed 3 objects." },
  read: { ok: true, detail: "Read a.txt." },
  write: { ok: false, detail: "The media bucket s3://shop-media/media cannot be written with this key." },
  stats: { fileCount: 3, totalBytes: 2048 },
};

describe("MediaSection", () => {
  beforeEach(() => {
    vi.mocked(api.mediaStats).mockReset().mockResolvedValue({ fileCount: 1, totalBytes: 1 });
    vi.mocked(api.setMediaBucket)
      .mockReset()
      .mockImplementation(async (_id, input) => ({ ...environment, mediaDir: null, mediaBucket: input?.bucket ?? null }));
    vi.mocked(api.checkMediaBucket).mockReset().mockResolvedValue(readOnly);
  });

  it("saves a bucket with its secret, then shows what is in it without writing", async () => {
    const onsaved = vi.fn();
    const user = userEvent.setup();
    render(MediaSection, { props: { env: environment, onsaved } });
    await user.click(screen.getByTestId("media-kind-bucket"));

    await user.type(screen.getByTestId("media-bucket-name"), "shop-media");
    await user.type(screen.getByTestId("media-bucket-prefix"), "media");
    await user.type(screen.getByTestId("media-bucket-endpoint"), "https://s3.example.com");
    await user.clear(screen.getByTestId("media-bucket-region"));
    await user.type(screen.getByTestId("media-bucket-region"), "eu-west-1");
    await user.type(screen.getByTestId("media-bucket-access-key-id"), "AKIA123");
    await user.type(screen.getByTestId("media-bucket-secret"), "s3cret");
    await user.click(screen.getByTestId("save-media-bucket"));

    expect(api.setMediaBucket).toHaveBeenCalledWith(environment.id, { bucket, secretAccessKey: "s3cret" });
    await vi.waitFor(() => expect(onsaved).toHaveBeenCalled());
    expect(api.checkMediaBucket).toHaveBeenCalledWith(environment.id, null, false);
    expect(await screen.findByTestId("media-bucket-stats")).toHaveTextContent("3 objects");
  });

  it("tells a read-only key apart when testing access", async () => {
    const user = userEvent.setup();
    render(MediaSection, { props: { env: { ...environment, mediaDir: null, mediaBucket: bucket } } });
    expect(screen.getByTestId("media-kind-bucket")).toHaveAttribute("data-state", "checked");
    await user.click(screen.getByTestId("test-media-bucket"));
    expect(api.checkMediaBucket).toHaveBeenLastCalledWith(environment.id, null, true);
    const checks = await screen.findAllByTestId("media-bucket-check");
    expect(checks.map((c) => c.dataset.ok)).toEqual(["true", "true", "false"]);
    expect(checks[2]).toHaveTextContent("cannot be written");
  });

  it("shows a refused secret on its field", async () => {
    vi.mocked(api.setMediaBucket).mockRejectedValue({
      code: "s3_auth_failed",
      message: "The secret access key does not belong to this access key ID: enter it again.",
      field: "secretAccessKey",
      detail: null,
    });
    const user = userEvent.setup();
    render(MediaSection, { props: { env: { ...environment, mediaDir: null, mediaBucket: bucket } } });
    await user.type(screen.getByTestId("media-bucket-secret"), "wrong");
    await user.click(screen.getByTestId("save-media-bucket"));
    expect(await screen.findByTestId("field-error-secretAccessKey")).toHaveTextContent("enter it again");
  });
});
