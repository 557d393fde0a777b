import { describe, expect, it } from "vitest";
import { isEstimate, jobDurationMs, jobState, progressPercent, whatLabel } from "./backups";
import { job } from "./testing/fixtures";

describe("backup helpers", () => {
  it("tells interrupted jobs from other failures", () => {
    expect(jobState(job({ status: "failed", error: { code: "interrupted", field: null, message: "" } }))).toBe("interrupted");
    expect(jobState(job({ status: "failed", error: { code: "pg_dump_failed", field: null, message: "" } }))).toBe("failed");
    expect(jobState(job({ status: "cancelled" }))).toBe("cancelled");
  });

  it("computes progress, never reaching 100% before the end", () => {
    expect(progressPercent(job({ bytesDone: 1, bytesTotal: 3 }))).toBe(33);
    expect(progressPercent(job({ bytesDone: 10, bytesTotal: 10 }))).toBe(99);
    expect(progressPercent(job({ bytesDone: 10, bytesTotal: 0 }))).toBeNull();
    expect(progressPercent(job({ status: "succeeded", bytesDone: 10, bytesTotal: 10 }))).toBe(100);
  });

  it("treats the total as an estimate only while a database is dumped", () => {
    expect(isEstimate(job())).toBe(true);
    expect(isEstimate(job({ request: { database: false } }))).toBe(false);
    expect(isEstimate(job({ status: "succeeded" }))).toBe(false);
  });

  it("labels what was backed up and how long it took", () => {
    expect(whatLabel({ database: true, media: true })).toBe("Database + media");
    expect(whatLabel({ database: false, media: true })).toBe("Media");
    expect(jobDurationMs(job({ status: "succeeded", finishedAt: "2025-03-03T14:30:02.500Z" }))).toBe(2500);
    expect(jobDurationMs(job(), Date.parse("2025-03-03T14:31:00.000Z"))).toBe(60_000);
  });
});
