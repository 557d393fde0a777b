use super::{name_conflict, new_id, Catalog};
use crate::error::{Error, Result};
use crate::model::setup::Application;

const DUPLICATE: &str = "An application with this name already exists.";

impl Catalog {
    pub async fn insert_application(&self, name: &str) -> Result<Application> {
        sqlx::query_as(
            "INSERT INTO applications (id, name) VALUES (?, ?) RETURNING id, name, created_at",
        )
        .bind(new_id())
        .bind(name)
        .fetch_one(self.pool())
        .await
        .map_err(|e| name_conflict(e, DUPLICATE))
    }

    pub async fn rename_application(&self, id: &str, name: &str) -> Result<Application> {
        sqlx::query_as(
            "UPDATE applications SET name = ? WHERE id = ? RETURNING id, name, created_at",
        )
        .bind(name)
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| name_conflict(e, DUPLICATE))?
        .ok_or_else(|| Error::not_found("The application"))
    }

    pub async fn application(&self, id: &str) -> Result<Application> {
        sqlx::query_as("SELECT id, name, created_at FROM applications WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| Error::not_found("The application"))
    }

    pub async fn applications(&self) -> Result<Vec<Application>> {
        Ok(
            sqlx::query_as("SELECT id, name, created_at FROM applications ORDER BY name")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Environments go with it (ON DELETE CASCADE).
    pub async fn delete_application(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM applications WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("The application"));
        }
        Ok(())
    }
}
