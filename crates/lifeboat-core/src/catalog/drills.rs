use super::Catalog;
use crate::error::{Error, ErrorCode, Result};
use crate::model::drill::DrillReport;

impl Catalog {
    pub async fn insert_drill(&self, report: &DrillReport) -> Result<()> {
        let json = serde_json::to_string(report)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        sqlx::query(
            "INSERT INTO drills (id, environment_id, backup_id, started_at, ok, report)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&report.id)
        .bind(&report.environment_id)
        .bind(&report.backup_id)
        .bind(&report.started_at)
        .bind(report.ok)
        .bind(json)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An environment's drills, newest first.
    pub async fn drills_of(&self, environment_id: &str) -> Result<Vec<DrillReport>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT report FROM drills WHERE environment_id = ? ORDER BY started_at DESC",
        )
        .bind(environment_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect())
    }

    /// The environment's newest drill, for the overview.
    pub async fn latest_drill(&self, environment_id: &str) -> Result<Option<DrillReport>> {
        let json: Option<String> = sqlx::query_scalar(
            "SELECT report FROM drills WHERE environment_id = ? ORDER BY started_at DESC LIMIT 1",
        )
        .bind(environment_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// When the environment's newest drill started, whatever became of it.
    pub async fn latest_drill_at(&self, environment_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT max(created_at) FROM jobs WHERE environment_id = ? AND kind = 'drill'",
        )
        .bind(environment_id)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn drill_checks(&self, environment_id: &str) -> Result<Vec<String>> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT drill_checks FROM environments WHERE id = ?")
                .bind(environment_id)
                .fetch_optional(self.pool())
                .await?
                .flatten();
        Ok(json
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }

    pub async fn set_drill_checks(&self, environment_id: &str, checks: &[String]) -> Result<()> {
        let json = serde_json::to_string(checks)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let done = sqlx::query("UPDATE environments SET drill_checks = ? WHERE id = ?")
            .bind(json)
            .bind(environment_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("The environment"));
        }
        Ok(())
    }
}
