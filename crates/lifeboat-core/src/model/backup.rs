//! Backups: what is asked for, and a committed backup as the catalog knows it.

use lifeboat_format::manifest::{BackupKind, BackupManifest};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::job::Job;
use super::verify::VerifyReport;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupRequest {
    pub environment_id: String,
    pub database: bool,
    pub media: bool,
    pub note: Option<String>,
    pub kind: BackupKind,
    /// Read every media file, even those a deduplicated backup would take unread from the
    /// previous one because their size, times and inode are unchanged.
    #[serde(default)]
    pub full_rescan: bool,
}

/// A committed backup as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupRecord {
    pub id: String,
    pub job_id: Option<String>,
    pub target_id: String,
    /// The backup's directory inside the target (under the target's prefix).
    pub storage_dir: String,
    #[ts(type = "number")]
    pub stored_bytes: u64,
    pub manifest: BackupManifest,
    /// The latest verification, if one ran.
    pub verification: Option<VerifyReport>,
    /// A scheduled backup's grandfather-father-son tier, as retention last set it.
    pub label: Option<crate::retention::Label>,
    /// Kept forever, whatever the retention policy says.
    pub pinned: bool,
    /// Why storage refused retention's last attempt to delete it; the next prune tries again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub deletion_refused: Option<String>,
}

impl BackupRecord {
    /// A backup as the catalog first records it: just committed, or found in storage.
    pub fn new(
        manifest: BackupManifest,
        job_id: Option<String>,
        target_id: &str,
        storage_dir: &str,
    ) -> Self {
        let stored_bytes = [
            manifest.database.as_ref().map(|d| &d.artifact),
            manifest.media.as_ref().map(|m| &m.artifact),
            manifest.globals.as_ref().map(|g| &g.artifact),
        ]
        .into_iter()
        .flatten()
        .map(|a| a.stored_bytes)
        .sum();
        Self {
            id: manifest.backup_id.clone(),
            job_id,
            target_id: target_id.to_owned(),
            storage_dir: storage_dir.to_owned(),
            stored_bytes,
            manifest,
            verification: None,
            label: None,
            pinned: false,
            deletion_refused: None,
        }
    }
}

/// One row of an environment's Backups view: every attempt, with the backup it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupEntry {
    pub job: Job,
    pub backup: Option<BackupRecord>,
}

/// A backup found in storage that could not be authenticated: listed apart, never restored,
/// drilled, pruned or counted as newest until the user trusts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct QuarantinedBackup {
    pub id: String,
    /// Where it was found: the target, and the directory inside it.
    pub target_id: String,
    pub storage_dir: String,
    /// Why it is not trusted, in one sentence.
    pub reason: String,
    pub found_at: String,
    /// What the manifest claims, unverified.
    pub manifest: BackupManifest,
}
