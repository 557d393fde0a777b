//! Lifeboat's domain logic, free of any UI: the desktop app and the CLI are thin shells over it.
//!
//! The public surface is the `Lifeboat` façade and the plain data its methods take and return,
//! re-exported here; every module stays private, so moving code inside the core never reaches
//! the shells. Modules depend downwards only (`scripts/layers` checks it): plain data ←
//! infrastructure (catalog, storage, postgres, keys) ← jobs and the stored-backup repository ←
//! operations ← the façade.

mod activity;
mod applications;
mod backup;
mod catalog;
mod catalog_sync;
mod connection;
mod context;
mod credentials;
mod disk;
mod download;
mod drill;
mod environments;
mod error;
mod home;
mod hooks;
mod jobs;
mod keys;
mod lifeboat;
mod lookup;
mod media;
mod media_bucket;
mod model;
mod notices;
mod postgres;
mod prune;
mod repository;
mod restore;
mod retention;
mod running;
mod schedule;
mod scheduler;
mod ssh;
mod storage;
mod targets;
mod validation;
mod verify;

pub use catalog::Catalog;
pub use catalog_sync::SyncReport;
pub use connection::{parse_database_url, PgConnectionInput, SslMode};
pub use credentials::{Credentials, KeyringStatus, SecretRef};
pub use disk::human_bytes;
pub use drill::{DrillPlaceInput, DRILL_DATABASE_PREFIX};
pub use environments::{EnvironmentChange, EnvironmentInput};
pub use error::{Error, ErrorCode, Result};
pub use home::Home;
pub use lifeboat::{AppInfo, Lifeboat};
/// The storage format, for the shells and tests that read or forge what is stored.
pub use lifeboat_format as format;
pub use lifeboat_format::manifest::{BackupKind, BackupManifest};
pub use media::MediaStats;
pub use media_bucket::{AccessCheck, MediaBucketCheck};
pub use model::activity::{ActivityItem, PruneRecord};
pub use model::backup::{BackupEntry, BackupRecord, BackupRequest, QuarantinedBackup};
pub use model::download::{DownloadRequest, DownloadSummary};
pub use model::drill::{DrillReport, DrillRequest};
pub use model::hooks::{HookPhase, HookRun, Hooks};
pub use model::job::{Job, JobOutcome, JobRequest, JobStatus};
pub use model::restore::{
    DatabaseRestorePlan, MediaRestoreSummary, RestorePreview, RestoreRequest, RestoreSummary,
};
pub use model::settings::Settings;
pub use model::setup::{
    Application, ApplicationTree, DrillPlace, Environment, LocalSettings, MediaBucket,
    MediaBucketInput, S3Settings, StorageTarget, TargetConfig,
};
pub use model::verify::{VerifyCheck, VerifyReport};
pub use notices::Notice;
pub use postgres::client::forget_inherited_pg_settings;
pub use postgres::scratch::scratch_dir;
pub use postgres::ConnectionReport;
pub use prune::{PruneFailure, PruneReport, RetentionDecision};
pub use repository::chunks::ReclaimReport;
pub use retention::{Label, RetentionPolicy};
pub use schedule::{BackupSchedule, Recurrence};
pub use scheduler::{upcoming_runs, Clock, EnvironmentStatus, FailedAttempt, Scheduler};
pub use ssh::SshHostKey;
pub use storage::Storage;
pub use targets::{
    S3ConfigInput, TargetConfigInput, TargetInput, TargetReport, DEFAULT_STORAGE_CLASS,
};
