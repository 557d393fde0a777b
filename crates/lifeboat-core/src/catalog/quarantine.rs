use super::{new_id, Catalog};
use crate::error::{Error, ErrorCode, Result};
use crate::model::backup::QuarantinedBackup;
use lifeboat_format::manifest::BackupManifest;

type Row = (String, String, String, String, String, String);

fn from_row(
    (id, target_id, storage_dir, manifest, reason, found_at): Row,
) -> Result<QuarantinedBackup> {
    let manifest: BackupManifest = serde_json::from_str(&manifest).map_err(|e| {
        Error::new(
            ErrorCode::Catalog,
            format!("Unreadable quarantined backup {id}: {e}"),
        )
    })?;
    Ok(QuarantinedBackup {
        id,
        target_id,
        storage_dir,
        reason,
        found_at,
        manifest,
    })
}

const COLUMNS: &str = "id, target_id, storage_dir, manifest, reason, found_at";

impl Catalog {
    /// Records a backup found in `storage_dir` that could not be authenticated; finding the same
    /// directory again updates what it claims and why.
    pub async fn quarantine(
        &self,
        target_id: &str,
        storage_dir: &str,
        manifest: &BackupManifest,
        reason: &str,
    ) -> Result<QuarantinedBackup> {
        let json = serde_json::to_string(manifest)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        sqlx::query(
            "INSERT INTO quarantined_backups
                 (id, target_id, storage_dir, backup_id, manifest, reason, found_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (target_id, storage_dir) DO UPDATE
                 SET backup_id = excluded.backup_id, manifest = excluded.manifest,
                     reason = excluded.reason",
        )
        .bind(new_id())
        .bind(target_id)
        .bind(storage_dir)
        .bind(&manifest.backup_id)
        .bind(json)
        .bind(reason)
        .bind(now)
        .execute(self.pool())
        .await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM quarantined_backups WHERE target_id = ? AND storage_dir = ?"
        );
        let row: Row = sqlx::query_as(&sql)
            .bind(target_id)
            .bind(storage_dir)
            .fetch_one(self.pool())
            .await?;
        from_row(row)
    }

    /// Every quarantined backup, newest find first.
    pub async fn quarantined(&self) -> Result<Vec<QuarantinedBackup>> {
        let sql = format!("SELECT {COLUMNS} FROM quarantined_backups ORDER BY found_at DESC, id");
        let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        rows.into_iter().map(from_row).collect()
    }

    pub async fn quarantined_backup(&self, id: &str) -> Result<QuarantinedBackup> {
        let sql = format!("SELECT {COLUMNS} FROM quarantined_backups WHERE id = ?");
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        from_row(row.ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("There is no quarantined backup {id}."),
            )
        })?)
    }

    /// Why the backup its manifest calls `backup_id` is quarantined, if it is.
    pub(super) async fn quarantine_reason(&self, backup_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT reason FROM quarantined_backups WHERE backup_id = ? ORDER BY found_at LIMIT 1",
        )
        .bind(backup_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn release_quarantined(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM quarantined_backups WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
