import type { SyncReport } from "./bindings/SyncReport";
import { plural } from "./format";

/** What an import from storage did, as a toast's title and description. */
export function syncSummary(report: SyncReport): { title: string; description: string } {
  const title =
    report.imported.length === 0
      ? "No new backups found"
      : `Imported ${plural(report.imported.length, "backup")}`;
  const parts = [`${plural(report.alreadyKnown, "backup")} already listed.`];
  if (report.environmentsCreated.length > 0) {
    parts.push(
      `New ${report.environmentsCreated.length === 1 ? "environment" : "environments"}: ${report.environmentsCreated.join(", ")} (set a connection before restoring into them).`,
    );
  }
  if (report.quarantined.length > 0) {
    parts.push(
      `${plural(report.quarantined.length, "backup")} not trusted: ${report.quarantined.length === 1 ? "its manifest" : "their manifests"} could not be authenticated. Review below before trusting.`,
    );
  }
  const skipped = report.incomplete.length + report.unreadable.length;
  if (skipped > 0) parts.push(`${plural(skipped, "folder")} skipped (unfinished or unreadable).`);
  return { title, description: parts.join(" ") };
}
