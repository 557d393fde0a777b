import { describe, expect, it } from "vitest";
import type { RetentionDecision } from "./bindings/RetentionDecision";
import { parsePolicy, policyFields, previewTotals, samePolicy } from "./retention";

const defaults = { onDemandKeepRecent: 3, onDemandMaxAgeDays: 30, daily: 7, weekly: 4, monthly: 12 };

describe("parsePolicy", () => {
  it("reads back the fields made from a policy", () => {
    expect(parsePolicy(policyFields(defaults))).toEqual({ policy: defaults });
  });

  it("names every field that is not a whole number in range", () => {
    const result = parsePolicy({ ...policyFields(defaults), onDemandKeepRecent: "0", daily: "2.5", monthly: "" });
    expect(result).toEqual({
      errors: {
        onDemandKeepRecent: "Enter a whole number from 1 to 10000.",
        daily: "Enter a whole number from 0 to 10000.",
        monthly: "Enter a whole number from 0 to 10000.",
      },
    });
  });
});

describe("samePolicy", () => {
  it("compares every number", () => {
    expect(samePolicy(defaults, { ...defaults })).toBe(true);
    expect(samePolicy(defaults, { ...defaults, weekly: 5 })).toBe(false);
  });
});

describe("previewTotals", () => {
  it("counts kept and deleted backups and the bytes freed", () => {
    const decision = (id: string, del: boolean, bytes: number): RetentionDecision => ({
      backupId: id,
      createdAt: "2026-11-01T00:00:00Z",
      kind: "on-demand",
      pinned: false,
      storedBytes: bytes,
      label: null,
      delete: del,
    });
    expect(previewTotals([decision("a", true, 10), decision("b", false, 5), decision("c", true, 7)])).toEqual({
      kept: 1,
      deleted: 2,
      freedBytes: 17,
    });
  });
});
