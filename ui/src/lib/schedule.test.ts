import { describe, expect, it } from "vitest";
import { describeSchedule, sameSchedule, scheduleDraft, toSchedule } from "./schedule";

const both = { database: true, media: true };

describe("schedule drafts", () => {
  it("suggests a daily 03:00 backup of everything there is", () => {
    expect(toSchedule(scheduleDraft(null, { database: true, media: false }))).toEqual({
      recurrence: { type: "daily", time: "03:00" },
      database: true,
      media: false,
    });
  });

  it("round-trips every kind of saved schedule", () => {
    const saved = [
      { recurrence: { type: "daily" as const, time: "01:30" }, ...both },
      { recurrence: { type: "everyHours" as const, hours: 4 }, ...both },
      { recurrence: { type: "weekly" as const, weekday: "mon" as const, time: "04:00" }, ...both },
      { recurrence: { type: "cron" as const, expression: "0 3 * * 1-5" }, database: true, media: false },
    ];
    for (const s of saved) expect(toSchedule(scheduleDraft(s, both))).toEqual(s);
  });

  it("keeps what was typed for other kinds when switching", () => {
    const draft = { ...scheduleDraft(null, both), time: "05:15" };
    expect(toSchedule({ ...draft, type: "weekly", weekday: "fri" }).recurrence).toEqual({
      type: "weekly",
      weekday: "fri",
      time: "05:15",
    });
  });

  it("compares schedules by what they do", () => {
    const a = { recurrence: { type: "daily" as const, time: "03:00" }, ...both };
    expect(sameSchedule(a, { ...a })).toBe(true);
    expect(sameSchedule(a, { ...a, media: false })).toBe(false);
    expect(sameSchedule(a, null)).toBe(false);
    expect(sameSchedule(null, null)).toBe(true);
  });
});

describe("describeSchedule", () => {
  it("says when backups run", () => {
    expect(describeSchedule({ recurrence: { type: "daily", time: "03:00" }, ...both })).toBe("Every day at 03:00");
    expect(describeSchedule({ recurrence: { type: "everyHours", hours: 1 }, ...both })).toBe("Every hour");
    expect(describeSchedule({ recurrence: { type: "everyHours", hours: 6 }, ...both })).toBe("Every 6 hours");
    expect(describeSchedule({ recurrence: { type: "weekly", weekday: "mon", time: "04:00" }, ...both })).toBe(
      "Every Monday at 04:00",
    );
  });
});
