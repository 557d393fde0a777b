//! Reading a stored backup back: its record, where it is stored, the key that decrypts it, and
//! each artifact as a checked plaintext stream. Restore, download, verify and drill all read
//! through here, so a backup that cannot be read is said the same way everywhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::model::backup::BackupRecord;
use crate::running::blocking;
use crate::storage::Storage;
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::read::{ArtifactReader, OpenError};

/// A backup, where it is stored, and the key that decrypts it.
pub(crate) struct StoredBackup {
    pub record: BackupRecord,
    pub storage: Storage,
    pub identity: age::x25519::Identity,
}

impl StoredBackup {
    /// The artifact as plaintext, with stored bytes read added to `progress`. The reader
    /// checks both checksums against the manifest when it is finished.
    pub async fn open(
        &self,
        artifact: &ArtifactInfo,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<ArtifactReader> {
        let key = lifeboat_format::layout::object_key(&self.record.storage_dir, &artifact.name);
        let (size, source) = self.storage.reader(&key, cancel).await?;
        let source = Counted {
            inner: tokio_util::io::SyncIoBridge::new(source),
            progress: progress.clone(),
        };
        let identity = self.identity.clone();
        let name = artifact.name.clone();
        blocking(move || {
            ArtifactReader::open(source, size, &identity).map_err(|e| match e {
                OpenError::WrongKey => Error::new(
                    ErrorCode::RecoveryKeyMissing,
                    format!("{name} was encrypted to another recovery key; import that key first."),
                ),
                OpenError::Foreign(detail) => Error::new(
                    ErrorCode::ArtifactCorrupt,
                    format!("{name} cannot be read: {detail}."),
                ),
            })
        })
        .await
    }
}

impl Context {
    /// Opens a backup for reading: its record, its storage and its key.
    pub(crate) async fn open_backup(&self, backup_id: &str) -> Result<StoredBackup> {
        let record = self.catalog().backup(backup_id).await?;
        let storage = self.storage_of(&record.target_id).await?;
        let identity = self
            .keys()
            .recovery_identity_for(&record.manifest.encryption.recipient)
            .await?;
        Ok(StoredBackup {
            record,
            storage,
            identity,
        })
    }
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
