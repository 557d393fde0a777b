//! A job as the catalog, the UI and the CLI see it: what was asked, how far it got, how it
//! ended.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::backup::BackupRequest;
use super::download::{DownloadRequest, DownloadSummary};
use super::drill::{DrillReport, DrillRequest};
use super::restore::{RestoreRequest, RestoreSummary};
use crate::error::Error;

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
    Drill(DrillRequest),
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
    Drill(DrillReport),
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
    /// The environment's hooks as they ran for this job, in order.
    pub hooks: Vec<super::hooks::HookRun>,
}

impl Job {
    pub fn is_finished(&self) -> bool {
        matches!(
            self.status,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}
