//! The life of a job record shared by every kind of job: opening it (catalog row, cross-process
//! lock, first event), live progress, phase changes, and recording how it ended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::error::{Error, ErrorCode, Result};
use crate::jobs::{Job, JobLock, JobOutcome, JobRequest, JobStatus};
use crate::lifeboat::Lifeboat;

const PROGRESS_EVERY: Duration = Duration::from_millis(500);

impl Lifeboat {
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
    pub(crate) async fn close_job<T>(
        &self,
        job_id: &str,
        outcome: &Result<T>,
        produced: impl FnOnce(&T) -> Option<JobOutcome>,
    ) {
        let (status, error, produced) = match outcome {
            Ok(value) => (JobStatus::Succeeded, None, produced(value)),
            Err(e) if e.code == ErrorCode::Cancelled => (JobStatus::Cancelled, Some(e), None),
            Err(e) => (JobStatus::Failed, Some(e), None),
        };
        match self
            .catalog()
            .finish_job(job_id, status, error, produced.as_ref())
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

    /// Puts right the local files of jobs that were cut off: a restore's media staging and
    /// replaced directories, a download's `.part` files.
    pub(crate) async fn repair_interrupted_local_work(&self) -> Result<usize> {
        let mut repaired = 0;
        for (job_id, kind, local) in self.catalog().pending_local_repairs().await? {
            if kind == "drill" {
                match self.repair_drill(&job_id, &local).await {
                    Ok(()) => {
                        self.catalog().set_job_local_dir(&job_id, None).await?;
                        repaired += 1;
                    }
                    Err(e) => tracing::warn!(
                        job_id,
                        local,
                        "cannot drop a drill's database: {}",
                        e.message
                    ),
                }
                continue;
            }
            let id = job_id.clone();
            let recorded = local.clone();
            let done = blocking(move || match kind.as_str() {
                "restore" => crate::restore::media::recover(std::path::Path::new(&recorded), &id),
                _ => {
                    crate::download::remove_partials(&recorded);
                    Ok(())
                }
            })
            .await;
            match done {
                Ok(()) => {
                    self.catalog().set_job_local_dir(&job_id, None).await?;
                    repaired += 1;
                }
                Err(e) => {
                    tracing::warn!(job_id, local, "cannot put local files right: {}", e.message)
                }
            }
        }
        Ok(repaired)
    }

    /// A drill cut off mid-way: its temporary database dropped, its media directory removed.
    async fn repair_drill(&self, job_id: &str, scratch: &str) -> Result<()> {
        let job = self.catalog().job(job_id).await?;
        let directory = crate::drill::drill_directory(job_id);
        blocking(move || match std::fs::remove_dir_all(&directory) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::new(
                ErrorCode::Io,
                format!("Cannot remove {}: {e}", directory.display()),
            )),
            _ => Ok(()),
        })
        .await?;
        self.remove_drill_leftover(&job.environment_id, scratch)
            .await
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
