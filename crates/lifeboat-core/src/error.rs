//! The one error type that crosses every boundary: a stable machine code for tests and programs,
//! a sentence for people, and the form field it concerns when there is one.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorCode {
    Validation,
    NotFound,
    Conflict,
    InvalidDatabaseUrl,
    KeyringUnavailable,
    KeyringLocked,
    SecretMissing,
    PgAuthFailed,
    PgDatabaseMissing,
    PgUnreachable,
    PgTimeout,
    PgTls,
    PgError,
    MediaDirMissing,
    MediaNotADirectory,
    MediaUnreadable,
    /// The media bucket's key may read but not write: a restore into it was refused.
    MediaBucketReadOnly,
    /// A restore into a media bucket was cut off after some objects were written.
    MediaRestoreIncomplete,
    TargetInUse,
    S3AuthFailed,
    S3BucketMissing,
    S3StorageClassRejected,
    S3Unreachable,
    StorageError,
    AlreadyRunning,
    Cancelled,
    Interrupted,
    PgDumpMissing,
    PgDumpFailed,
    DumpUnreadable,
    RecoveryKeyMissing,
    ArtifactCorrupt,
    ChecksumMismatch,
    UnsafeArchive,
    /// A backup whose manifest the recovery key does not vouch for (forged, foreign, or from
    /// before manifests were authenticated): nothing is read from it until the user trusts it.
    BackupUnauthenticated,
    PgServerTooOld,
    PgRestoreFailed,
    /// The dump needs something at the destination that only an administrator can provide
    /// (an extension, a schema, an object's ownership); nothing was changed.
    PgNeedsAdmin,
    SafetyBackupFailed,
    /// An environment's hook failed or timed out; for a "before" hook nothing was done.
    HookFailed,
    /// The environment's server offered a host key nobody has trusted yet: nothing was sent
    /// to it. Its fingerprints are shown for the user to compare and trust.
    SshHostUnknown,
    /// The server's host key is not the one trusted before: someone may be in between, or the
    /// server was reinstalled. Nothing was sent to it.
    SshHostKeyChanged,
    /// The server refused every key offered (agent, IdentityFile, default keys).
    SshAuthFailed,
    /// A key the server may want is protected by a passphrase Lifeboat was not given (or the
    /// one given does not unlock it); `detail` names the key file.
    SshKeyLocked,
    /// The server (or a jump host on the way) could not be reached.
    SshUnreachable,
    /// SSH reached the server but what was asked of it failed (a forward, a command), or no
    /// `ssh` client is installed.
    SshFailed,
    RestoreChecksFailed,
    DiskFull,
    /// A drill ran and one of its checks failed.
    DrillFailed,
    /// The drill's server would not create or drop its temporary database.
    DrillServer,
    Io,
    Catalog,
    Internal,
}

/// Serialises as `{code, message, field, detail?}`: what the UI and the CLI's `--json` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{message}")]
#[ts(export, rename = "AppError")]
pub struct Error {
    pub code: ErrorCode,
    /// One sentence for people, with what to do.
    pub message: String,
    /// The input field the error is about, to mark it.
    pub field: Option<String>,
    /// What the server or library said, word for word, for whoever needs to dig further.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub detail: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            detail: None,
        }
    }

    /// An error about one input field, shown inline next to it.
    pub fn field(code: ErrorCode, field: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: Some(field.to_owned()),
            detail: None,
        }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::field(ErrorCode::Validation, field, message)
    }

    pub fn cancelled() -> Self {
        Self::new(ErrorCode::Cancelled, "Cancelled.")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} was not found."))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::not_found("The record"),
            other => Self::new(
                ErrorCode::Catalog,
                format!("The local catalog failed: {other}"),
            ),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::new(
            ErrorCode::Catalog,
            format!("The local catalog could not be upgraded: {e}"),
        )
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::new(ErrorCode::Io, e.to_string())
    }
}
