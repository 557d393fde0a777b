//! `manifest.json`: written last into a backup's directory, it is the commit marker (a
//! directory without one is an unfinished backup) and describes everything needed to restore
//! by hand. See docs/storage-format.md.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::artifact::ArtifactInfo;
use crate::authentication::Authentication;

/// The newest manifest format this crate writes and reads.
/// Version 2: artifacts may be deduplicated (`ArtifactInfo::chunked`); a manifest without such
/// an artifact is still written as version 1, which older readers take.
pub const FORMAT_VERSION: u32 = 2;

/// A manifest as stored, checked to be one this version can read.
pub fn parse(body: &[u8]) -> Result<BackupManifest, String> {
    let manifest: BackupManifest =
        serde_json::from_slice(body).map_err(|e| format!("not a Lifeboat manifest ({e})"))?;
    if manifest.format > FORMAT_VERSION {
        return Err(format!(
            "written by a newer Lifeboat (format {}; this one reads up to {FORMAT_VERSION})",
            manifest.format
        ));
    }
    Ok(manifest)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppMigration {
    pub app: String,
    pub name: String,
}

/// How many migrations were applied and the latest of each app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MigrationRecord {
    #[ts(type = "number")]
    pub count: u64,
    pub latest: Vec<AppMigration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum BackupKind {
    OnDemand,
    Scheduled,
    /// Taken by a restore of its environment just before overwriting it: the way back.
    Safety,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDemand => "on-demand",
            Self::Scheduled => "scheduled",
            Self::Safety => "safety",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct NamedRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DatabasePart {
    pub artifact: ArtifactInfo,
    pub server_version: String,
    pub pg_dump_version: String,
    /// Entries `pg_restore --list` read from the dump while it was made.
    #[ts(type = "number")]
    pub toc_entries: u64,
    /// Django's migration history just before the dump began; absent for other databases
    /// (and in manifests of older Lifeboats).
    #[serde(default)]
    pub migrations: Option<MigrationRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaPart {
    pub artifact: ArtifactInfo,
    #[ts(type = "number")]
    pub file_count: u64,
    #[ts(type = "number")]
    pub total_bytes: u64,
}

/// The server's roles (without passwords) and their memberships, as
/// `pg_dumpall --roles-only --no-role-passwords` wrote them: plain SQL for psql. Never needed
/// for a restore; it lets an empty cluster take the dump with its owners and grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct GlobalsPart {
    pub artifact: ArtifactInfo,
    #[ts(type = "number")]
    pub roles: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Compression {
    pub algorithm: String,
    pub level: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Encryption {
    pub scheme: String,
    pub recipient: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BackupManifest {
    pub format: u32,
    pub backup_id: String,
    pub application: NamedRef,
    pub environment: NamedRef,
    pub kind: BackupKind,
    pub created_at: String,
    pub finished_at: String,
    pub note: Option<String>,
    pub database: Option<DatabasePart>,
    pub media: Option<MediaPart>,
    /// Beside a database, when its role could read them (and in manifests of newer Lifeboats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub globals: Option<GlobalsPart>,
    /// Why a backup with a database has no roles artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub globals_note: Option<String>,
    pub compression: Compression,
    pub encryption: Encryption,
    /// Vouches that the holder of the recovery key wrote this manifest (absent in manifests of
    /// older Lifeboats, which are therefore not trusted when found in storage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub authentication: Option<Authentication>,
}
