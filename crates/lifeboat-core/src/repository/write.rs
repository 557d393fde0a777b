//! Writing a backup, crash-safe, in one place. A new backup's location is recorded before
//! anything is written, and each upload is journaled before its data is sent; the manifest is
//! written last, and only then is the backup recorded, so only committed backups are ever
//! listed. Whatever fails is aborted and removed; what cannot be removed right away (storage
//! unreachable, the process killed) is retried at the next start from the same journal.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::artifact::{self, ArtifactWriter};
use crate::catalog::uploads::OpenUpload;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::model::backup::BackupRecord;
use crate::storage::{Storage, Upload};
use lifeboat_format::authentication::ManifestKey;
use lifeboat_format::layout::{object_key, MANIFEST_FILE};
use lifeboat_format::manifest::BackupManifest;

/// A backup being written into `dir` of its target's storage.
pub(crate) struct NewBackup<'a> {
    cx: &'a Context,
    job_id: &'a str,
    target_id: String,
    storage: Storage,
    dir: String,
    recipient: age::x25519::Recipient,
    manifest_key: ManifestKey,
    zstd_level: i32,
    progress: Arc<AtomicU64>,
    cancel: CancellationToken,
}

/// Where a new backup goes: its id, its target and the directory in that target's storage.
pub(crate) struct Place {
    pub backup_id: String,
    pub target_id: String,
    pub storage: Storage,
    pub dir: String,
}

/// How a new backup's artifacts are written.
pub(crate) struct Encoding {
    pub recipient: age::x25519::Recipient,
    /// Seals the manifest, so a backup found in storage can be told from a forged one.
    pub manifest_key: ManifestKey,
    pub zstd_level: i32,
}

impl<'a> NewBackup<'a> {
    /// Records where the backup goes (so a crash's leftovers are found at the next start)
    /// before anything is written. Stored bytes written are added to `progress`; `cancel`
    /// stops every artifact.
    pub async fn begin(
        cx: &'a Context,
        job_id: &'a str,
        place: Place,
        encoding: Encoding,
        progress: Arc<AtomicU64>,
        cancel: CancellationToken,
    ) -> Result<Self> {
        cx.catalog()
            .set_job_location(job_id, &place.backup_id, &place.target_id, &place.dir)
            .await?;
        Ok(Self {
            cx,
            job_id,
            target_id: place.target_id,
            storage: place.storage,
            dir: place.dir,
            recipient: encoding.recipient,
            manifest_key: encoding.manifest_key,
            zstd_level: encoding.zstd_level,
            progress,
            cancel,
        })
    }

    /// Stops every artifact still being written (the first to fail stops the others).
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Streams one artifact, `file` in the backup's directory: the producer runs on a
    /// blocking thread, the upload on this task.
    pub async fn store<T: Send + 'static>(
        &self,
        file: &str,
        size_hint: u64,
        produce: impl FnOnce(ArtifactWriter, &CancellationToken) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = artifact::channel();
        let key = object_key(&self.dir, file);
        let writer = ArtifactWriter::new(
            file,
            &self.recipient,
            self.zstd_level,
            tx,
            self.progress.clone(),
            self.cancel.clone(),
        )
        .map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("Cannot set up encryption: {e}"),
            )
        })?;
        let mut upload = tokio::select! {
            _ = self.cancel.cancelled() => return Err(Error::cancelled()),
            begun = self.storage.begin_upload(&key, size_hint) => begun?,
        };
        // (A crash right here leaves an upload no journal knows of: the bucket's lifecycle rule
        // for incomplete uploads, in docs/storage-format.md, covers that moment.)
        if let Err(e) = self
            .cx
            .journal_upload(self.job_id, &key, upload.multipart_id())
            .await
        {
            self.cx.abandon_upload(upload).await;
            return Err(e);
        }
        let producer_cancel = self.cancel.clone();
        let producer = tokio::task::spawn_blocking(move || produce(writer, &producer_cancel));
        let uploaded = upload.send(rx, &self.cancel).await;
        if uploaded.is_err() {
            // A producer waiting on its source (pg_dump on a lock) would not notice otherwise.
            self.cancel.cancel();
        }
        let produced = producer.await.map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("The backup worker failed: {e}"),
            )
        });
        match &uploaded {
            Ok(()) => self.cx.forget_upload(upload.multipart_id()).await,
            Err(_) => self.cx.abandon_upload(upload).await,
        }
        match (produced?, uploaded) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(e),
            // A producer stopped because the upload failed reports less than the upload's error;
            // an upload that only saw its producer stop (Internal) knows less than the producer.
            (Err(p), Err(u))
                if matches!(p.code, ErrorCode::StorageError | ErrorCode::Cancelled)
                    && u.code != ErrorCode::Internal =>
            {
                Err(u)
            }
            (Err(p), _) => Err(p),
        }
    }

    /// Writes the manifest, then records the backup: from here on it exists. A failure on the
    /// way discards everything written.
    pub async fn commit(self, manifest: BackupManifest) -> Result<BackupManifest> {
        match self.write_manifest(manifest).await {
            Ok(manifest) => Ok(manifest),
            Err(e) => {
                self.discard().await;
                Err(e)
            }
        }
    }

    async fn write_manifest(&self, mut manifest: BackupManifest) -> Result<BackupManifest> {
        self.manifest_key.seal(&mut manifest);
        let body = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        self.storage
            .put_manifest(&object_key(&self.dir, MANIFEST_FILE), body)
            .await?;
        let record = BackupRecord::new(
            manifest,
            Some(self.job_id.to_owned()),
            &self.target_id,
            &self.dir,
        );
        self.cx
            .catalog()
            .insert_backup(&record, &record.manifest.environment.id)
            .await?;
        Ok(record.manifest)
    }

    /// Removes what was written; if storage cannot be reached the job keeps its cleanup
    /// claim and the next start tries again.
    pub async fn discard(self) {
        let (job_id, dir) = (self.job_id, &self.dir);
        match self.storage.delete_dir(dir).await {
            Ok(()) => {
                if let Err(e) = self.cx.catalog().clear_cleanup(job_id).await {
                    tracing::warn!(job_id, "could not record a cleanup: {}", e.message);
                }
            }
            Err(e) => tracing::warn!(
                job_id,
                dir,
                "leftovers of a failed backup stay until the next start: {}",
                e.message
            ),
        }
    }
}

impl Context {
    /// Records an upload before any of its data is sent, so a crash leaves its id behind.
    async fn journal_upload(
        &self,
        job_id: &str,
        object: &str,
        upload_id: Option<&str>,
    ) -> Result<()> {
        match upload_id {
            Some(id) => self.catalog().record_upload(job_id, object, id).await,
            None => Ok(()),
        }
    }

    /// Aborts an upload that did not complete. If that fails its journal entry stays, and the
    /// next start tries again.
    async fn abandon_upload(&self, upload: Upload) {
        let id = upload.multipart_id().map(str::to_owned);
        match upload.abort().await {
            Ok(()) => self.forget_upload(id.as_deref()).await,
            Err(e) => tracing::warn!(
                "an unfinished upload stays until the next start: {}",
                e.message
            ),
        }
    }

    /// The upload completed or was aborted: nothing is left to clean.
    async fn forget_upload(&self, id: Option<&str>) {
        let Some(id) = id else { return };
        if let Err(e) = self.catalog().forget_upload(id).await {
            tracing::warn!(id, "could not record that an upload ended: {}", e.message);
        }
    }

    /// Aborts the uploads and removes the objects that failed or interrupted jobs left in
    /// storage. Returns how many backup directories were cleaned.
    pub(crate) async fn clean_up_storage_leftovers(&self) -> Result<usize> {
        for upload in self.catalog().open_uploads().await? {
            self.abort_open_upload(&upload).await;
        }
        let mut cleaned = 0;
        for (job_id, target_id, dir) in self.catalog().pending_cleanups().await? {
            match self.storage_of(&target_id).await {
                Ok(storage) => {
                    if storage.delete_dir(&dir).await.is_ok() {
                        self.catalog().clear_cleanup(&job_id).await?;
                        cleaned += 1;
                    }
                }
                Err(e) => tracing::warn!(job_id, "cannot reach storage to clean up: {}", e.message),
            }
        }
        Ok(cleaned)
    }

    async fn abort_open_upload(&self, upload: &OpenUpload) {
        let aborted = match self.storage_of(&upload.target_id).await {
            Ok(storage) => {
                storage
                    .abort_upload(&upload.object, &upload.upload_id)
                    .await
            }
            Err(e) => Err(e),
        };
        match aborted {
            Ok(()) => self.forget_upload(Some(&upload.upload_id)).await,
            Err(e) => tracing::warn!(
                job_id = upload.job_id,
                "an unfinished upload stays until the next start: {}",
                e.message
            ),
        }
    }
}
