import type { Job } from "./bindings/Job";

/**
 * The first of a job's hooks that did not succeed, in words, with what it printed: the reason
 * a job stopped, or (after a success) a warning that something was not put back.
 */
export function hookTrouble(job: Job): { message: string; output: string } | null {
  const run = job.hooks.find((r) => r.exitCode !== 0);
  if (!run) return null;
  const why = run.timedOut
    ? "was stopped at its timeout"
    : run.exitCode === null
      ? "was stopped"
      : `exited with ${run.exitCode}`;
  return { message: `The ${run.phase} hook ${why}.`, output: run.output };
}
