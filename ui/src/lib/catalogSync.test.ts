import { describe, expect, it } from "vitest";
import type { SyncReport } from "./bindings/SyncReport";
import { syncSummary } from "./catalogSync";

describe("syncSummary", () => {
  it("counts what was imported, created and skipped", () => {
    const summary = syncSummary({
      imported: ["b1", "b2"],
      alreadyKnown: 1,
      environmentsCreated: ["shop/production"],
      incomplete: ["shop/production/x"],
      unreadable: [],
      quarantined: [],
    });
    expect(summary.title).toBe("Imported 2 backups");
    expect(summary.description).toBe(
      "1 backup already listed. New environment: shop/production (set a connection before restoring into them). 1 folder skipped (unfinished or unreadable).",
    );
  });

  it("says when nothing was new", () => {
    const summary = syncSummary({ imported: [], alreadyKnown: 3, environmentsCreated: [], incomplete: [], unreadable: [], quarantined: [] });
    expect(summary.title).toBe("No new backups found");
    expect(summary.description).toBe("3 backups already listed.");
  });

  it("says how many backups were not trusted", () => {
    const summary = syncSummary({
      imported: [],
      alreadyKnown: 0,
      environmentsCreated: [],
      incomplete: [],
      unreadable: [],
      quarantined: [{ id: "q1" } as SyncReport["quarantined"][number]],
    });
    expect(summary.description).toContain("1 backup not trusted: its manifest could not be authenticated.");
  });
});
