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
use crate::context::Context;
use crate::drill::DrillRequest;
use crate::environments::Environment;
use crate::error::{ErrorCode, Result};
use crate::jobs::{JobRequest, JobStatus};
use crate::schedule::{BackupSchedule, Slots, StoredSchedule};

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
    lifeboat: Context,
    clock: Arc<dyn Clock>,
    zone: Tz,
    /// Per environment and kind of run, the latest slot a run was started (or recorded failed) for.
    handled: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Per environment and kind of run that was busy at its slot, when to try again.
    busy_until: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Scheduler<chrono::Local> {
    pub(crate) fn on_this_machine(lifeboat: Context) -> Self {
        Self::new(lifeboat, Arc::new(SystemClock), chrono::Local)
    }
}

impl<Tz> Scheduler<Tz>
where
    Tz: TimeZone + Send + Sync + 'static,
    Tz::Offset: Send + Sync,
{
    pub(crate) fn new(lifeboat: Context, clock: Arc<dyn Clock>, zone: Tz) -> Self {
        Self {
            lifeboat,
            clock,
            zone,
            handled: Mutex::default(),
            busy_until: Mutex::default(),
        }
    }

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

    pub async fn tick(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
        let local_now = now.with_timezone(&self.zone);
        let mut wake = now + HOUSEKEEPING;
        for env in self.lifeboat.catalog().all_environments().await? {
            let runs = [
                env.schedule
                    .as_ref()
                    .map(|s| (Run::Backup(&s.schedule), s as &(dyn Slots + Sync))),
                env.drill_schedule
                    .as_ref()
                    .map(|s| (Run::Drill, s as &(dyn Slots + Sync))),
            ];
            for (run, stored) in runs.into_iter().flatten() {
                let key = run.key(&env.id);
                let recurrence = stored.recurrence();
                if let Some(slot) = recurrence.latest_at_or_before(&local_now) {
                    let slot = slot.with_timezone(&Utc);
                    if slot >= stored.since() && self.is_due(&key, &env.id, run, slot, now).await? {
                        self.start(&env, run, &key, slot, now).await;
                    }
                }
                if let Ok(next) = recurrence.next_after(&local_now) {
                    wake = wake.min(next.with_timezone(&Utc));
                }
                if let Some(retry) = self.busy_until.lock().unwrap().get(&key) {
                    wake = wake.min(*retry);
                }
            }
        }
        Ok(wake)
    }

    async fn is_due(
        &self,
        key: &str,
        env_id: &str,
        run: Run<'_>,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if self
            .busy_until
            .lock()
            .unwrap()
            .get(key)
            .is_some_and(|retry| now < *retry)
        {
            return Ok(false);
        }
        let remembered = self.handled.lock().unwrap().get(key).copied();
        if let Some(handled) = remembered {
            return Ok(handled < slot);
        }
        // First look since start: a run recorded in the catalog at or after the slot covers it.
        let catalog = self.lifeboat.catalog();
        let last_run = match run {
            Run::Backup(_) => catalog.latest_scheduled_run_at(env_id).await?,
            Run::Drill => catalog.latest_drill_at(env_id).await?,
        };
        let last_run = last_run.and_then(|t| DateTime::parse_from_rfc3339(&t).ok());
        Ok(last_run.is_none_or(|t| t < slot))
    }

    async fn start(
        &self,
        env: &Environment,
        run: Run<'_>,
        key: &str,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let (request, started) = match run {
            Run::Backup(schedule) => {
                let request = BackupRequest {
                    environment_id: env.id.clone(),
                    database: schedule.database,
                    media: schedule.media,
                    note: None,
                    kind: BackupKind::Scheduled,
                    full_rescan: false,
                };
                // It runs to its end (retention included) on its own task.
                let started = self
                    .lifeboat
                    .spawn_backup(&request)
                    .await
                    .map(|(job, _)| job);
                (JobRequest::Backup(request), started)
            }
            Run::Drill => {
                let request = DrillRequest {
                    environment_id: env.id.clone(),
                    backup_id: None,
                };
                let started = self.lifeboat.start_drill(&request).await;
                (JobRequest::Drill(request), started)
            }
        };
        match started {
            Ok(job) => {
                tracing::info!(
                    job_id = job.id,
                    environment_id = env.id,
                    "scheduled {} started",
                    request.kind()
                );
                self.mark_handled(key, slot);
            }
            Err(e) if e.code == ErrorCode::AlreadyRunning => {
                self.busy_until
                    .lock()
                    .unwrap()
                    .insert(key.to_owned(), now + RETRY_BUSY);
            }
            Err(e) => {
                // It could not even start (no connection saved, no backup to drill): recorded
                // as a failed run, so it is listed and notified like any other failure.
                self.mark_handled(key, slot);
                self.lifeboat.record_failed_run(&env.id, &request, e).await;
            }
        }
    }

    fn mark_handled(&self, key: &str, slot: DateTime<Utc>) {
        self.busy_until.lock().unwrap().remove(key);
        self.handled.lock().unwrap().insert(key.to_owned(), slot);
    }
}

/// What a schedule starts.
#[derive(Clone, Copy)]
enum Run<'a> {
    Backup(&'a BackupSchedule),
    Drill,
}

impl Run<'_> {
    /// The scheduler's bookkeeping key: one per environment and kind of run.
    fn key(self, env_id: &str) -> String {
        match self {
            Self::Backup(_) => format!("backup:{env_id}"),
            Self::Drill => format!("drill:{env_id}"),
        }
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
    pub drill_schedule: Option<crate::schedule::StoredRecurrence>,
    pub next_run: Option<String>,
    pub last_backup_at: Option<String>,
    pub punctuality: Punctuality,
    /// The newest restore drill, to show when the environment was last proven restorable.
    pub last_drill: Option<crate::drill::DrillReport>,
    /// Whether drills keep up with the drill schedule.
    pub drill_punctuality: Punctuality,
    /// The newest backup attempt, when it failed (a crash that cut one off counts): the
    /// overview shows it in red until a backup succeeds again.
    pub failed_attempt: Option<FailedAttempt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FailedAttempt {
    pub job_id: String,
    pub at: String,
    pub message: String,
}

/// The next `count` runs of a schedule from now, in the user's time zone, as RFC 3339 UTC.
pub fn upcoming_runs(schedule: &BackupSchedule, count: usize) -> Result<Vec<String>> {
    let mut runs = Vec::with_capacity(count);
    let mut after = chrono::Local::now();
    for _ in 0..count {
        after = schedule.recurrence.next_after(&after)?;
        runs.push(after.with_timezone(&Utc).to_rfc3339());
    }
    Ok(runs)
}

/// Scheduled runs since the last run (or since the schedule was set) decide punctuality.
pub fn punctuality<S: Slots, Tz>(
    schedule: Option<&S>,
    last_run: Option<DateTime<Utc>>,
    now: &DateTime<Tz>,
) -> Punctuality
where
    Tz: TimeZone,
    Tz::Offset: Send + Sync,
{
    let Some(stored) = schedule else {
        return Punctuality::Unscheduled;
    };
    let since = last_run.map_or(stored.since(), |t| t.max(stored.since()));
    match stored
        .recurrence()
        .runs_between(&since.with_timezone(&now.timezone()), now, 2)
    {
        0 => Punctuality::OnTime,
        1 => Punctuality::Late,
        _ => Punctuality::Overdue,
    }
}

impl Context {
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

    pub async fn environment_statuses(&self) -> Result<Vec<EnvironmentStatus>> {
        let now = chrono::Local::now();
        let mut statuses = Vec::new();
        for app in self.list_applications().await? {
            for env in app.environments {
                let last = self.catalog().latest_backup_at(&env.id).await?;
                let last_drill = self.catalog().latest_drill(&env.id).await?;
                let failed_attempt = self
                    .catalog()
                    .latest_backup_job(&env.id)
                    .await?
                    .filter(|j| j.status == JobStatus::Failed)
                    .map(|j| FailedAttempt {
                        at: j.created_at,
                        message: j.error.map(|e| e.message).unwrap_or_default(),
                        job_id: j.id,
                    });
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
                    drill_punctuality: punctuality(
                        env.drill_schedule.as_ref(),
                        last_drill
                            .as_ref()
                            .and_then(|d| DateTime::parse_from_rfc3339(&d.started_at).ok())
                            .map(|t| t.with_timezone(&Utc)),
                        &now,
                    ),
                    drill_schedule: env.drill_schedule,
                    last_drill,
                    failed_attempt,
                });
            }
        }
        Ok(statuses)
    }

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

    /// Records a scheduled run that could not start as a failed job of its kind.
    async fn record_failed_run(
        &self,
        environment_id: &str,
        request: &JobRequest,
        error: crate::Error,
    ) {
        let job_id = new_id();
        match self.open_job(&job_id, environment_id, request).await {
            Ok((_, lock)) => {
                self.close_job(&job_id, Err(error)).await;
                drop(lock);
            }
            Err(e) => tracing::error!("could not record a failed scheduled run: {}", e.message),
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
        assert_eq!(
            punctuality(None::<&StoredSchedule>, None, &now),
            Punctuality::Unscheduled
        );
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
