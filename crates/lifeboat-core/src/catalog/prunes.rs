use super::{new_id, Catalog};
use crate::error::Result;
use crate::model::activity::PruneRecord;

impl Catalog {
    pub async fn record_prune(&self, environment_id: &str, prune: &PruneRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO prunes (id, environment_id, at, deleted, freed_bytes) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(new_id())
        .bind(environment_id)
        .bind(&prune.at)
        .bind(i64::from(prune.deleted))
        .bind(i64::try_from(prune.freed_bytes).unwrap_or(i64::MAX))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An environment's prunes that deleted something, newest first.
    pub async fn prunes_of(&self, environment_id: &str) -> Result<Vec<PruneRecord>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT at, deleted, freed_bytes FROM prunes WHERE environment_id = ? ORDER BY at DESC",
        )
        .bind(environment_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(at, deleted, freed)| PruneRecord {
                at,
                deleted: u32::try_from(deleted).unwrap_or(0),
                freed_bytes: u64::try_from(freed).unwrap_or(0),
            })
            .collect())
    }
}
