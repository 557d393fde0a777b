import { describe, expect, it } from "vitest";
import {
  backupRequest,
  firstFailure,
  isEstimate,
  isRestoreJob,
  jobDurationMs,
  jobState,
  jobTitle,
  latestVerification,
  phaseLabel,
  progressPercent,
  whatLabel,
} from "./backups";
import { job, restoreJob } from "./testing/fixtures";

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
    expect(isEstimate(restoreJob())).toBe(false);
  });

  it("tells restore jobs from backup jobs and words their phases", () => {
    expect(isRestoreJob(restoreJob())).toBe(true);
    expect(isRestoreJob(job())).toBe(false);
    expect(backupRequest(restoreJob())).toBeNull();
    expect(backupRequest(job())?.kind).toBe("on-demand");
    expect(jobTitle(job())).toBe("Backing up database + media");
    expect(jobTitle(restoreJob())).toBe("Restoring from 20250303T143000Z-abcd1234…");
    expect(phaseLabel(restoreJob({ phase: "safety-backup" }))).toBe("Taking a safety backup…");
    expect(phaseLabel(restoreJob({ phase: "checking-restored" }))).toBe("Checking the restored database…");
    expect(phaseLabel(restoreJob({ status: "queued" }))).toBe("Waiting to start");
    expect(phaseLabel(job({ phase: "streaming" }))).toBe("Compressing, encrypting and uploading");
  });

  it("labels what was backed up and how long it took", () => {
    expect(whatLabel({ database: true, media: true })).toBe("Database + media");
    expect(whatLabel({ database: false, media: true })).toBe("Media");
    expect(jobDurationMs(job({ status: "succeeded", finishedAt: "2025-03-03T14:30:02.500Z" }))).toBe(2500);
    expect(jobDurationMs(job(), Date.parse("2025-03-03T14:31:00.000Z"))).toBe(60_000);
  });

  it("finds a verification's first failing check and the latest of two verifications", () => {
    const ok = { name: "Database dump", ok: true, detail: "" };
    const bad = { name: "Media files", ok: false, detail: "1 file missing" };
    const older = { backupId: "b", ok: false, verifiedAt: "2025-03-04T10:00:00Z", sampled: false, checks: [ok, bad, { ...bad, name: "Other" }] };
    const newer = { backupId: "b", ok: true, verifiedAt: "2025-03-05T10:00:00Z", sampled: false, checks: [ok] };
    expect(firstFailure(older)).toBe(bad);
    expect(firstFailure(newer)).toBeNull();
    expect(latestVerification(older, newer)).toBe(newer);
    expect(latestVerification(newer, older)).toBe(newer);
    expect(latestVerification(null, older)).toBe(older);
    expect(latestVerification(null, null)).toBeNull();
  });
});
