//! Reading a backup back for a restore or a drill: its storage and recovery key, artifacts
//! opened as checked plaintext streams, and the pg_restore and server a dump needs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::backup::BackupRecord;
use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
use crate::lifeboat::Lifeboat;
use crate::running::blocking;
use crate::storage::Storage;
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::manifest::DatabasePart;
use lifeboat_format::read::{ArtifactReader, OpenError};

/// A backup, where it is stored, and the key that decrypts it.
pub(crate) struct Source {
    pub record: BackupRecord,
    pub storage: Storage,
    pub identity: age::x25519::Identity,
}

impl Source {
    /// The artifact as plaintext, with stored bytes read added to `progress`.
    pub async fn open(
        &self,
        artifact: &ArtifactInfo,
        progress: &Arc<AtomicU64>,
        label: &str,
        cancel: &CancellationToken,
    ) -> Result<ArtifactReader> {
        let key = lifeboat_format::layout::object_key(&self.record.storage_dir, &artifact.name);
        let (size, source) = self.storage.reader(&key, cancel).await?;
        let source = Counted {
            inner: tokio_util::io::SyncIoBridge::new(source),
            progress: progress.clone(),
        };
        let identity = self.identity.clone();
        let label = label.to_owned();
        blocking(move || {
            ArtifactReader::open(source, size, &identity).map_err(|e| match e {
                OpenError::WrongKey => Error::new(
                    ErrorCode::RecoveryKeyMissing,
                    format!("The {label} artifact was encrypted to another recovery key; import that key first."),
                ),
                OpenError::Foreign(detail) => Error::new(
                    ErrorCode::ArtifactCorrupt,
                    format!("The {label} artifact cannot be read, so nothing was restored: {detail}."),
                ),
            })
        })
        .await
    }
}

impl Lifeboat {
    pub(crate) async fn source(&self, backup_id: &str) -> Result<Source> {
        let record = self.catalog().backup(backup_id).await?;
        let storage = self.storage_of(&record.target_id).await?;
        let identity = self
            .recovery_identity_for(&record.manifest.encryption.recipient)
            .await?;
        Ok(Source {
            record,
            storage,
            identity,
        })
    }

    /// The pg_restore that reads `part`, once the server behind `connection` (called `name`)
    /// is known to be new enough for it.
    pub(crate) async fn restore_tool(
        &self,
        part: &DatabasePart,
        connection: &PgConnectionInput,
        name: &str,
    ) -> Result<PathBuf> {
        let settings = self.settings().await?;
        let report = crate::postgres::probe(
            connection,
            settings.pg_bin_dir.as_deref().map(std::path::Path::new),
        )
        .await?;
        let source_major = major_of(&part.server_version);
        if report.server_major < source_major {
            return Err(Error::new(
                ErrorCode::PgServerTooOld,
                format!(
                    "The backup comes from PostgreSQL {}, but {name} runs PostgreSQL {}; restore into a server of version {source_major} or newer.",
                    part.server_version, report.server_version
                ),
            ));
        }
        let needed = major_of(&part.pg_dump_version);
        crate::backup::verify::pg_restore_for(self, needed)
            .await
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::PgDumpMissing,
                    format!(
                        "No pg_restore of version {needed} or newer is installed; install the PostgreSQL {needed} client tools."
                    ),
                )
            })
    }
}

pub(crate) fn major_of(version: &str) -> u32 {
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Counts stored bytes read, for progress.
struct Counted<R> {
    inner: R,
    progress: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
