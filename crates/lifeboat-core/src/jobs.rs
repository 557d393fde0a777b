//! Long-running work (backups, restores, downloads): the catalog record, live progress
//! events, cancellation, and the rule that an environment runs one job at a time.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::backup::BackupRequest;
use crate::download::{DownloadRequest, DownloadSummary};
use crate::error::{Error, ErrorCode, Result};
use crate::restore::{RestoreRequest, RestoreSummary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum JobRequest {
    Backup(BackupRequest),
    Restore(RestoreRequest),
    Download(DownloadRequest),
    Drill(crate::drill::DrillRequest),
}

impl JobRequest {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Backup(_) => "backup",
            Self::Restore(_) => "restore",
            Self::Download(_) => "download",
            Self::Drill(_) => "drill",
        }
    }
}

/// What a finished job produced, beyond its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum JobOutcome {
    Restore(RestoreSummary),
    Download(DownloadSummary),
    Drill(crate::drill::DrillReport),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Job {
    pub id: String,
    pub environment_id: String,
    pub request: JobRequest,
    pub status: JobStatus,
    pub phase: String,
    #[ts(type = "number")]
    pub bytes_done: u64,
    /// An estimate while the database is dumped (its size on the server).
    #[ts(type = "number")]
    pub bytes_total: u64,
    #[ts(type = "number")]
    pub bytes_per_second: u64,
    pub error: Option<Error>,
    pub backup_id: Option<String>,
    /// False once the job has passed its point of no return (a restore's commit or swap).
    pub cancellable: bool,
    pub outcome: Option<JobOutcome>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// An exclusive lock on a file, held by the process running a job for as long as it runs. The
/// catalog is shared (the app, cron'd CLI runs), so "running" in the catalog only means "cut
/// off by a crash" when nobody holds the job's lock.
#[derive(Debug)]
pub struct JobLock {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl JobLock {
    pub fn acquire(path: std::path::PathBuf) -> Result<Self> {
        let io = |e: std::io::Error| {
            Error::new(
                ErrorCode::Io,
                format!("Cannot create the job lock {}: {e}", path.display()),
            )
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.try_lock().map_err(|e| {
            Error::new(
                ErrorCode::AlreadyRunning,
                format!("Another process runs this job: {e}"),
            )
        })?;
        Ok(Self { file, path })
    }

    /// Whether a live process holds the lock at `path`.
    pub fn is_held(path: &std::path::Path) -> bool {
        match std::fs::OpenOptions::new().write(true).open(path) {
            Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Which jobs may run side by side in this process: one job per lane at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lane {
    /// An environment's backups and restores.
    Environment(String),
    /// An environment's drills, which run beside its backups and restores.
    Drill(String),
    /// A lane of the job's own: it waits on nothing and nothing waits on it (downloads).
    Own,
}

impl Lane {
    fn busy(&self) -> Error {
        let message = match self {
            Self::Drill(_) => "A drill of this environment is already running.",
            _ => "A backup or restore of this environment is already running; wait for it or cancel it.",
        };
        Error::new(ErrorCode::AlreadyRunning, message)
    }
}

/// A job running here: its lane, and its cancel token until it passes its point of no return.
#[derive(Debug)]
struct Running {
    lane: Lane,
    job_id: String,
    cancel: Option<CancellationToken>,
}

/// The jobs running in this process.
#[derive(Debug)]
pub struct JobRegistry {
    running: Mutex<Vec<Running>>,
    events: broadcast::Sender<Job>,
}

impl Default for JobRegistry {
    fn default() -> Self {
        Self {
            running: Mutex::default(),
            events: broadcast::channel(256).0,
        }
    }
}

/// Holds a lane for one job; dropping it frees the lane.
pub struct Claim {
    registry: Arc<JobRegistry>,
    job_id: String,
    pub cancel: CancellationToken,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.registry
            .running
            .lock()
            .unwrap()
            .retain(|r| r.job_id != self.job_id);
    }
}

impl JobRegistry {
    /// Takes `lane` for `job_id`, or says which job holds it.
    pub fn claim(self: &Arc<Self>, lane: &Lane, job_id: &str) -> Result<Claim> {
        let mut running = self.running.lock().unwrap();
        if *lane != Lane::Own && running.iter().any(|r| r.lane == *lane) {
            return Err(lane.busy());
        }
        let cancel = CancellationToken::new();
        running.push(Running {
            lane: lane.clone(),
            job_id: job_id.to_owned(),
            cancel: Some(cancel.clone()),
        });
        Ok(Claim {
            registry: self.clone(),
            job_id: job_id.to_owned(),
            cancel,
        })
    }

    /// Whether a backup or restore of the environment runs here.
    pub fn is_busy(&self, environment_id: &str) -> bool {
        let lane = Lane::Environment(environment_id.to_owned());
        self.running.lock().unwrap().iter().any(|r| r.lane == lane)
    }

    /// Asks a running job to stop; false when no such job runs here or it can no longer stop.
    pub fn cancel(&self, job_id: &str) -> bool {
        let running = self.running.lock().unwrap();
        match running.iter().find(|r| r.job_id == job_id) {
            Some(Running {
                cancel: Some(token),
                ..
            }) => {
                token.cancel();
                true
            }
            _ => false,
        }
    }

    /// Refuses any further cancel of a job: it is past its point of no return. False if it
    /// was cancelled already (the caller must then stop instead).
    pub fn seal(&self, job_id: &str) -> bool {
        let mut running = self.running.lock().unwrap();
        match running.iter_mut().find(|r| r.job_id == job_id) {
            Some(r) => match r.cancel.take() {
                Some(t) => !t.is_cancelled(),
                None => true,
            },
            None => false,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Job> {
        self.events.subscribe()
    }

    pub fn publish(&self, job: &Job) {
        // No subscriber is fine: the catalog holds the state too.
        let _ = self.events.send(job.clone());
    }
}
