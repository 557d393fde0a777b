//! The scheduler driven by a clock the test controls (no real waiting), starting real backups
//! against the real PostgreSQL server and keyring. Schedules are evaluated in UTC here; the
//! daylight-saving cases are unit tests of `schedule`.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use common::fixture::{fixture, wait_finished, Fixture, Target};
use lifeboat_core::format::manifest::BackupKind;
use lifeboat_core::{
    BackupSchedule, Clock, EnvironmentInput, Job, JobRequest, JobStatus, Recurrence,
};
use tokio::sync::watch;

/// A clock that moves only when the test says so.
struct ManualClock(watch::Sender<DateTime<Utc>>);

impl ManualClock {
    fn new(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(watch::channel(at).0))
    }

    fn set(&self, at: DateTime<Utc>) {
        self.0.send_replace(at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.borrow()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let mut now = self.0.subscribe();
        Box::pin(async move {
            let _ = now.wait_for(|now| *now >= t).await;
        })
    }
}

fn hourly(database: bool, media: bool) -> BackupSchedule {
    BackupSchedule {
        recurrence: Recurrence::EveryHours { hours: 1 },
        database,
        media,
    }
}

fn next_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap() + Duration::hours(1)
}

async fn scheduled_jobs(f: &Fixture, env_id: &str) -> Vec<Job> {
    let jobs = f.lb.jobs_of(env_id).await.unwrap();
    jobs.into_iter()
        .filter(|j| matches!(&j.request, JobRequest::Backup(r) if r.kind == BackupKind::Scheduled))
        .collect()
}

#[tokio::test]
async fn backs_up_at_each_slot_once_and_catches_up_once_after_downtime() {
    let f = fixture(Target::Local).await;
    f.lb.set_schedule(&f.env_id, Some(hourly(true, true)))
        .await
        .unwrap();
    let start = Utc::now();
    let clock = ManualClock::new(start);
    let scheduler = f.lb.scheduler_with(clock.clone(), Utc);

    // Slots before the schedule existed are not missed: nothing now, look again next hour.
    let wake = scheduler.tick(start).await.unwrap();
    assert_eq!(wake, next_hour(start));
    assert!(scheduled_jobs(&f, &f.env_id).await.is_empty());

    scheduler.tick(wake).await.unwrap();
    scheduler.tick(wake + Duration::minutes(1)).await.unwrap();
    let jobs = scheduled_jobs(&f, &f.env_id).await;
    assert_eq!(jobs.len(), 1, "one backup per slot");
    let done = wait_finished(&f.lb, &jobs[0]).await;
    assert_eq!(done.status, JobStatus::Succeeded);
    let backups = f.lb.catalog().backups_of(&f.env_id).await.unwrap();
    assert_eq!(backups[0].manifest.kind, BackupKind::Scheduled);

    // Lifeboat was off for five slots: the next start runs one backup, not five.
    let restarted = f.lb.scheduler_with(clock.clone(), Utc);
    let later = wake + Duration::hours(5) + Duration::minutes(20);
    let next = restarted.tick(later).await.unwrap();
    assert_eq!(next, next_hour(later));
    restarted.tick(later + Duration::minutes(1)).await.unwrap();
    let jobs = scheduled_jobs(&f, &f.env_id).await;
    assert_eq!(jobs.len(), 2, "exactly one catch-up backup");
    wait_finished(&f.lb, &jobs[0]).await;
}

#[tokio::test]
async fn schedule_edits_take_effect_at_the_next_look() {
    let f = fixture(Target::Local).await;
    let now = Utc::now();
    let scheduler = f.lb.scheduler_with(ManualClock::new(now), Utc);
    assert_eq!(
        scheduler.tick(now).await.unwrap(),
        now + Duration::hours(24)
    );

    f.lb.set_schedule(&f.env_id, Some(hourly(true, false)))
        .await
        .unwrap();
    assert_eq!(scheduler.tick(now).await.unwrap(), next_hour(now));

    let in_ten = now + Duration::minutes(10);
    let weekly = BackupSchedule {
        recurrence: Recurrence::Cron {
            expression: in_ten.format("%M %H * * *").to_string(),
        },
        database: true,
        media: false,
    };
    f.lb.set_schedule(&f.env_id, Some(weekly)).await.unwrap();
    let wake = scheduler.tick(now).await.unwrap();
    assert_eq!(wake, in_ten.duration_trunc(Duration::minutes(1)).unwrap());

    f.lb.set_schedule(&f.env_id, None).await.unwrap();
    assert_eq!(
        scheduler.tick(now).await.unwrap(),
        now + Duration::hours(24)
    );
}

#[tokio::test]
async fn a_scheduled_backup_that_cannot_start_is_recorded_failed_and_notified() {
    let f = fixture(Target::Local).await;
    let app = f.lb.application_named("shop").await.unwrap();
    let staging =
        f.lb.create_environment(&EnvironmentInput {
            application_id: app.id,
            name: "staging".into(),
            connection: None,
            media_dir: None,
            target_id: None,
        })
        .await
        .unwrap();
    f.lb.set_schedule(&staging.id, Some(hourly(true, false)))
        .await
        .unwrap();
    let scheduler = f.lb.scheduler_with(ManualClock::new(Utc::now()), Utc);

    scheduler.tick(next_hour(Utc::now())).await.unwrap();
    let jobs = scheduled_jobs(&f, &staging.id).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, JobStatus::Failed);
    let notice = f.lb.notice_for(&jobs[0]).await.expect("a notification");
    assert_eq!(notice.title, "Scheduled backup of shop / staging failed");
    assert_eq!(notice.body, jobs[0].error.as_ref().unwrap().message);

    // The overview shows the failed attempt until a backup succeeds again.
    let failed = |statuses: Vec<lifeboat_core::EnvironmentStatus>, id: &str| {
        statuses
            .into_iter()
            .find(|s| s.environment_id == id)
            .unwrap()
            .failed_attempt
    };
    let statuses = f.lb.environment_statuses().await.unwrap();
    let attempt = failed(statuses, &staging.id).expect("the failure is shown");
    assert_eq!(
        (attempt.job_id.as_str(), attempt.message.as_str()),
        (jobs[0].id.as_str(), notice.body.as_str())
    );
    f.lb.change_environment(
        &staging.id,
        &lifeboat_core::EnvironmentChange::Connection(Some(common::pg_input(&f.database))),
    )
    .await
    .unwrap();
    let mut request = common::fixture::both(&staging.id, "");
    request.media = false;
    f.lb.backup(&request).await.unwrap();
    assert_eq!(
        failed(f.lb.environment_statuses().await.unwrap(), &staging.id),
        None
    );
}

#[tokio::test]
async fn the_running_scheduler_sleeps_until_the_slot_then_backs_up() {
    let f = fixture(Target::Local).await;
    f.lb.set_schedule(&f.env_id, Some(hourly(true, false)))
        .await
        .unwrap();
    let now = Utc::now();
    let clock = ManualClock::new(now);
    let mut events = f.lb.subscribe();
    let running = tokio::spawn(f.lb.scheduler_with(clock.clone(), Utc).run());

    clock.set(next_hour(now));
    let started = loop {
        let job = events.recv().await.unwrap();
        if matches!(&job.request, JobRequest::Backup(r) if r.kind == BackupKind::Scheduled) {
            break job;
        }
    };
    assert_eq!(started.environment_id, f.env_id);
    assert_eq!(
        wait_finished(&f.lb, &started).await.status,
        JobStatus::Succeeded
    );
    running.abort();
}

#[tokio::test]
async fn a_drill_schedule_runs_drills_with_the_same_scheduler() {
    let f = fixture(Target::Local).await;
    f.lb.backup(&common::fixture::both(&f.env_id, ""))
        .await
        .unwrap();
    f.lb.set_drill_schedule(&f.env_id, Some(Recurrence::EveryHours { hours: 1 }))
        .await
        .unwrap();
    let now = Utc::now();
    let scheduler = f.lb.scheduler_with(ManualClock::new(now), Utc);
    assert_eq!(scheduler.tick(now).await.unwrap(), next_hour(now));

    scheduler.tick(next_hour(now)).await.unwrap();
    let drills: Vec<Job> =
        f.lb.catalog()
            .jobs_of(&f.env_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| matches!(j.request, JobRequest::Drill(_)))
            .collect();
    assert_eq!(drills.len(), 1);
    assert_eq!(
        wait_finished(&f.lb, &drills[0]).await.status,
        JobStatus::Succeeded
    );
    assert_eq!(f.lb.drills(&f.env_id).await.unwrap().len(), 1);
}
