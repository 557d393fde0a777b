// The schedule editor's draft (every recurrence's fields at once, so switching kinds keeps what
// was typed) and the schedule it becomes.
import type { BackupSchedule } from "./bindings/BackupSchedule";
import type { Recurrence } from "./bindings/Recurrence";
import type { Weekday } from "./bindings/Weekday";

export type RecurrenceType = Recurrence["type"];

export interface ScheduleDraft {
  type: RecurrenceType;
  time: string;
  hours: string;
  weekday: Weekday;
  expression: string;
  database: boolean;
  media: boolean;
}

export const RECURRENCE_LABELS: Record<RecurrenceType, string> = {
  daily: "Every day",
  everyHours: "Every few hours",
  weekly: "Every week",
  cron: "Custom (cron)",
};

export const WEEKDAY_NAMES: Record<Weekday, string> = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

/** The draft for a saved schedule, or the suggested one (daily at 03:00, all there is). */
export function scheduleDraft(saved: BackupSchedule | null, available: { database: boolean; media: boolean }): ScheduleDraft {
  const draft: ScheduleDraft = {
    type: "daily",
    time: "03:00",
    hours: "6",
    weekday: "sun",
    expression: "0 3 * * *",
    database: available.database,
    media: available.media,
  };
  if (!saved) return draft;
  const r = saved.recurrence;
  return {
    ...draft,
    ...r,
    hours: r.type === "everyHours" ? String(r.hours) : draft.hours,
    database: saved.database,
    media: saved.media,
  };
}

export function toSchedule(d: ScheduleDraft): BackupSchedule {
  const recurrence: Recurrence =
    d.type === "daily"
      ? { type: "daily", time: d.time.trim() }
      : d.type === "everyHours"
        ? { type: "everyHours", hours: Number(d.hours.trim()) || 0 }
        : d.type === "weekly"
          ? { type: "weekly", weekday: d.weekday, time: d.time.trim() }
          : { type: "cron", expression: d.expression.trim() };
  return { recurrence, database: d.database, media: d.media };
}

/** "Every day at 03:00", "Every 6 hours", "Every Monday at 04:00", "Cron 0 3 * * 1-5". */
export function describeSchedule(schedule: BackupSchedule): string {
  const r = schedule.recurrence;
  switch (r.type) {
    case "daily":
      return `Every day at ${r.time}`;
    case "everyHours":
      return r.hours === 1 ? "Every hour" : `Every ${r.hours} hours`;
    case "weekly":
      return `Every ${WEEKDAY_NAMES[r.weekday]} at ${r.time}`;
    case "cron":
      return `Cron ${r.expression}`;
  }
}

export function sameSchedule(a: BackupSchedule | null, b: BackupSchedule | null): boolean {
  return JSON.stringify(a && toSchedule(scheduleDraft(a, a))) === JSON.stringify(b && toSchedule(scheduleDraft(b, b)));
}
