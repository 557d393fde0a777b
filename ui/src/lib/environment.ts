import type { Environment } from "./bindings/Environment";
import type { EnvironmentInput } from "./bindings/EnvironmentInput";
import type { PgConnection } from "./bindings/PgConnection";
import type { PgConnectionInput } from "./bindings/PgConnectionInput";

/** The stored connection as an input that keeps the stored password (password: null). */
export function connectionToInput(c: PgConnection): PgConnectionInput {
  return {
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    sslMode: c.sslMode,
    password: null,
  };
}

/** The full update input for an environment as stored; callers override what they change. */
export function environmentToInput(env: Environment): EnvironmentInput {
  return {
    applicationId: env.applicationId,
    name: env.name,
    connection: env.connection ? connectionToInput(env.connection) : null,
    mediaDir: env.mediaDir,
    targetId: env.targetId,
  };
}

/** "user@host:5432/db" or null. */
export function connectionSummary(c: PgConnection | null): string | null {
  if (!c) return null;
  return `${c.user}@${c.host}:${c.port}/${c.database}`;
}
