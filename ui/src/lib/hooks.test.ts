import { describe, expect, it } from "vitest";
import { hookTrouble } from "./hooks";
import { job } from "./testing/fixtures";

const run = { command: "./manage.py maintenance_mode off", output: "", durationMs: 5, timedOut: false };

describe("hookTrouble", () => {
  it("is nothing when every hook succeeded", () => {
    expect(hookTrouble(job({ hooks: [{ ...run, phase: "after-backup", exitCode: 0 }] }))).toBeNull();
  });

  it("names the first hook that failed, why, and what it printed", () => {
    const trouble = hookTrouble(
      job({
        hooks: [
          { ...run, phase: "before-backup", exitCode: 0 },
          { ...run, phase: "after-backup", exitCode: 2, output: "CommandError: no such setting\n" },
        ],
      }),
    );
    expect(trouble).toEqual({ message: "The after-backup hook exited with 2.", output: "CommandError: no such setting\n" });
    expect(hookTrouble(job({ hooks: [{ ...run, phase: "before-restore", exitCode: null, timedOut: true }] }))?.message).toBe(
      "The before-restore hook was stopped at its timeout.",
    );
  });
});
