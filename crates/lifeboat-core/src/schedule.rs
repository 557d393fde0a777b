//! Backup schedules: when an environment is backed up on its own, in the user's local time.
//! Every recurrence becomes a cron pattern evaluated by croner, which handles the calendar and
//! daylight-saving changes (a 02:30 that does not exist on the spring-forward day runs once, at
//! the first valid time after it; one that happens twice in autumn runs once).

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// Cron's day-of-week number (0 = Sunday).
    fn cron_number(self) -> u8 {
        match self {
            Self::Sun => 0,
            Self::Mon => 1,
            Self::Tue => 2,
            Self::Wed => 3,
            Self::Thu => 4,
            Self::Fri => 5,
            Self::Sat => 6,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[ts(export)]
pub enum Recurrence {
    /// Every day at `time` ("HH:MM", local time).
    Daily { time: String },
    /// At the top of every `hours`-th hour, counted from midnight.
    EveryHours { hours: u32 },
    /// Every week on `weekday` at `time`.
    Weekly { weekday: Weekday, time: String },
    /// A cron pattern (minute hour day-of-month month day-of-week), for anything else.
    Cron { expression: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupSchedule {
    pub recurrence: Recurrence,
    pub database: bool,
    pub media: bool,
}

impl BackupSchedule {
    pub fn validate(&self) -> Result<()> {
        if !self.database && !self.media {
            return Err(Error::validation(
                "what",
                "Choose what the scheduled backups include.",
            ));
        }
        self.recurrence.validate()
    }
}

impl Recurrence {
    pub fn validate(&self) -> Result<()> {
        self.cron().map(drop)
    }

    fn cron(&self) -> Result<Cron> {
        let pattern = match self {
            Recurrence::Daily { time } => {
                let (h, m) = parse_time(time)?;
                format!("{m} {h} * * *")
            }
            Recurrence::EveryHours { hours } => {
                if !(1..=24).contains(hours) {
                    return Err(Error::validation(
                        "hours",
                        "Enter a number of hours from 1 to 24.",
                    ));
                }
                if *hours == 24 {
                    "0 0 * * *".to_owned()
                } else {
                    format!("0 */{hours} * * *")
                }
            }
            Recurrence::Weekly { weekday, time } => {
                let (h, m) = parse_time(time)?;
                format!("{m} {h} * * {}", weekday.cron_number())
            }
            Recurrence::Cron { expression } => {
                if expression.split_whitespace().count() != 5 {
                    return Err(Error::validation(
                        "expression",
                        "A cron expression has five fields: minute hour day-of-month month day-of-week.",
                    ));
                }
                expression.trim().to_owned()
            }
        };
        Cron::from_str(&pattern).map_err(|e| {
            Error::validation(
                "expression",
                format!("“{pattern}” is not a valid schedule: {e}."),
            )
        })
    }

    /// The first run strictly after `after`, in the zone `after` is in.
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Result<DateTime<Tz>>
    where
        Tz::Offset: Send + Sync,
    {
        self.cron()?
            .find_next_occurrence(after, false)
            .map_err(|e| Error::validation("expression", format!("This schedule never runs: {e}.")))
    }

    /// The latest run at or before `at`, if there is one within the past year.
    pub fn latest_at_or_before<Tz: TimeZone>(&self, at: &DateTime<Tz>) -> Option<DateTime<Tz>>
    where
        Tz::Offset: Send + Sync,
    {
        let latest = self.cron().ok()?.find_previous_occurrence(at, true).ok()?;
        (at.clone() - latest.clone() <= chrono::Duration::days(366)).then_some(latest)
    }

    /// How many runs fell in (`since`, `until`], counting no further than `cap`.
    pub fn runs_between<Tz: TimeZone>(
        &self,
        since: &DateTime<Tz>,
        until: &DateTime<Tz>,
        cap: usize,
    ) -> usize
    where
        Tz::Offset: Send + Sync,
    {
        let Ok(cron) = self.cron() else { return 0 };
        cron.iter_after(since.clone())
            .take_while(|t| t <= until)
            .take(cap)
            .count()
    }
}

fn parse_time(time: &str) -> Result<(u32, u32)> {
    let invalid = || Error::validation("time", "Enter a time as HH:MM, e.g. 03:30.");
    let (h, m) = time.trim().split_once(':').ok_or_else(invalid)?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| invalid())?,
        m.parse().map_err(|_| invalid())?,
    );
    if h > 23 || m > 59 {
        return Err(invalid());
    }
    Ok((h, m))
}

/// An environment's schedule as the catalog keeps it: the schedule and when it was set, so
/// slots before that never count as missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StoredSchedule {
    #[serde(flatten)]
    pub schedule: BackupSchedule,
    #[ts(type = "string")]
    pub since: DateTime<Utc>,
}

/// A restore-drill schedule as the catalog keeps it (drills restore everything the backup holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StoredRecurrence {
    pub recurrence: Recurrence,
    #[ts(type = "string")]
    pub since: DateTime<Utc>,
}

/// A schedule the scheduler runs and punctuality is measured against.
pub trait Slots {
    fn recurrence(&self) -> &Recurrence;
    /// When it was set: runs before that never count as missed.
    fn since(&self) -> DateTime<Utc>;
}

impl Slots for StoredSchedule {
    fn recurrence(&self) -> &Recurrence {
        &self.schedule.recurrence
    }

    fn since(&self) -> DateTime<Utc> {
        self.since
    }
}

impl Slots for StoredRecurrence {
    fn recurrence(&self) -> &Recurrence {
        &self.recurrence
    }

    fn since(&self) -> DateTime<Utc> {
        self.since
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn daily(time: &str) -> BackupSchedule {
        BackupSchedule {
            recurrence: Recurrence::Daily { time: time.into() },
            database: true,
            media: true,
        }
    }

    fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<chrono_tz::Tz> {
        Berlin.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn daily_runs_at_the_same_local_time_across_the_spring_change() {
        // 2026-03-29: clocks jump from 02:00 to 03:00 in Berlin.
        let s = daily("01:30");
        let before = s
            .recurrence
            .next_after(&berlin(2026, 3, 28, 12, 0))
            .unwrap();
        let after = s.recurrence.next_after(&before).unwrap();
        assert_eq!(before, berlin(2026, 3, 29, 1, 30));
        assert_eq!(after, berlin(2026, 3, 30, 1, 30));
        // Local time kept: only 23 hours apart that night.
        assert_eq!(
            (after.with_timezone(&Utc) - before.with_timezone(&Utc)).num_hours(),
            23
        );
        let over = s
            .recurrence
            .next_after(&berlin(2026, 3, 29, 12, 0))
            .unwrap();
        assert_eq!(over, berlin(2026, 3, 30, 1, 30));
    }

    #[test]
    fn a_time_the_spring_change_skips_runs_once_that_day() {
        let s = daily("02:30");
        let next = s
            .recurrence
            .next_after(&berlin(2026, 3, 28, 12, 0))
            .unwrap();
        assert_eq!(
            next.date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()
        );
        let following = s.recurrence.next_after(&next).unwrap();
        assert_eq!(following, berlin(2026, 3, 30, 2, 30));
    }

    #[test]
    fn a_time_the_autumn_change_repeats_runs_once() {
        // 2026-10-25: 03:00 goes back to 02:00, so 02:30 happens twice.
        let s = daily("02:30");
        let first = s
            .recurrence
            .next_after(&berlin(2026, 10, 24, 12, 0))
            .unwrap();
        let second = s.recurrence.next_after(&first).unwrap();
        assert_eq!(
            first.date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()
        );
        assert_eq!(second, berlin(2026, 10, 26, 2, 30));
    }

    #[test]
    fn every_recurrence_becomes_the_expected_runs() {
        let from = berlin(2026, 11, 18, 10, 15); // a Wednesday
        let every_6 = BackupSchedule {
            recurrence: Recurrence::EveryHours { hours: 6 },
            ..daily("00:00")
        };
        assert_eq!(
            every_6.recurrence.next_after(&from).unwrap(),
            berlin(2026, 11, 18, 12, 0)
        );
        let weekly = BackupSchedule {
            recurrence: Recurrence::Weekly {
                weekday: Weekday::Mon,
                time: "04:00".into(),
            },
            ..daily("00:00")
        };
        assert_eq!(
            weekly.recurrence.next_after(&from).unwrap(),
            berlin(2026, 11, 23, 4, 0)
        );
        let cron = BackupSchedule {
            recurrence: Recurrence::Cron {
                expression: "45 23 * * 1-5".into(),
            },
            ..daily("00:00")
        };
        assert_eq!(
            cron.recurrence.next_after(&from).unwrap(),
            berlin(2026, 11, 18, 23, 45)
        );
    }

    #[test]
    fn slots_are_counted_between_two_times() {
        let s = daily("03:00");
        let since = berlin(2026, 11, 1, 12, 0);
        assert_eq!(
            s.recurrence
                .runs_between(&since, &berlin(2026, 11, 2, 2, 0), 5),
            0
        );
        assert_eq!(
            s.recurrence
                .runs_between(&since, &berlin(2026, 11, 2, 3, 0), 5),
            1
        );
        assert_eq!(
            s.recurrence
                .runs_between(&since, &berlin(2026, 11, 9, 3, 0), 5),
            5
        );
        assert_eq!(
            s.recurrence.latest_at_or_before(&berlin(2026, 11, 9, 2, 0)),
            Some(berlin(2026, 11, 8, 3, 0))
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let bad = [
            (daily("25:00"), "time"),
            (daily("3pm"), "time"),
            (
                BackupSchedule {
                    recurrence: Recurrence::EveryHours { hours: 0 },
                    ..daily("00:00")
                },
                "hours",
            ),
            (
                BackupSchedule {
                    recurrence: Recurrence::Cron {
                        expression: "* * *".into(),
                    },
                    ..daily("00:00")
                },
                "expression",
            ),
            (
                BackupSchedule {
                    recurrence: Recurrence::Cron {
                        expression: "61 * * * *".into(),
                    },
                    ..daily("00:00")
                },
                "expression",
            ),
            (
                BackupSchedule {
                    database: false,
                    media: false,
                    ..daily("03:00")
                },
                "what",
            ),
        ];
        for (schedule, field) in bad {
            let e = schedule.validate().unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{schedule:?}");
        }
    }
}
