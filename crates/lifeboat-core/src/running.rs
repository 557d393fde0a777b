//! The life every job shares, written once: its lane claimed, its record opened (catalog row,
//! cross-process lock, first event), the work run with the lane's cancel token, live progress
//! and phases, and how it ended recorded before the lane is freed, whatever happened.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::catalog::new_id;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::hooks::{self, HookJob, HookPhase};
use crate::jobs::{Job, JobLock, JobOutcome, JobRequest, JobStatus, Lane, LaneLock};

/// A job about to start, as its operation describes it.
pub(crate) struct JobSpec<T> {
    pub environment_id: String,
    pub lane: Lane,
    pub request: JobRequest,
    /// How the finished job is recorded: what a success produced, or the error it ends with
    /// (a drill that ran but failed a check returns its report yet ends as failed).
    pub record: fn(&Result<T>) -> Result<Option<JobOutcome>>,
}

/// `record` for jobs whose success produced `T`, kept as the job's outcome.
pub(crate) fn produced<T: Clone>(
    outcome: &Result<T>,
    as_outcome: fn(T) -> JobOutcome,
) -> Result<Option<JobOutcome>> {
    outcome
        .as_ref()
        .map(|value| Some(as_outcome(value.clone())))
        .map_err(Clone::clone)
}

/// `record` for jobs whose success is their status alone.
pub(crate) fn nothing_produced<T>(outcome: &Result<T>) -> Result<Option<JobOutcome>> {
    outcome.as_ref().map(|_| None).map_err(Clone::clone)
}

/// A job's task, to await for its work's own result.
pub(crate) async fn finished<T>(running: JoinHandle<Result<T>>) -> Result<T> {
    running
        .await
        .map_err(|e| Error::new(ErrorCode::Internal, format!("A job's task failed: {e}")))?
}

const PROGRESS_EVERY: Duration = Duration::from_millis(500);

impl Context {
    /// Runs `work` between the environment's `before` and `after` hooks. A before-hook that
    /// fails (or times out, or is cancelled) stops the job before `work` starts; the after-hook
    /// runs whatever happened, and is never cancelled: it is what puts things back. Each run
    /// goes into the job's record.
    pub(crate) async fn with_hooks<T>(
        &self,
        job_id: &str,
        environment_id: &str,
        (before, after): (HookPhase, HookPhase),
        cancel: &CancellationToken,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let env = self.catalog().environment(environment_id).await?;
        let hooks = env.hooks.clone();
        if hooks.command(before).is_none() && hooks.command(after).is_none() {
            return work.await;
        }
        let app = self.catalog().application(&env.application_id).await?;
        let timeout = Duration::from_secs(hooks.timeout_seconds.into());
        let mut job = HookJob {
            application: &app.name,
            environment: &env.name,
            job_id,
            outcome: None,
        };
        let outcome = match hooks.command(before) {
            None => work.await,
            Some(command) => {
                self.set_phase(job_id, before.as_str(), 0, true).await?;
                let run = self
                    .run_hook(&env, before, command, timeout, &job, cancel)
                    .await?;
                self.catalog().record_hook_run(job_id, &run).await?;
                if cancel.is_cancelled() {
                    Err(Error::cancelled())
                } else if run.ok() {
                    work.await
                } else {
                    Err(hooks::failure(&run, timeout))
                }
            }
        };
        if let Some(command) = hooks.command(after) {
            job.outcome = Some(match &outcome {
                Ok(_) => "succeeded",
                Err(e) if e.code == ErrorCode::Cancelled => "cancelled",
                Err(_) => "failed",
            });
            // The job's phase stays where the work ended: it tells whether anything changed.
            let ran = self
                .run_hook(
                    &env,
                    after,
                    command,
                    timeout,
                    &job,
                    &CancellationToken::new(),
                )
                .await;
            match ran {
                Ok(run) => {
                    if !run.ok() {
                        tracing::warn!(job_id, "{}", hooks::failure(&run, timeout).message);
                    }
                    if let Err(e) = self.catalog().record_hook_run(job_id, &run).await {
                        tracing::warn!(job_id, "cannot record the after-hook: {}", e.message);
                    }
                }
                Err(e) => tracing::warn!(job_id, "{}", e.message),
            }
        }
        outcome
    }

    /// Runs one hook where the environment lives: on its server over SSH, or here.
    async fn run_hook(
        &self,
        env: &crate::model::setup::Environment,
        phase: HookPhase,
        command: &str,
        timeout: Duration,
        job: &HookJob<'_>,
        stop: &CancellationToken,
    ) -> Result<crate::hooks::HookRun> {
        let Some(server) = &env.server else {
            let process = hooks::local(phase, command, job);
            return hooks::run(phase, command, process, timeout, stop).await;
        };
        let session = self.connect_server(server).await?;
        let process = hooks::on_server(&session, phase, command, timeout, job);
        hooks::run(phase, command, process, timeout, stop).await
    }

    /// Starts a job: claims its lane (`already_running` when taken), records it, and runs
    /// `work` on a task of its own with the job's id and cancel token. Whatever the work
    /// returns is recorded as the job's end before the lane and the lock are freed; the
    /// handle gives the work's own result.
    pub(crate) async fn start_job<T, W, F>(
        &self,
        spec: JobSpec<T>,
        work: W,
    ) -> Result<(Job, JoinHandle<Result<T>>)>
    where
        T: Send + 'static,
        W: FnOnce(Context, String, CancellationToken) -> F + Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let job_id = new_id();
        let claim = self.jobs().claim(&spec.lane, &job_id)?;
        // Then across processes: the app and a cron'd CLI run share the catalog.
        let lane_lock = match spec.lane.lock_name() {
            Some(name) => Some(LaneLock::acquire(
                &self.home().lane_lock_path(&name),
                &spec.lane,
                &job_id,
            )?),
            None => None,
        };
        let (job, lock) = self
            .open_job(&job_id, &spec.environment_id, &spec.request)
            .await?;
        let this = self.clone();
        let running = tokio::spawn(async move {
            let outcome = work(this.clone(), job_id.clone(), claim.cancel.clone()).await;
            this.close_job(&job_id, (spec.record)(&outcome)).await;
            drop(lock);
            drop(lane_lock);
            drop(claim);
            outcome
        });
        Ok((job, running))
    }

    /// A job run inside another that already holds its lane (a restore's safety backup): it
    /// is recorded as a job of its own and awaited here.
    pub(crate) async fn run_within<T, F>(
        &self,
        spec: JobSpec<T>,
        work: impl FnOnce(String) -> F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let job_id = new_id();
        let (_, lock) = self
            .open_job(&job_id, &spec.environment_id, &spec.request)
            .await?;
        let outcome = work(job_id.clone()).await;
        self.close_job(&job_id, (spec.record)(&outcome)).await;
        drop(lock);
        outcome
    }

    /// Records a new running job and takes its lock; the lock is held until the job ends.
    pub(crate) async fn open_job(
        &self,
        job_id: &str,
        environment_id: &str,
        request: &JobRequest,
    ) -> Result<(Job, JobLock)> {
        let lock = JobLock::acquire(self.home().job_lock_path(job_id))?;
        let job = self
            .catalog()
            .insert_job(job_id, environment_id, request)
            .await?;
        self.jobs().publish(&job);
        Ok((job, lock))
    }

    /// Records how a job ended; a failure to record is logged, the outcome stands.
    pub(crate) async fn close_job(&self, job_id: &str, ended: Result<Option<JobOutcome>>) {
        let (status, error, produced) = match &ended {
            Ok(produced) => (JobStatus::Succeeded, None, produced.as_ref()),
            Err(e) if e.code == ErrorCode::Cancelled => (JobStatus::Cancelled, Some(e), None),
            Err(e) => (JobStatus::Failed, Some(e), None),
        };
        match self
            .catalog()
            .finish_job(job_id, status, error, produced)
            .await
        {
            Ok(job) => self.jobs().publish(&job),
            Err(e) => tracing::error!(job_id, "could not record the end of a job: {}", e.message),
        }
    }

    /// Sets what the job is doing now, and whether it may still be cancelled.
    pub(crate) async fn set_phase(
        &self,
        job_id: &str,
        phase: &str,
        bytes_total: u64,
        cancellable: bool,
    ) -> Result<()> {
        // With `LIFEBOAT_LOG=lifeboat_core=debug` the log's timestamps say where a job's time goes.
        tracing::debug!(job = job_id, phase, "phase");
        let mut job = self.catalog().job(job_id).await?;
        job.phase = phase.to_owned();
        job.bytes_done = 0;
        job.bytes_total = bytes_total;
        job.bytes_per_second = 0;
        job.cancellable = cancellable;
        self.catalog().update_job_progress(&job).await?;
        self.jobs().publish(&job);
        Ok(())
    }

    /// Publishes `progress` against `bytes_total` every half second until the returned guard
    /// is dropped.
    pub(crate) fn report_progress(
        &self,
        job_id: &str,
        bytes_total: u64,
        progress: Arc<AtomicU64>,
    ) -> ProgressGuard {
        let this = self.clone();
        let job_id = job_id.to_owned();
        ProgressGuard(tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROGRESS_EVERY);
            let mut last = (Instant::now(), 0u64);
            loop {
                tick.tick().await;
                let Ok(mut job) = this.catalog().job(&job_id).await else {
                    continue;
                };
                let done = progress.load(Ordering::Relaxed);
                let elapsed = last.0.elapsed().as_secs_f64().max(0.001);
                job.bytes_done = done;
                job.bytes_total = bytes_total.max(done);
                job.bytes_per_second = (done.saturating_sub(last.1) as f64 / elapsed) as u64;
                last = (Instant::now(), done);
                if this.catalog().update_job_progress(&job).await.is_ok() {
                    this.jobs().publish(&job);
                }
            }
        }))
    }
}

/// Stops a progress reporter however the job ends, panics included.
pub(crate) struct ProgressGuard(JoinHandle<()>);

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs blocking work (processes, files, decoders) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorCode::Internal, format!("A worker thread failed: {e}")))?
}

#[cfg(test)]
mod tests {
    //! The runner with stand-in work (no database, storage or keyring): only the catalog in a
    //! temporary home is real.

    use tokio::sync::oneshot;

    use super::*;
    use crate::download::DownloadRequest;
    use crate::environments::EnvironmentInput;

    async fn lifeboat() -> (tempfile::TempDir, Context, String) {
        let home = tempfile::tempdir().unwrap();
        let lb = Context::open(crate::Home::at(home.path())).await.unwrap();
        lb.ensure_default_target().await.unwrap();
        let app = lb.create_application("shop").await.unwrap();
        let env = lb
            .create_environment(&EnvironmentInput {
                application_id: app.id,
                name: "production".into(),
                connection: None,
                media_dir: None,
                target_id: None,
            })
            .await
            .unwrap();
        (home, lb, env.id)
    }

    fn spec(environment_id: &str, lane: Lane) -> JobSpec<u32> {
        JobSpec {
            environment_id: environment_id.to_owned(),
            lane,
            request: JobRequest::Download(DownloadRequest {
                backup_id: "b".into(),
                directory: "/nowhere".into(),
                database: true,
                media: false,
            }),
            record: nothing_produced,
        }
    }

    /// Starts a job whose work returns 1 once `release` fires.
    async fn held(
        lb: &Context,
        spec: JobSpec<u32>,
    ) -> Result<(Job, JoinHandle<Result<u32>>, oneshot::Sender<()>)> {
        let (tx, rx) = oneshot::channel::<()>();
        let (job, running) = lb
            .start_job(spec, |_, _, _| async move {
                rx.await.ok();
                Ok(1)
            })
            .await?;
        Ok((job, running, tx))
    }

    async fn status(lb: &Context, job: &Job) -> (JobStatus, Option<ErrorCode>) {
        let job = lb.catalog().job(&job.id).await.unwrap();
        (job.status, job.error.map(|e| e.code))
    }

    #[tokio::test]
    async fn a_lane_runs_one_job_at_a_time_and_is_free_again_when_it_ends() {
        let (_home, lb, env) = lifeboat().await;
        let (first, running, release) = held(&lb, spec(&env, Lane::Environment(env.clone())))
            .await
            .unwrap();
        let busy = held(&lb, spec(&env, Lane::Environment(env.clone()))).await;
        assert_eq!(busy.err().map(|e| e.code), Some(ErrorCode::AlreadyRunning));
        assert!(lb.jobs().is_busy(&env));

        // A drill has a lane of its own beside backups and restores; downloads never wait.
        let (_, drill, drill_release) = held(&lb, spec(&env, Lane::Drill(env.clone())))
            .await
            .unwrap();
        let busy = held(&lb, spec(&env, Lane::Drill(env.clone()))).await;
        assert_eq!(busy.err().map(|e| e.code), Some(ErrorCode::AlreadyRunning));
        let (_, own_a, release_a) = held(&lb, spec(&env, Lane::Own)).await.unwrap();
        let (_, own_b, release_b) = held(&lb, spec(&env, Lane::Own)).await.unwrap();
        for (release, running) in [
            (drill_release, drill),
            (release_a, own_a),
            (release_b, own_b),
        ] {
            release.send(()).unwrap();
            assert_eq!(finished(running).await.unwrap(), 1);
        }

        release.send(()).unwrap();
        assert_eq!(finished(running).await.unwrap(), 1);
        assert_eq!(status(&lb, &first).await, (JobStatus::Succeeded, None));
        assert!(!lb.jobs().is_busy(&env));
        let (_, again, release) = held(&lb, spec(&env, Lane::Environment(env.clone())))
            .await
            .unwrap();
        release.send(()).unwrap();
        finished(again).await.unwrap();
    }

    #[tokio::test]
    async fn a_lane_held_by_another_process_is_refused_naming_who_holds_it() {
        let (_home, lb, env) = lifeboat().await;
        // A second Lifeboat on the same home: its own registry, as in another process.
        let other = Context::open(lb.home().clone()).await.unwrap();
        let lane = || spec(&env, Lane::Environment(env.clone()));
        let (first, running, release) = held(&lb, lane()).await.unwrap();

        let refused = held(&other, lane()).await.expect_err("refused");
        assert_eq!(refused.code, ErrorCode::AlreadyRunning);
        assert!(
            refused.message.contains("another Lifeboat process")
                && refused.message.contains(&first.id)
                && refused.message.contains(&std::process::id().to_string()),
            "{}",
            refused.message
        );
        assert!(crate::environments::refuse_if_busy(&other, &env).is_err());
        // Its drill lane and jobs of their own are not held.
        let (_, drill, drill_release) = held(&other, spec(&env, Lane::Drill(env.clone())))
            .await
            .unwrap();
        drill_release.send(()).unwrap();
        finished(drill).await.unwrap();

        release.send(()).unwrap();
        finished(running).await.unwrap();
        let (_, again, release) = held(&other, lane()).await.unwrap();
        release.send(()).unwrap();
        assert_eq!(finished(again).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn cancel_reaches_the_work_and_the_job_ends_cancelled() {
        let (_home, lb, env) = lifeboat().await;
        let (job, running) = lb
            .start_job(
                spec(&env, Lane::Environment(env.clone())),
                |_, _, cancel| async move {
                    cancel.cancelled().await;
                    Err(Error::cancelled())
                },
            )
            .await
            .unwrap();
        assert!(lb.jobs().cancel(&job.id));
        assert_eq!(
            finished(running).await.unwrap_err().code,
            ErrorCode::Cancelled
        );
        assert_eq!(
            status(&lb, &job).await,
            (JobStatus::Cancelled, Some(ErrorCode::Cancelled))
        );
        assert!(!lb.jobs().is_busy(&env));
        assert!(!lb.jobs().cancel(&job.id), "nothing left to cancel");
    }

    #[tokio::test]
    async fn a_sealed_job_can_no_longer_be_cancelled() {
        let (_home, lb, env) = lifeboat().await;
        let (sealed_tx, sealed) = oneshot::channel();
        let (release, rx) = oneshot::channel::<()>();
        let (job, running) = lb
            .start_job(
                spec(&env, Lane::Environment(env.clone())),
                |this, job_id, _| async move {
                    sealed_tx.send(this.jobs().seal(&job_id)).unwrap();
                    rx.await.ok();
                    Ok(2)
                },
            )
            .await
            .unwrap();
        assert!(sealed.await.unwrap(), "sealed before any cancel");
        assert!(!lb.jobs().cancel(&job.id));
        release.send(()).unwrap();
        assert_eq!(finished(running).await.unwrap(), 2);
        assert_eq!(status(&lb, &job).await, (JobStatus::Succeeded, None));
    }

    #[tokio::test]
    async fn a_job_recorded_as_failed_still_frees_its_lane() {
        let (_home, lb, env) = lifeboat().await;
        let mut failing = spec(&env, Lane::Environment(env.clone()));
        failing.record = |_| Err(Error::new(ErrorCode::DrillFailed, "a check failed"));
        let (job, running) = lb
            .start_job(failing, |_, _, _| async { Ok(7) })
            .await
            .unwrap();
        assert_eq!(finished(running).await.unwrap(), 7, "the work's own result");
        assert_eq!(
            status(&lb, &job).await,
            (JobStatus::Failed, Some(ErrorCode::DrillFailed))
        );
        assert!(!lb.jobs().is_busy(&env));
    }

    #[tokio::test]
    async fn work_within_a_held_lane_is_a_job_of_its_own() {
        let (_home, lb, env) = lifeboat().await;
        let (_, running, release) = held(&lb, spec(&env, Lane::Environment(env.clone())))
            .await
            .unwrap();
        let inner = lb
            .run_within(
                spec(&env, Lane::Environment(env.clone())),
                |job_id| async move {
                    assert!(!job_id.is_empty());
                    Ok(3)
                },
            )
            .await
            .unwrap();
        assert_eq!(inner, 3);
        let jobs = lb.catalog().jobs_of(&env).await.unwrap();
        assert_eq!(
            jobs.iter()
                .filter(|j| j.status == JobStatus::Succeeded)
                .count(),
            1
        );
        release.send(()).unwrap();
        finished(running).await.unwrap();
    }
}
