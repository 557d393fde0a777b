// How an environment's restore drills read at a glance.
import type { DrillReport } from "./bindings/DrillReport";
import type { Punctuality } from "./bindings/Punctuality";
import { formatDuration } from "./format";

/** A drill counts as fresh for a week: the default drill interval. */
export const DRILL_FRESH_MS = 7 * 24 * 3600 * 1000;

export type DrillState = "passed" | "overdue" | "failed" | "never";

/**
 * Red when the newest drill failed; otherwise green while drills keep up with the drill
 * schedule (`punctuality` from the core), or without one while the last pass is under a week
 * old; amber when overdue.
 */
export function drillState(
  last: DrillReport | null | undefined,
  punctuality: Punctuality = "unscheduled",
  now: number = Date.now(),
): DrillState {
  if (!last) return "never";
  if (!last.ok) return "failed";
  if (punctuality !== "unscheduled") return punctuality === "onTime" ? "passed" : "overdue";
  return now - Date.parse(last.finishedAt) > DRILL_FRESH_MS ? "overdue" : "passed";
}

export const DRILL_STATE_LABELS: Record<DrillState, { label: string; tone: "green" | "amber" | "red" | "slate" }> = {
  passed: { label: "Restorable", tone: "green" },
  overdue: { label: "Drill overdue", tone: "amber" },
  failed: { label: "Drill failed", tone: "red" },
  never: { label: "Never drilled", tone: "slate" },
};

/** "restore took 1 min 5 s": the database's restore time, plus the media's when there was any. */
export function restoreTook(report: DrillReport): string {
  const total = report.databaseRestoreMs + report.mediaRestoreMs;
  return `restore took ${formatDuration(total)}`;
}

/** The failing check of a failed drill, as one line. */
export function drillFailure(report: DrillReport): string | null {
  const failed = report.checks.find((c) => !c.ok);
  return failed ? `${failed.name}: ${failed.detail}` : null;
}
