//! Django's migration history (`django_migrations`): recorded in the manifest at backup time,
//! compared after restores and drills.

pub use lifeboat_format::manifest::{AppMigration, MigrationRecord};
use sqlx::PgConnection;

use crate::error::{Error, ErrorCode, Result};

/// The history in `schema.django_migrations` (the search path's when `schema` is `None`), or
/// `None` when there is no such table (not a Django database).
pub async fn read(db: &mut PgConnection, schema: Option<&str>) -> Result<Option<MigrationRecord>> {
    let table = match schema {
        Some(schema) => format!("{}.django_migrations", quote_ident(schema)),
        None => "django_migrations".to_owned(),
    };
    let failed = |e: sqlx::Error| {
        Error::new(
            ErrorCode::PgError,
            format!("Reading django_migrations failed: {e}"),
        )
    };
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .fetch_one(&mut *db)
        .await
        .map_err(failed)?;
    if !exists {
        return Ok(None);
    }
    let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut *db)
        .await
        .map_err(failed)?;
    let latest = sqlx::query_as::<_, (String, String)>(&format!(
        "SELECT app::text, max(name)::text FROM {table} GROUP BY app ORDER BY app"
    ))
    .fetch_all(&mut *db)
    .await
    .map_err(failed)?
    .into_iter()
    .map(|(app, name)| AppMigration { app, name })
    .collect();
    Ok(Some(MigrationRecord {
        count: u64::try_from(count).unwrap_or(0),
        latest,
    }))
}

pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
