import { describe, expect, it } from "vitest";
import type { RestorePreview } from "./bindings/RestorePreview";
import {
  findEnvironment,
  isConfirmed,
  leftDestinationAlone,
  missingAtDestination,
  overwriteSentence,
  partsOf,
  recreatedSentence,
} from "./restores";
import { environment, record, restoreJob, tree } from "./testing/fixtures";

const preview: RestorePreview = {
  applicationName: "Shop",
  environmentName: "staging",
  sameEnvironment: false,
  requiresTypedConfirmation: true,
  database: "shop_db on localhost:5432",
  mediaDir: "/srv/media",
};

describe("restore helpers", () => {
  it("offers the parts the backup holds", () => {
    expect(partsOf(record())).toEqual({ database: true, media: true });
    const mediaOnly = record();
    mediaOnly.manifest = { ...mediaOnly.manifest, database: null };
    expect(partsOf(mediaOnly)).toEqual({ database: false, media: true });
  });

  it("finds an environment with its application", () => {
    expect(findEnvironment(tree, "e2")?.env.name).toBe("staging");
    expect(findEnvironment(tree, "e2")?.app.name).toBe("Shop");
    expect(findEnvironment(tree, "gone")).toBeNull();
  });

  it("says plainly what will be overwritten", () => {
    expect(overwriteSentence(preview, { database: true, media: true })).toBe(
      "The database shop_db on localhost:5432 and the media directory /srv/media of Shop / staging will be overwritten.",
    );
    expect(overwriteSentence(preview, { database: false, media: true })).toBe(
      "The media directory /srv/media of Shop / staging will be overwritten.",
    );
    expect(overwriteSentence({ ...preview, database: null }, { database: true, media: false })).toBeNull();
  });

  it("tells which chosen parts the destination cannot take", () => {
    expect(missingAtDestination(environment, { database: true, media: true })).toEqual({});
    expect(missingAtDestination({ ...environment, connection: null, mediaDir: null }, { database: true, media: false })).toEqual({
      database: "production has no database connection to restore into.",
    });
    expect(missingAtDestination({ ...environment, mediaDir: null }, { database: true, media: true })).toEqual({
      media: "production has no media directory or bucket to restore into.",
    });
  });

  it("wants the destination's name typed exactly when the preview asks for it", () => {
    expect(isConfirmed(preview, "")).toBe(false);
    expect(isConfirmed(preview, "Staging")).toBe(false);
    expect(isConfirmed(preview, "stag")).toBe(false);
    expect(isConfirmed(preview, " staging ")).toBe(true);
    expect(isConfirmed({ ...preview, requiresTypedConfirmation: false }, "")).toBe(true);
  });

  it("knows a restore stopped before its point of no return changed nothing", () => {
    const failed = { status: "failed" as const, error: { code: "pg_restore_failed" as const, field: null, message: "boom" } };
    expect(leftDestinationAlone(restoreJob({ ...failed, phase: "restoring" }))).toBe(true);
    expect(leftDestinationAlone(restoreJob({ ...failed, phase: "safety-backup" }))).toBe(true);
    expect(leftDestinationAlone(restoreJob({ status: "cancelled", phase: "restoring" }))).toBe(true);
    expect(leftDestinationAlone(restoreJob({ ...failed, phase: "committing" }))).toBe(false);
    expect(leftDestinationAlone(restoreJob({ ...failed, phase: "checking-restored" }))).toBe(false);
    expect(leftDestinationAlone(restoreJob({ status: "succeeded", phase: "checking-restored" }))).toBe(false);
  });

  it("counts what a database restore recreates, in words", () => {
    const plan = (recreated: { kind: string; count: number }[]) => ({
      database: "shop",
      role: "shop",
      recreated,
      kept: [],
      needsAdmin: [],
    });
    expect(recreatedSentence(plan([]))).toBeNull();
    expect(recreatedSentence(plan([{ kind: "table", count: 1 }]))).toBe("1 table");
    expect(
      recreatedSentence(
        plan([
          { kind: "index", count: 2 },
          { kind: "sequence", count: 1 },
          { kind: "table", count: 3 },
        ]),
      ),
    ).toBe("2 indexes, 1 sequence and 3 tables");
  });
});
