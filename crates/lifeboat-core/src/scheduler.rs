//! The scheduler: starts each environment's scheduled backups on time, runs one catch-up
//! backup per environment after downtime (not one per missed slot), and applies retention
//! once a day (every backup also applies it as it ends). Time comes from a [`Clock`], so tests
//! drive it without waiting.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use ts_rs::TS;

use crate::backup::{BackupKind, BackupRequest};
use crate::catalog::new_id;
use crate::environments::Environment;
use crate::error::{ErrorCode, Result};
use crate::jobs::JobRequest;
use crate::lifeboat::Lifeboat;
use crate::schedule::{BackupSchedule, StoredSchedule};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Resolves once this clock has reached `t`.
    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// The wall clock. Sleeps in steps of at most a minute so that a machine waking from suspend
/// (when monotonic timers stood still) is on time within a minute.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            while let Ok(left) = (t - Utc::now()).to_std() {
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(left.min(Duration::from_secs(60))).await;
            }
        })
    }
}

const RETRY_BUSY: chrono::Duration = chrono::Duration::minutes(1);
const HOUSEKEEPING: chrono::Duration = chrono::Duration::hours(24);

pub struct Scheduler<Tz: TimeZone> {
    lifeboat: Lifeboat,
    clock: Arc<dyn Clock>,
    zone: Tz,
    /// Per environment, the latest slot a backup was started (or recorded failed) for.
    handled: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Per environment that was busy at its slot, when to try again.
    busy_until: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Scheduler<chrono::Local> {
    /// The scheduler of a running app: the wall clock and the user's time zone.
    pub fn on_this_machine(lifeboat: Lifeboat) -> Self {
        Self::new(lifeboat, Arc::new(SystemClock), chrono::Local)
    }
}

impl<Tz> Scheduler<Tz>
where
    Tz: TimeZone + Send + Sync + 'static,
    Tz::Offset: Send + Sync,
{
    /// A scheduler evaluating schedules in `zone` (the user's: `chrono::Local`).
    pub fn new(lifeboat: Lifeboat, clock: Arc<dyn Clock>, zone: Tz) -> Self {
        Self {
            lifeboat,
            clock,
            zone,
            handled: Mutex::default(),
            busy_until: Mutex::default(),
        }
    }

    /// Runs until the process ends.
    pub async fn run(self) {
        let mut next_housekeeping = self.clock.now();
        loop {
            let changed = self.lifeboat.schedule_changes().notified();
            tokio::pin!(changed);
            // Registered before looking, so an edit made while this tick runs still wakes it.
            changed.as_mut().enable();
            let now = self.clock.now();
            let mut wake = match self.tick(now).await {
                Ok(wake) => wake,
                Err(e) => {
                    tracing::warn!("the scheduler could not read the catalog: {}", e.message);
                    now + RETRY_BUSY
                }
            };
            if now >= next_housekeeping {
                self.lifeboat.prune_everything().await;
                next_housekeeping = now + HOUSEKEEPING;
            }
            wake = wake.min(next_housekeeping);
            tokio::select! {
                () = self.clock.sleep_until(wake) => {}
                () = &mut changed => {}
            }
        }
    }

    /// Starts every scheduled backup due at `now`; returns when to look again.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let local_now = now.with_timezone(&self.zone);
        let mut wake = now + HOUSEKEEPING;
        for env in self.lifeboat.catalog().all_environments().await? {
            let Some(stored) = &env.schedule else {
                continue;
            };
            if let Some(slot) = stored.schedule.latest_at_or_before(&local_now) {
                let slot = slot.with_timezone(&Utc);
                if slot >= stored.since && self.is_due(&env.id, slot, now).await? {
                    self.start(&env, &stored.schedule, slot, now).await;
                }
            }
            if let Ok(next) = stored.schedule.next_after(&local_now) {
                wake = wake.min(next.with_timezone(&Utc));
            }
            if let Some(retry) = self.busy_until.lock().unwrap().get(&env.id) {
                wake = wake.min(*retry);
            }
        }
        Ok(wake)
    }

    async fn is_due(&self, env_id: &str, slot: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool> {
        if self
            .busy_until
            .lock()
            .unwrap()
            .get(env_id)
            .is_some_and(|retry| now < *retry)
        {
            return Ok(false);
        }
        let remembered = self.handled.lock().unwrap().get(env_id).copied();
        if let Some(handled) = remembered {
            return Ok(handled < slot);
        }
        // First look since start: a run recorded in the catalog at or after the slot covers it.
        let last_run = self
            .lifeboat
            .catalog()
            .latest_scheduled_run_at(env_id)
            .await?
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok());
        Ok(last_run.is_none_or(|t| t < slot))
    }

    async fn start(
        &self,
        env: &Environment,
        schedule: &BackupSchedule,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let request = BackupRequest {
            environment_id: env.id.clone(),
            database: schedule.database,
            media: schedule.media,
            note: None,
            kind: BackupKind::Scheduled,
        };
        match self.lifeboat.spawn_backup(&request).await {
            Ok((job, running)) => {
                tracing::info!(
                    job_id = job.id,
                    environment_id = env.id,
                    "scheduled backup started"
                );
                self.mark_handled(&env.id, slot);
                // It runs to its end (retention included) on its own task.
                drop(running);
            }
            Err(e) if e.code == ErrorCode::AlreadyRunning => {
                self.busy_until
                    .lock()
                    .unwrap()
                    .insert(env.id.clone(), now + RETRY_BUSY);
            }
            Err(e) => {
                // It could not even start (no connection saved, say): recorded as a failed run,
                // so it is listed and notified like any other failure.
                self.mark_handled(&env.id, slot);
                self.lifeboat.record_failed_run(&request, e).await;
            }
        }
    }

    fn mark_handled(&self, env_id: &str, slot: DateTime<Utc>) {
        self.busy_until.lock().unwrap().remove(env_id);
        self.handled.lock().unwrap().insert(env_id.to_owned(), slot);
    }
}

/// How an environment's backups keep up with its schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum Punctuality {
    /// No schedule: nothing to be late for.
    Unscheduled,
    OnTime,
    /// One scheduled run has passed without a backup.
    Late,
    /// More than one.
    Overdue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct EnvironmentStatus {
    pub application_id: String,
    pub application_name: String,
    pub environment_id: String,
    pub environment_name: String,
    pub schedule: Option<StoredSchedule>,
    pub next_run: Option<String>,
    pub last_backup_at: Option<String>,
    pub punctuality: Punctuality,
    /// The newest restore drill, to show when the environment was last proven restorable.
    pub last_drill: Option<crate::drill::DrillReport>,
}

/// The next `count` runs of a schedule from now, in the user's time zone, as RFC 3339 UTC.
pub fn upcoming_runs(schedule: &BackupSchedule, count: usize) -> Result<Vec<String>> {
    let mut runs = Vec::with_capacity(count);
    let mut after = chrono::Local::now();
    for _ in 0..count {
        after = schedule.next_after(&after)?;
        runs.push(after.with_timezone(&Utc).to_rfc3339());
    }
    Ok(runs)
}

/// Scheduled runs since the last backup (or since the schedule was set) decide punctuality.
pub fn punctuality<Tz>(
    schedule: Option<&StoredSchedule>,
    last_backup: Option<DateTime<Utc>>,
    now: &DateTime<Tz>,
) -> Punctuality
where
    Tz: TimeZone,
    Tz::Offset: Send + Sync,
{
    let Some(stored) = schedule else {
        return Punctuality::Unscheduled;
    };
    let since = last_backup.map_or(stored.since, |t| t.max(stored.since));
    match stored
        .schedule
        .runs_between(&since.with_timezone(&now.timezone()), now, 2)
    {
        0 => Punctuality::OnTime,
        1 => Punctuality::Late,
        _ => Punctuality::Overdue,
    }
}

impl Lifeboat {
    /// Sets (or, with `None`, removes) an environment's backup schedule; a running scheduler
    /// takes it up at once. Slots before now never count as missed.
    pub async fn set_schedule(
        &self,
        environment_id: &str,
        schedule: Option<BackupSchedule>,
    ) -> Result<Environment> {
        if let Some(schedule) = &schedule {
            schedule.validate()?;
        }
        let stored = schedule.map(|schedule| StoredSchedule {
            schedule,
            since: Utc::now(),
        });
        let env = self
            .catalog()
            .set_schedule(environment_id, stored.as_ref())
            .await?;
        self.schedule_changes().notify_waiters();
        Ok(env)
    }

    /// Every environment with its schedule, next run, last backup and punctuality.
    pub async fn environment_statuses(&self) -> Result<Vec<EnvironmentStatus>> {
        let now = chrono::Local::now();
        let mut statuses = Vec::new();
        for app in self.list_applications().await? {
            for env in app.environments {
                let last = self.catalog().latest_backup_at(&env.id).await?;
                let last_at = last
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc));
                statuses.push(EnvironmentStatus {
                    application_id: app.id.clone(),
                    application_name: app.name.clone(),
                    environment_id: env.id.clone(),
                    environment_name: env.name.clone(),
                    next_run: env
                        .schedule
                        .as_ref()
                        .and_then(|s| upcoming_runs(&s.schedule, 1).ok()?.pop()),
                    punctuality: punctuality(env.schedule.as_ref(), last_at, &now),
                    schedule: env.schedule,
                    last_backup_at: last,
                    last_drill: self.catalog().drills_of(&env.id).await?.into_iter().next(),
                });
            }
        }
        Ok(statuses)
    }

    /// Retention for every environment (the scheduler's daily housekeeping); failures are
    /// logged, one environment's never stops the others'.
    pub async fn prune_everything(&self) {
        let environments = match self.catalog().all_environments().await {
            Ok(environments) => environments,
            Err(e) => {
                tracing::warn!("daily retention could not list environments: {}", e.message);
                return;
            }
        };
        for env in environments {
            if let Err(e) = self.prune(&env.id, false).await {
                tracing::warn!(env_id = env.id, "daily retention failed: {}", e.message);
            }
        }
    }

    /// Records a scheduled backup that could not start as a failed backup job.
    async fn record_failed_run(&self, request: &BackupRequest, error: crate::Error) {
        let job_id = new_id();
        match self
            .open_job(
                &job_id,
                &request.environment_id,
                &JobRequest::Backup(request.clone()),
            )
            .await
        {
            Ok((_, lock)) => {
                self.close_job(&job_id, &Err::<(), _>(error), |_| None)
                    .await;
                drop(lock);
            }
            Err(e) => tracing::error!("could not record a failed scheduled backup: {}", e.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Recurrence;

    fn daily_at_3(since: &str) -> StoredSchedule {
        StoredSchedule {
            schedule: BackupSchedule {
                recurrence: Recurrence::Daily {
                    time: "03:00".into(),
                },
                database: true,
                media: false,
            },
            since: since.parse().unwrap(),
        }
    }

    fn at(t: &str) -> DateTime<Utc> {
        t.parse().unwrap()
    }

    #[test]
    fn punctuality_counts_the_runs_missed_since_the_last_backup() {
        let s = daily_at_3("2026-11-01T00:00:00Z");
        let now = at("2026-11-10T12:00:00Z");
        assert_eq!(punctuality(None, None, &now), Punctuality::Unscheduled);
        let last = |t| Some(at(t));
        assert_eq!(
            punctuality(Some(&s), last("2026-11-10T03:00:05Z"), &now),
            Punctuality::OnTime
        );
        assert_eq!(
            punctuality(Some(&s), last("2026-11-09T03:00:05Z"), &now),
            Punctuality::Late
        );
        assert_eq!(
            punctuality(Some(&s), last("2026-11-05T03:00:05Z"), &now),
            Punctuality::Overdue
        );
        assert_eq!(punctuality(Some(&s), None, &now), Punctuality::Overdue);
    }

    #[test]
    fn a_new_schedule_is_not_late_for_runs_before_it_existed() {
        let s = daily_at_3("2026-11-10T11:00:00Z");
        assert_eq!(
            punctuality(Some(&s), None, &at("2026-11-10T12:00:00Z")),
            Punctuality::OnTime
        );
        assert_eq!(
            punctuality(Some(&s), None, &at("2026-11-11T04:00:00Z")),
            Punctuality::Late
        );
    }
}
