//! The local SQLite catalog: applications, environments, storage targets, settings.
//! Migrations are embedded and applied on open; WAL mode, foreign keys on.

pub mod applications;
pub mod backups;
pub mod drills;
pub mod environments;
pub mod jobs;
pub mod prunes;
pub mod quarantine;
pub mod settings;
pub mod targets;
pub mod uploads;

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;

use crate::error::{Error, ErrorCode, Result};

#[derive(Debug, Clone)]
pub struct Catalog {
    pool: SqlitePool,
}

impl Catalog {
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorCode::Catalog,
                    format!("Cannot open the catalog at {}: {e}", path.display()),
                )
            })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // Its owner's only, like the home around it (SQLite creates it with the umask).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Maps a UNIQUE violation to a `conflict` on the form's name field.
pub(crate) fn name_conflict(e: sqlx::Error, message: &str) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Error::field(ErrorCode::Conflict, "name", message)
        }
        _ => e.into(),
    }
}
