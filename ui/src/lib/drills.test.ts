import { describe, expect, it } from "vitest";
import type { DrillReport } from "./bindings/DrillReport";
import { drillFailure, drillState, restoreTook } from "./drills";

function report(overrides: Partial<DrillReport> = {}): DrillReport {
  return {
    id: "j1",
    environmentId: "e1",
    backupId: "b1",
    startedAt: "2026-11-20T10:00:00Z",
    finishedAt: "2026-11-20T10:01:05Z",
    ok: true,
    checks: [{ name: "restore", ok: true, detail: "pg_restore finished cleanly" }],
    databaseRestoreMs: 60_000,
    mediaRestoreMs: 5_000,
    ...overrides,
  };
}

describe("drillState", () => {
  const now = Date.parse("2026-11-22T10:00:00Z");
  it("is green for a recent pass, amber for an old one, red for a failure", () => {
    expect(drillState(null, "unscheduled", now)).toBe("never");
    expect(drillState(report(), "unscheduled", now)).toBe("passed");
    expect(drillState(report({ finishedAt: "2026-11-10T10:00:00Z" }), "unscheduled", now)).toBe("overdue");
    expect(drillState(report({ ok: false }), "onTime", now)).toBe("failed");
  });

  it("follows the drill schedule when there is one", () => {
    expect(drillState(report({ finishedAt: "2026-11-10T10:00:00Z" }), "onTime", now)).toBe("passed");
    expect(drillState(report(), "late", now)).toBe("overdue");
  });
});

describe("drill texts", () => {
  it("says how long the restore took and which check failed", () => {
    expect(restoreTook(report())).toBe("restore took 1 min 5 s");
    expect(drillFailure(report())).toBeNull();
    expect(
      drillFailure(report({ ok: false, checks: [{ name: "sql check", ok: false, detail: "returned 0" }] })),
    ).toBe("sql check: returned 0");
  });
});
