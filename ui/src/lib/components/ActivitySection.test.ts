import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/svelte";
import ActivitySection from "./ActivitySection.svelte";
import * as api from "../api";
import { job, restoreJob } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, activity: vi.fn() };
});

describe("ActivitySection", () => {
  it("lists the environment's jobs, restores with their source, and prunes", async () => {
    vi.mocked(api.activity).mockResolvedValue([
      {
        at: "2026-11-29T09:00:00.000Z",
        job: restoreJob({ id: "r1", status: "succeeded", finishedAt: "2026-11-29T09:01:00.000Z" }),
        prune: null,
        restoredFrom: "Shop / production",
      },
      { at: "2026-11-29T08:00:00.000Z", job: null, prune: { at: "2026-11-29T08:00:00.000Z", deleted: 3, freedBytes: 3 * 1024 ** 2 }, restoredFrom: null },
      {
        at: "2026-11-28T02:00:00.000Z",
        job: job({ id: "j1", status: "failed", error: { code: "pg_auth_failed", field: "password", message: "refused" } }),
        prune: null,
        restoredFrom: null,
      },
    ]);
    render(ActivitySection, { props: { environmentId: "e1" } });

    const items = await screen.findAllByTestId("activity-item");
    expect(items.map((i) => i.dataset.kind)).toEqual(["restore", "prune", "backup"]);
    expect(items[0]).toHaveTextContent("(from Shop / production)");
    expect(items[1]).toHaveTextContent("Retention deleted 3 backups, freeing 3.0 MiB");
    expect(items[2]).toHaveTextContent("Failed");
    expect(items[2]).toHaveTextContent("refused");
    expect(api.activity).toHaveBeenCalledWith("e1");
  });
});
