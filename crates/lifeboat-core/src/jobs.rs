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
        let file = open_lock_file(&path)?;
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

/// Opens (creating it and its folder if needed) a file to take an exclusive lock on.
fn open_lock_file(path: &std::path::Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| lock_error(path, &e))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| lock_error(path, &e))
}

fn lock_error(path: &std::path::Path, e: &std::io::Error) -> Error {
    Error::new(
        ErrorCode::Io,
        format!("Cannot create the lock {}: {e}", path.display()),
    )
}

/// A lane held across processes: the app and a cron'd CLI run share the catalog, and one of
/// them must not back up or restore an environment while the other does. An exclusive lock
/// on a file per lane, held for the job's life; the holder writes who it is into the file so
/// the one refused can say.
#[derive(Debug)]
pub struct LaneLock {
    file: std::fs::File,
}

impl LaneLock {
    /// Takes the lane's lock at `path`, or says which process holds it.
    pub fn acquire(path: &std::path::Path, lane: &Lane, job_id: &str) -> Result<Self> {
        use std::io::{Read, Seek, Write};
        let io = |e: std::io::Error| lock_error(path, &e);
        // Never removed: a process unlinking it while another opens it would let two hold it.
        let mut file = open_lock_file(path)?;
        if let Err(e) = file.try_lock() {
            let mut holder = String::new();
            file.read_to_string(&mut holder).ok();
            let holder = holder.trim();
            return Err(match e {
                std::fs::TryLockError::WouldBlock => lane.busy_elsewhere(holder),
                std::fs::TryLockError::Error(e) => io(e),
            });
        }
        let who = format!(
            "{} (pid {}, job {job_id}, since {})",
            std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "Lifeboat".into()),
            std::process::id(),
            chrono::Local::now().format("%H:%M")
        );
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        Ok(Self { file })
    }
}

impl Drop for LaneLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Which jobs may run side by side: one job per lane at a time, in this process and (through
/// `LaneLock`) across the processes sharing a catalog.
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

    fn busy_elsewhere(&self, holder: &str) -> Error {
        let what = match self {
            Self::Drill(_) => "A drill of this environment",
            _ => "A backup or restore of this environment",
        };
        let elsewhere = if holder.is_empty() {
            "another Lifeboat process".to_owned()
        } else {
            format!("another Lifeboat process, {holder}")
        };
        Error::new(
            ErrorCode::AlreadyRunning,
            format!("{what} is already running in {elsewhere}; wait for it or cancel it there."),
        )
    }

    /// The name of the file whose lock holds the lane across processes; none for a job's own.
    pub fn lock_name(&self) -> Option<String> {
        match self {
            Self::Environment(id) => Some(format!("lane-environment-{id}")),
            Self::Drill(id) => Some(format!("lane-drill-{id}")),
            Self::Own => None,
        }
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
