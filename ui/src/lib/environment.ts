import type { PgConnection } from "./bindings/PgConnection";

/** "user@host:5432/db" or null. */
export function connectionSummary(c: PgConnection | null): string | null {
  if (!c) return null;
  return `${c.user}@${c.host}:${c.port}/${c.database}`;
}
