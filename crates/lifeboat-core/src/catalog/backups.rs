use super::Catalog;
use crate::backup::{BackupManifest, BackupRecord};
use crate::error::{Error, ErrorCode, Result};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    job_id: Option<String>,
    target_id: String,
    storage_dir: String,
    stored_bytes: i64,
    manifest: String,
    verification: Option<String>,
}

impl TryFrom<Row> for BackupRecord {
    type Error = Error;

    fn try_from(r: Row) -> Result<Self> {
        let manifest: BackupManifest = serde_json::from_str(&r.manifest).map_err(|e| {
            Error::new(
                ErrorCode::Catalog,
                format!("Unreadable backup record {}: {e}", r.id),
            )
        })?;
        let verification = r.verification.and_then(|v| serde_json::from_str(&v).ok());
        Ok(BackupRecord {
            verification,
            id: r.id,
            job_id: r.job_id,
            target_id: r.target_id,
            storage_dir: r.storage_dir,
            stored_bytes: r.stored_bytes.max(0) as u64,
            manifest,
        })
    }
}

impl Catalog {
    pub async fn backup(&self, id: &str) -> Result<BackupRecord> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, job_id, target_id, storage_dir, stored_bytes, manifest, verification FROM backups WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.ok_or_else(|| Error::new(ErrorCode::NotFound, format!("There is no backup {id}.")))?
            .try_into()
    }

    pub async fn set_verification(
        &self,
        id: &str,
        report: &crate::backup::verify::VerifyReport,
    ) -> Result<()> {
        let json = serde_json::to_string(report)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        sqlx::query("UPDATE backups SET verification = ? WHERE id = ?")
            .bind(json)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a committed backup and releases its job's cleanup claim, in one transaction.
    pub async fn insert_backup(&self, record: &BackupRecord, environment_id: &str) -> Result<()> {
        let manifest = serde_json::to_string(&record.manifest)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO backups (id, environment_id, job_id, target_id, storage_dir, kind, created_at,
                 finished_at, stored_bytes, manifest)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.id)
        .bind(environment_id)
        .bind(&record.job_id)
        .bind(&record.target_id)
        .bind(&record.storage_dir)
        .bind(record.manifest.kind.as_str())
        .bind(&record.manifest.created_at)
        .bind(&record.manifest.finished_at)
        .bind(record.stored_bytes as i64)
        .bind(manifest)
        .execute(&mut *tx)
        .await?;
        if let Some(job_id) = &record.job_id {
            // A job another process declared interrupted may have had its objects removed.
            let claimed = sqlx::query(
                "UPDATE jobs SET cleanup_dir = NULL WHERE id = ? AND cleanup_dir IS NOT NULL AND status = 'running'",
            )
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() != 1 {
                return Err(Error::new(
                    ErrorCode::Interrupted,
                    "This backup was declared interrupted while it ran; it was not kept.",
                ));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn backups_of(&self, environment_id: &str) -> Result<Vec<BackupRecord>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, job_id, target_id, storage_dir, stored_bytes, manifest, verification FROM backups
             WHERE environment_id = ? ORDER BY created_at DESC",
        )
        .bind(environment_id)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
