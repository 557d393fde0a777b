//! The journal of open multipart uploads (see migration 0008).

use super::jobs::to_text;
use super::Catalog;
use crate::error::Result;
use crate::model::job::JobStatus;

/// An upload a finished job left open: what the next start aborts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenUpload {
    pub upload_id: String,
    pub job_id: String,
    pub target_id: String,
    /// The object's name inside the target.
    pub object: String,
}

impl Catalog {
    pub async fn record_upload(&self, job_id: &str, object: &str, upload_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO uploads (upload_id, job_id, object) VALUES (?, ?, ?)")
            .bind(upload_id)
            .bind(job_id)
            .bind(object)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The upload completed or was aborted.
    pub async fn forget_upload(&self, upload_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE upload_id = ?")
            .bind(upload_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Uploads left open by jobs that no longer run.
    pub async fn open_uploads(&self) -> Result<Vec<OpenUpload>> {
        Ok(sqlx::query_as(
            "SELECT u.upload_id, u.job_id, j.target_id, u.object FROM uploads u
             JOIN jobs j ON j.id = u.job_id
             WHERE j.target_id IS NOT NULL AND j.status NOT IN (?, ?)",
        )
        .bind(to_text(&JobStatus::Queued))
        .bind(to_text(&JobStatus::Running))
        .fetch_all(self.pool())
        .await?)
    }
}
