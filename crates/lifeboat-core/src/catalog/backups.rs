use super::Catalog;
use crate::error::{Error, ErrorCode, Result};
use crate::model::backup::BackupRecord;
use crate::model::job::JobRequest;
use crate::retention::Label;
use lifeboat_format::manifest::BackupManifest;

const COLUMNS: &str =
    "id, job_id, target_id, storage_dir, stored_bytes, manifest, verification, label, pinned, deletion_refused";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    job_id: Option<String>,
    target_id: String,
    storage_dir: String,
    stored_bytes: i64,
    manifest: String,
    verification: Option<String>,
    label: Option<String>,
    pinned: bool,
    deletion_refused: Option<String>,
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
            label: r.label.as_deref().and_then(Label::parse),
            pinned: r.pinned,
            deletion_refused: r.deletion_refused,
        })
    }
}

impl Catalog {
    pub async fn backup(&self, id: &str) -> Result<BackupRecord> {
        let sql = format!("SELECT {COLUMNS} FROM backups WHERE id = ? AND NOT deleting");
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = row {
            return row.try_into();
        }
        Err(match self.quarantine_reason(id).await? {
            Some(reason) => Error::new(
                ErrorCode::BackupUnauthenticated,
                format!("Backup {id} was found in storage but is not trusted: {reason}. Nothing was read from it; trust it first (Settings → Storage, or `lifeboat catalog trust`) if you know where it came from."),
            ),
            None => Error::new(ErrorCode::NotFound, format!("There is no backup {id}.")),
        })
    }

    pub async fn set_verification(
        &self,
        id: &str,
        report: &crate::model::verify::VerifyReport,
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
        let mut tx = self.pool().begin().await?;
        insert_backup_row(&mut tx, record, environment_id).await?;
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

    /// Records a backup found in storage, with a finished backup job standing for the run that
    /// made it (the Backups view lists runs), in one transaction.
    pub async fn import_backup(
        &self,
        record: &BackupRecord,
        environment_id: &str,
        request: &JobRequest,
    ) -> Result<()> {
        let job_id = record.job_id.as_deref().ok_or_else(|| {
            Error::new(ErrorCode::Internal, "An imported backup needs its job id.")
        })?;
        let request = serde_json::to_string(request)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO jobs (id, kind, environment_id, status, request, backup_id, target_id,
                 cancellable, created_at, finished_at)
             VALUES (?, 'backup', ?, 'succeeded', ?, ?, ?, 0, ?, ?)",
        )
        .bind(job_id)
        .bind(environment_id)
        .bind(request)
        .bind(&record.id)
        .bind(&record.target_id)
        .bind(&record.manifest.created_at)
        .bind(&record.manifest.finished_at)
        .execute(&mut *tx)
        .await?;
        insert_backup_row(&mut tx, record, environment_id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn backups_of(&self, environment_id: &str) -> Result<Vec<BackupRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM backups WHERE environment_id = ? AND NOT deleting
             ORDER BY created_at DESC"
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(environment_id)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn set_label(&self, id: &str, label: Label) -> Result<()> {
        sqlx::query("UPDATE backups SET label = ? WHERE id = ?")
            .bind(label.as_str())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_pinned(&self, id: &str, pinned: bool) -> Result<()> {
        let done = sqlx::query("UPDATE backups SET pinned = ? WHERE id = ? AND NOT deleting")
            .bind(pinned)
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::new(
                ErrorCode::NotFound,
                format!("There is no backup {id}."),
            ));
        }
        Ok(())
    }

    /// Marks a backup for deletion unless it is pinned or a running job reads it, in one
    /// statement: a restore or download that started after retention decided still keeps it
    /// (a reader records its job before it opens the backup, and never opens one marked).
    pub async fn mark_deleting(&self, id: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE backups SET deleting = 1 WHERE id = ? AND NOT pinned
               AND NOT EXISTS (SELECT 1 FROM jobs WHERE status = 'running'
                               AND json_extract(request, '$.backupId') = backups.id)",
        )
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Shows a backup again after storage refused to delete it, with why (`None`: clears it).
    pub async fn set_deletion_refused(&self, id: &str, reason: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE backups SET deleting = 0, deletion_refused = ? WHERE id = ?")
            .bind(reason)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Backups of an environment whose deletion from storage began: (id, target, directory).
    pub async fn backups_being_deleted(
        &self,
        environment_id: &str,
    ) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, target_id, storage_dir FROM backups WHERE environment_id = ? AND deleting",
        )
        .bind(environment_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn delete_backup(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM backups WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Backups a running job (a restore, a download) is reading, in any process.
    pub async fn backups_in_use(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT json_extract(request, '$.backupId') FROM jobs
             WHERE status = 'running' AND json_extract(request, '$.backupId') IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// When the environment's newest backup was made.
    pub async fn latest_backup_at(&self, environment_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT max(created_at) FROM backups WHERE environment_id = ? AND NOT deleting",
        )
        .bind(environment_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// When the environment's newest scheduled backup job started, whatever became of it.
    pub async fn latest_scheduled_run_at(&self, environment_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT max(created_at) FROM jobs WHERE environment_id = ? AND kind = 'backup'
               AND json_extract(request, '$.kind') = 'scheduled'",
        )
        .bind(environment_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Every backup id the catalog knows, deleted ones included (catalog sync skips these).
    pub async fn backup_ids(&self) -> Result<std::collections::HashSet<String>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM backups")
            .fetch_all(self.pool())
            .await?;
        Ok(ids.into_iter().collect())
    }
}

async fn insert_backup_row(
    tx: &mut sqlx::SqliteConnection,
    record: &BackupRecord,
    environment_id: &str,
) -> Result<()> {
    let manifest = serde_json::to_string(&record.manifest)
        .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
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
    Ok(())
}
