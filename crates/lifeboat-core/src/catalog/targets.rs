use super::{name_conflict, Catalog};
use crate::error::{Error, ErrorCode, Result};
use crate::model::setup::{StorageTarget, TargetConfig};

const DUPLICATE: &str = "A storage target with this name already exists.";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    is_default: bool,
    config: String,
    created_at: String,
}

impl TryFrom<Row> for StorageTarget {
    type Error = Error;

    fn try_from(r: Row) -> Result<Self> {
        let config = serde_json::from_str(&r.config).map_err(|e| {
            Error::new(
                ErrorCode::Catalog,
                format!("Storage target “{}” has unreadable settings: {e}", r.name),
            )
        })?;
        Ok(StorageTarget {
            id: r.id,
            name: r.name,
            is_default: r.is_default,
            config,
            created_at: r.created_at,
        })
    }
}

fn to_json(config: &TargetConfig) -> Result<String> {
    serde_json::to_string(config).map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("Cannot encode target settings: {e}"),
        )
    })
}

impl Catalog {
    pub async fn insert_target(
        &self,
        id: &str,
        name: &str,
        config: &TargetConfig,
        is_default: bool,
    ) -> Result<StorageTarget> {
        let row: Row = sqlx::query_as(
            "INSERT INTO storage_targets (id, name, config, is_default) VALUES (?, ?, ?, ?)
             RETURNING id, name, is_default, config, created_at",
        )
        .bind(id)
        .bind(name)
        .bind(to_json(config)?)
        .bind(is_default)
        .fetch_one(self.pool())
        .await
        .map_err(|e| name_conflict(e, DUPLICATE))?;
        row.try_into()
    }

    pub async fn update_target(
        &self,
        id: &str,
        name: &str,
        config: &TargetConfig,
    ) -> Result<StorageTarget> {
        let row: Option<Row> = sqlx::query_as(
            "UPDATE storage_targets SET name = ?, config = ? WHERE id = ?
             RETURNING id, name, is_default, config, created_at",
        )
        .bind(name)
        .bind(to_json(config)?)
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| name_conflict(e, DUPLICATE))?;
        row.ok_or_else(|| Error::not_found("The storage target"))?
            .try_into()
    }

    pub async fn target(&self, id: &str) -> Result<StorageTarget> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, name, is_default, config, created_at FROM storage_targets WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.ok_or_else(|| Error::not_found("The storage target"))?
            .try_into()
    }

    pub async fn default_target(&self) -> Result<StorageTarget> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, name, is_default, config, created_at FROM storage_targets WHERE is_default = 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.ok_or_else(|| Error::not_found("The default storage target"))?
            .try_into()
    }

    pub async fn targets(&self) -> Result<Vec<StorageTarget>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, name, is_default, config, created_at FROM storage_targets
             ORDER BY is_default DESC, name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn delete_target(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM storage_targets WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("The storage target"));
        }
        Ok(())
    }
}
