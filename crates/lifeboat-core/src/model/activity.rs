//! What happened to an environment, newest first: its jobs and the prunes that deleted
//! backups.

use serde::Serialize;
use ts_rs::TS;

use super::job::Job;

/// A prune that deleted backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PruneRecord {
    pub at: String,
    pub deleted: u32,
    #[ts(type = "number")]
    pub freed_bytes: u64,
}

/// One line of an environment's activity: a job (backup, restore, download, drill) or a prune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ActivityItem {
    pub at: String,
    pub job: Option<Job>,
    pub prune: Option<PruneRecord>,
    /// For a restore: the environment its backup came from ("Shop / production"), when known.
    pub restored_from: Option<String>,
}
