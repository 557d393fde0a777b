import { describe, expect, it } from "vitest";
import { formatAge, formatBytes, formatCount, formatDateTime, formatDuration, formatRate, formatRemaining, plural } from "./format";

describe("formatBytes", () => {
  it("keeps small values in bytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1)).toBe("1 B");
    expect(formatBytes(1023)).toBe("1023 B");
  });

  it("uses 1024-based units with one decimal below 10", () => {
    expect(formatBytes(1024)).toBe("1.0 KiB");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(10 * 1024)).toBe("10 KiB");
    expect(formatBytes(7_600_000)).toBe("7.2 MiB");
    expect(formatBytes(5 * 1024 ** 3)).toBe("5.0 GiB");
    expect(formatBytes(2.5 * 1024 ** 4)).toBe("2.5 TiB");
  });

  it("carries to the next unit when rounding reaches 1024", () => {
    expect(formatBytes(1024 * 1024 - 1)).toBe("1.0 MiB");
  });

  it("handles invalid input", () => {
    expect(formatBytes(-1)).toBe("—");
    expect(formatBytes(Number.NaN)).toBe("—");
  });
});

describe("counts and durations", () => {
  it("formats counts with separators", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(plural(1, "file")).toBe("1 file");
    expect(plural(2400, "file")).toBe("2,400 files");
  });

  it("formats durations", () => {
    expect(formatDuration(842)).toBe("842 ms");
    expect(formatDuration(1530)).toBe("1.5 s");
    expect(formatDuration(125_000)).toBe("2 min 5 s");
    expect(formatDuration(120_000)).toBe("2 min");
    expect(formatDuration(3_780_000)).toBe("1 h 3 min");
    expect(formatDuration(-5)).toBe("—");
    expect(formatRemaining(22_200)).toBe("23 s");
    expect(formatRemaining(125_000)).toBe("2 min 5 s");
  });

  it("formats rates and keeps unparsable timestamps as they are", () => {
    expect(formatRate(12 * 1024 * 1024)).toBe("12 MiB/s");
    expect(formatDateTime("not a date")).toBe("not a date");
    expect(formatDateTime("2025-03-03T14:32:00Z")).toContain("2025");
  });
});

describe("formatAge", () => {
  const now = Date.parse("2026-11-22T12:00:00Z");
  it("rounds down to the largest fitting unit", () => {
    expect(formatAge("2026-11-22T11:59:30Z", now)).toBe("just now");
    expect(formatAge("2026-11-22T11:48:00Z", now)).toBe("12 min ago");
    expect(formatAge("2026-11-21T09:00:00Z", now)).toBe("27 h ago");
    expect(formatAge("2026-11-17T12:00:00Z", now)).toBe("5 days ago");
  });
});
