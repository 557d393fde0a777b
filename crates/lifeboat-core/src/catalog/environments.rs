use super::{name_conflict, Catalog};
use crate::connection::{PgConnection, PgConnectionInput, SslMode};
use crate::error::{Error, ErrorCode, Result};
use crate::model::setup::{DrillPlace, Environment, MediaBucket};
use crate::retention::RetentionPolicy;
use crate::schedule::{StoredRecurrence, StoredSchedule};

const DUPLICATE: &str = "This application already has an environment with this name.";
const COLUMNS: &str =
    "id, application_id, name, pg_host, pg_port, pg_database, pg_user, pg_ssl_mode, \
                       pg_ssl_root_cert, pg_password_saved, media_dir, target_id, created_at, retention, schedule, drill_schedule, drill_server, hooks, ssh_server, dump_on_server, media_bucket";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    application_id: String,
    name: String,
    pg_host: Option<String>,
    pg_port: Option<i64>,
    pg_database: Option<String>,
    pg_user: Option<String>,
    pg_ssl_mode: Option<String>,
    pg_ssl_root_cert: Option<String>,
    pg_password_saved: bool,
    media_dir: Option<String>,
    target_id: String,
    created_at: String,
    retention: Option<String>,
    schedule: Option<String>,
    drill_schedule: Option<String>,
    drill_server: Option<String>,
    hooks: Option<String>,
    ssh_server: Option<String>,
    dump_on_server: bool,
    media_bucket: Option<String>,
}

impl From<Row> for Environment {
    fn from(r: Row) -> Self {
        let connection = match (r.pg_host, r.pg_database, r.pg_user) {
            (Some(host), Some(database), Some(user)) => Some(PgConnection {
                host,
                port: r
                    .pg_port
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(5432),
                database,
                user,
                ssl_mode: r
                    .pg_ssl_mode
                    .as_deref()
                    .and_then(SslMode::parse)
                    .unwrap_or_default(),
                ssl_root_cert: r.pg_ssl_root_cert,
                has_password: r.pg_password_saved,
            }),
            _ => None,
        };
        Environment {
            id: r.id,
            application_id: r.application_id,
            name: r.name,
            connection,
            media_dir: r.media_dir,
            target_id: r.target_id,
            created_at: r.created_at,
            // Unreadable (written by a newer Lifeboat) reads as the defaults, never as "keep nothing".
            retention: r
                .retention
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default(),
            schedule: r.schedule.and_then(|json| serde_json::from_str(&json).ok()),
            drill_schedule: r
                .drill_schedule
                .and_then(|json| serde_json::from_str(&json).ok()),
            drill_place: r
                .drill_server
                .map(|json| drill_place(&json))
                .unwrap_or_default(),
            hooks: r
                .hooks
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default(),
            server: r.ssh_server,
            dump_on_server: r.dump_on_server,
            media_bucket: r
                .media_bucket
                .and_then(|json| serde_json::from_str(&json).ok()),
        }
    }
}

/// Reads the `drill_server` column: a drill place, or (written before drills had a scratch
/// server) the connection of another server. Unreadable reads as the scratch server, which
/// never touches a server the user did not choose.
fn drill_place(json: &str) -> DrillPlace {
    serde_json::from_str(json)
        .or_else(|_| serde_json::from_str(json).map(|connection| DrillPlace::Server { connection }))
        .unwrap_or_default()
}

/// What is written for an environment; the password itself goes to the keyring.
pub struct EnvironmentRecord<'a> {
    pub id: &'a str,
    pub application_id: &'a str,
    pub name: &'a str,
    pub connection: Option<&'a PgConnectionInput>,
    pub password_saved: bool,
    pub media_dir: Option<&'a str>,
    pub target_id: &'a str,
}

type RowQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Sqlite, Row, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds the editable fields, in the order both statements below list them.
fn bind_fields<'q>(query: RowQuery<'q>, r: &EnvironmentRecord<'q>) -> RowQuery<'q> {
    let c = r.connection;
    query
        .bind(r.name)
        .bind(c.map(|c| c.host.as_str()))
        .bind(c.map(|c| i64::from(c.port)))
        .bind(c.map(|c| c.database.as_str()))
        .bind(c.map(|c| c.user.as_str()))
        .bind(c.map(|c| c.ssl_mode.as_str()))
        .bind(c.and_then(|c| c.ssl_root_cert.as_deref()))
        .bind(r.password_saved)
        .bind(r.media_dir)
        .bind(r.target_id)
}

impl Catalog {
    pub async fn insert_environment(&self, r: &EnvironmentRecord<'_>) -> Result<Environment> {
        let sql = format!(
            "INSERT INTO environments (name, pg_host, pg_port, pg_database, pg_user, pg_ssl_mode,
                 pg_ssl_root_cert, pg_password_saved, media_dir, target_id, id, application_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        );
        let row = bind_fields(sqlx::query_as(&sql), r)
            .bind(r.id)
            .bind(r.application_id)
            .fetch_one(self.pool())
            .await
            .map_err(|e| name_conflict(e, DUPLICATE))?;
        Ok(row.into())
    }

    pub async fn update_environment(&self, r: &EnvironmentRecord<'_>) -> Result<Environment> {
        let sql = format!(
            "UPDATE environments SET name = ?, pg_host = ?, pg_port = ?, pg_database = ?, pg_user = ?,
                 pg_ssl_mode = ?, pg_ssl_root_cert = ?, pg_password_saved = ?, media_dir = ?,
                 target_id = ?
             WHERE id = ? RETURNING {COLUMNS}"
        );
        let row = bind_fields(sqlx::query_as(&sql), r)
            .bind(r.id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| name_conflict(e, DUPLICATE))?;
        row.map(Into::into)
            .ok_or_else(|| Error::not_found("The environment"))
    }

    pub async fn environment(&self, id: &str) -> Result<Environment> {
        let sql = format!("SELECT {COLUMNS} FROM environments WHERE id = ?");
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(Into::into)
            .ok_or_else(|| Error::not_found("The environment"))
    }

    pub async fn environments_of(&self, application_id: &str) -> Result<Vec<Environment>> {
        let sql =
            format!("SELECT {COLUMNS} FROM environments WHERE application_id = ? ORDER BY name");
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(application_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn all_environments(&self) -> Result<Vec<Environment>> {
        let sql = format!("SELECT {COLUMNS} FROM environments ORDER BY name");
        let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn delete_environment(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM environments WHERE id = ?")
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("The environment"));
        }
        Ok(())
    }

    pub async fn set_retention(&self, id: &str, policy: &RetentionPolicy) -> Result<Environment> {
        self.set_json_column(id, "retention", Some(policy)).await
    }

    pub async fn set_schedule(
        &self,
        id: &str,
        schedule: Option<&StoredSchedule>,
    ) -> Result<Environment> {
        self.set_json_column(id, "schedule", schedule).await
    }

    pub async fn set_drill_schedule(
        &self,
        id: &str,
        schedule: Option<&StoredRecurrence>,
    ) -> Result<Environment> {
        self.set_json_column(id, "drill_schedule", schedule).await
    }

    pub async fn set_drill_place(&self, id: &str, place: &DrillPlace) -> Result<Environment> {
        let stored = (*place != DrillPlace::Scratch).then_some(place);
        self.set_json_column(id, "drill_server", stored).await
    }

    pub async fn set_hooks(
        &self,
        id: &str,
        hooks: &crate::model::hooks::Hooks,
    ) -> Result<Environment> {
        self.set_json_column(id, "hooks", Some(hooks)).await
    }

    pub async fn set_server(&self, id: &str, server: Option<&str>) -> Result<Environment> {
        self.set_column(id, "ssh_server", server.map(str::to_owned))
            .await
    }

    pub async fn set_dump_on_server(&self, id: &str, on_server: bool) -> Result<Environment> {
        self.set_column(id, "dump_on_server", on_server).await
    }

    /// Sets (or with `None` clears) the bucket the media is in; setting one clears the media
    /// directory, as the environment has one or the other.
    pub async fn set_media_bucket(
        &self,
        id: &str,
        bucket: Option<&MediaBucket>,
    ) -> Result<Environment> {
        if bucket.is_some() {
            self.set_column(id, "media_dir", None::<String>).await?;
        }
        self.set_json_column(id, "media_bucket", bucket).await
    }

    /// Sets one of the environment's JSON columns (`column` is one of ours, never user input).
    async fn set_json_column<T: serde::Serialize>(
        &self,
        id: &str,
        column: &str,
        value: Option<&T>,
    ) -> Result<Environment> {
        let json = value
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        self.set_column(id, column, json).await
    }

    /// Sets one column of the environment (`column` is one of ours, never user input).
    async fn set_column<T>(&self, id: &str, column: &str, value: T) -> Result<Environment>
    where
        T: Send + for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        let sql = format!("UPDATE environments SET {column} = ? WHERE id = ? RETURNING {COLUMNS}");
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(value)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(Into::into)
            .ok_or_else(|| Error::not_found("The environment"))
    }

    pub async fn environments_using_target(&self, target_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM environments WHERE target_id = ?")
                .bind(target_id)
                .fetch_one(self.pool())
                .await?,
        )
    }
}
