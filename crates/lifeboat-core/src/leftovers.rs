//! What failed and interrupted jobs leave behind, and putting it right: uploads still open in
//! S3, objects of backups that never committed, local work a crash cut off.

use crate::catalog::uploads::OpenUpload;
use crate::error::Result;
use crate::lifeboat::Lifeboat;
use crate::storage::{Storage, Upload};

impl Lifeboat {
    /// Records an upload before any of its data is sent, so a crash leaves its id behind.
    pub(crate) async fn journal_upload(
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
    pub(crate) async fn abandon_upload(&self, upload: Upload) {
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
    pub(crate) async fn forget_upload(&self, id: Option<&str>) {
        let Some(id) = id else { return };
        if let Err(e) = self.catalog().forget_upload(id).await {
            tracing::warn!(id, "could not record that an upload ended: {}", e.message);
        }
    }

    /// Removes an unfinished backup's objects; if storage cannot be reached the job keeps its
    /// cleanup claim and the next start tries again.
    pub(crate) async fn clean_up(&self, job_id: &str, storage: &Storage, dir: &str) {
        match storage.delete_dir(dir).await {
            Ok(()) => {
                if let Err(e) = self.catalog().clear_cleanup(job_id).await {
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
