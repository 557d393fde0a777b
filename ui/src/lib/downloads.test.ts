import { describe, expect, it } from "vitest";
import { downloadBytes, downloadFileNames, downloadRequestOf, fileName, isDownloadJob } from "./downloads";
import { downloadJob, job, MiB, record, restoreJob } from "./testing/fixtures";

describe("download helpers", () => {
  const manifest = record().manifest;

  it("counts the plaintext bytes of the chosen parts", () => {
    expect(downloadBytes(manifest, { database: true, media: true })).toBe(132 * MiB);
    expect(downloadBytes(manifest, { database: false, media: true })).toBe(12 * MiB);
    expect(downloadBytes({ ...manifest, media: null }, { database: true, media: true })).toBe(120 * MiB);
    expect(downloadBytes(manifest, { database: false, media: false })).toBe(0);
  });

  it("names the files as the core does, from the backup's UTC start", () => {
    expect(downloadFileNames(manifest, { database: true, media: true })).toEqual([
      "Shop-production-20250303T143000Z.dump",
      "Shop-production-20250303T143000Z-media.tar",
      "SHA256SUMS",
    ]);
    const withRoles = {
      ...manifest,
      globals: { artifact: manifest.database!.artifact, roles: 3 },
    };
    expect(downloadFileNames(withRoles, { database: true, media: false })).toEqual([
      "Shop-production-20250303T143000Z.dump",
      "Shop-production-20250303T143000Z-roles.sql",
      "SHA256SUMS",
    ]);
    const offset = { ...manifest, createdAt: "2025-03-03T15:30:00+01:00" };
    expect(downloadFileNames(offset, { database: false, media: true })).toEqual([
      "Shop-production-20250303T143000Z-media.tar",
      "SHA256SUMS",
    ]);
  });

  it("tells download jobs apart and asks for the same download again", () => {
    const download = downloadJob({ request: { database: false } });
    expect(isDownloadJob(download)).toBe(true);
    expect(isDownloadJob(job())).toBe(false);
    expect(isDownloadJob(restoreJob())).toBe(false);
    expect(downloadRequestOf(download)).toEqual({
      backupId: "20250303T143000Z-abcd1234",
      directory: "/home/me/Downloads",
      database: false,
      media: true,
    });
  });

  it("takes a file's name from its path", () => {
    expect(fileName("/home/me/Downloads/SHA256SUMS")).toBe("SHA256SUMS");
    expect(fileName("C:\\Users\\me\\Downloads\\shop.dump")).toBe("shop.dump");
  });
});
