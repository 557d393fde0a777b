use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use ts_rs::TS;

use super::tools::{self, PgDumpTool};
use crate::connection::{PgConnectionInput, SslMode};
use crate::error::{Error, ErrorCode, Result};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ConnectionReport {
    pub server_version: String,
    pub server_major: u32,
    #[ts(type = "number")]
    pub database_size_bytes: u64,
    /// The pg_dump backups will use; `None` when no installed one is new enough.
    pub pg_dump: Option<PgDumpTool>,
    pub pg_dump_candidates: Vec<PgDumpTool>,
}

/// Connects, reads the server version and database size, and picks a compatible pg_dump.
pub async fn probe(
    input: &PgConnectionInput,
    pg_bin_dir: Option<&Path>,
) -> Result<ConnectionReport> {
    let mut conn = connect(input).await?;
    let (server_version, version_num, size): (String, String, i64) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('server_version_num'),
                pg_database_size(current_database())",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|e| {
        Error::new(
            ErrorCode::PgError,
            format!("The server refused the size query: {e}"),
        )
    })?;
    conn.close().await.ok();
    let server_major = version_num.parse::<u32>().unwrap_or(0) / 10_000;
    let candidates = tools::find_pg_dumps(pg_bin_dir).await;
    Ok(ConnectionReport {
        server_version: server_version
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        server_major,
        database_size_bytes: u64::try_from(size).unwrap_or(0),
        pg_dump: tools::choose_pg_dump(&candidates, server_major).cloned(),
        pg_dump_candidates: candidates,
    })
}

/// Connects with the errors people can act on (wrong password, missing database, unreachable).
pub async fn connect(input: &PgConnectionInput) -> Result<sqlx::PgConnection> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_options(input).connect())
        .await
        .map_err(|_| {
            Error::new(
                ErrorCode::PgTimeout,
                format!(
                    "{}:{} did not answer within {} seconds.",
                    input.host,
                    input.port,
                    CONNECT_TIMEOUT.as_secs()
                ),
            )
        })?
        .map_err(|e| connect_error(e, input))
}

pub(crate) fn connect_options(input: &PgConnectionInput) -> PgConnectOptions {
    let options = PgConnectOptions::new_without_pgpass()
        .host(&input.host)
        .port(input.port)
        .database(&input.database)
        .username(&input.user)
        .application_name("lifeboat")
        .ssl_mode(match input.ssl_mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require => PgSslMode::Require,
            SslMode::VerifyCa => PgSslMode::VerifyCa,
            SslMode::VerifyFull => PgSslMode::VerifyFull,
        });
    match &input.password {
        Some(p) => options.password(p),
        None => options,
    }
}

fn connect_error(e: sqlx::Error, input: &PgConnectionInput) -> Error {
    let at = format!("{}:{}", input.host, input.port);
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification (pg_hba refused)
            Some("28P01") | Some("28000") => Error::new(
                ErrorCode::PgAuthFailed,
                format!(
                    "The server at {at} refused user “{}”: {}",
                    input.user,
                    db.message()
                ),
            ),
            Some("3D000") => Error::field(
                ErrorCode::PgDatabaseMissing,
                "database",
                format!("The server at {at} has no database “{}”.", input.database),
            ),
            _ => Error::new(
                ErrorCode::PgError,
                format!("The server at {at} said: {}", db.message()),
            ),
        },
        sqlx::Error::Io(io) => Error::new(
            ErrorCode::PgUnreachable,
            format!("Cannot reach PostgreSQL at {at}: {io}"),
        ),
        sqlx::Error::Tls(tls) => Error::new(
            ErrorCode::PgTls,
            format!("The TLS connection to {at} failed: {tls}"),
        ),
        other => Error::new(
            ErrorCode::PgError,
            format!("Connecting to {at} failed: {other}"),
        ),
    }
}
