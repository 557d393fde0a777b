import { describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/svelte";
import userEvent from "@testing-library/user-event";
import RetentionSection from "./RetentionSection.svelte";
import * as api from "../api";
import type { RetentionDecision } from "../bindings/RetentionDecision";
import { environment } from "../testing/fixtures";

vi.mock("../api", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../api")>();
  return { ...actual, retentionPreview: vi.fn() };
});

function decision(backupId: string, del: boolean): RetentionDecision {
  return {
    backupId,
    createdAt: "2026-11-01T10:00:00.000Z",
    kind: "on-demand",
    pinned: false,
    storedBytes: 2048,
    label: null,
    delete: del,
  };
}

describe("RetentionSection", () => {
  it("prunes only by the saved policy, listing what it deletes", async () => {
    vi.mocked(api.retentionPreview).mockImplementation(async (_env, policy) =>
      policy.onDemandKeepRecent === environment.retention.onDemandKeepRecent
        ? [decision("b-old", true), decision("b-new", false)]
        : [decision("b-old", true), decision("b-new", true)],
    );
    const user = userEvent.setup();
    render(RetentionSection, { props: { env: environment } });
    const prune = screen.getByTestId("prune-now");
    expect(prune).toBeEnabled();

    // While the form holds another policy than the saved one, Prune now would mislead.
    const keep = screen.getByTestId("retention-on-demand-keep");
    await user.clear(keep);
    await user.type(keep, "1");
    expect(prune).toBeDisabled();
    await user.clear(keep);
    await user.type(keep, String(environment.retention.onDemandKeepRecent));
    expect(prune).toBeEnabled();

    await user.click(prune);
    const listed = await screen.findAllByTestId("prune-confirm-delete");
    expect(listed).toHaveLength(1);
    expect(api.retentionPreview).toHaveBeenLastCalledWith(environment.id, environment.retention);
  });
});
