//! Long-running work (backups, restores, downloads): the catalog record, live progress
//! events, cancellation, and the rule that an environment runs one job at a time.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode, Result};
pub use crate::model::job::Job;
pub use crate::model::job::JobOutcome;
pub use crate::model::job::JobRequest;
pub use crate::model::job::JobStatus;

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
