// The database and media checkboxes every dialog offers (back up, restore, download): whether
// each part can be chosen, what it is, and why not when it cannot.
import type { BackupManifest } from "./bindings/BackupManifest";
import type { Environment } from "./bindings/Environment";
import { connectionSummary } from "./environment";
import { formatBytes, plural } from "./format";
import { mediaLocation } from "./media";

export type Part = { available: boolean; description?: string; hint: string };
export type Parts = { database: Part; media: Part };

/** The parts a backup holds. */
export function manifestParts(manifest: BackupManifest): Parts {
  return {
    database: {
      available: manifest.database !== null,
      description: manifest.database
        ? `PostgreSQL ${manifest.database.serverVersion} · ${formatBytes(manifest.database.artifact.plaintextBytes)}`
        : undefined,
      hint: "This backup holds no database.",
    },
    media: {
      available: manifest.media !== null,
      description: manifest.media
        ? `${plural(manifest.media.fileCount, "file")} · ${formatBytes(manifest.media.totalBytes)}`
        : undefined,
      hint: "This backup holds no media.",
    },
  };
}

/** The parts an environment can back up: what is set up so far. */
export function environmentParts(env: Environment): Parts {
  return {
    database: {
      available: env.connection !== null,
      description: connectionSummary(env.connection) ?? undefined,
      hint: "No database connection yet: set it up in the Database section.",
    },
    media: {
      available: mediaLocation(env) !== null,
      description: mediaLocation(env) ?? undefined,
      hint: "No media directory or bucket yet: choose it in the Media section.",
    },
  };
}
