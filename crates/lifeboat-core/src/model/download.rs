//! A prepared download: what is asked for, and what was written.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DownloadRequest {
    pub backup_id: String,
    /// An existing folder to write into.
    pub directory: String,
    pub database: bool,
    pub media: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DownloadedFile {
    pub path: String,
    #[ts(type = "number")]
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DownloadSummary {
    pub backup_id: String,
    pub directory: String,
    /// The dump (and the roles beside it) and/or the media tar, then SHA256SUMS.
    pub files: Vec<DownloadedFile>,
}
