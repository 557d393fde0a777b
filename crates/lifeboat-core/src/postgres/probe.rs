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
    /// The server the database was reached through over SSH, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub server: Option<String>,
    /// The pg_dump backups run on that server: when the environment asks for it, or when this
    /// machine has none new enough.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub pg_dump_on_server: Option<PgDumpTool>,
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
        server: None,
        pg_dump_on_server: None,
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
    let options = match &input.ssl_root_cert {
        Some(ca) => options.ssl_root_cert(ca),
        None => options,
    };
    // Never PGPASSWORD from Lifeboat's own environment (sqlx would read it): a password goes
    // only where it was saved for, and the client tools get a cleaned environment too.
    options.password(input.password.as_deref().unwrap_or(""))
}

/// The server's certificate did not check out against the CAs this connection trusts.
fn untrusted_certificate(
    input: &PgConnectionInput,
    at: &str,
    detail: String,
) -> (ErrorCode, Option<&'static str>, String, String) {
    let trusted = input
        .ssl_root_cert
        .as_deref()
        .map_or("any CA this machine trusts".to_owned(), |ca| ca.to_owned());
    (
        ErrorCode::PgTls,
        Some("sslRootCert"),
        format!(
            "{at} could not prove it is the server you mean: its certificate is not one {trusted} vouches for. Give the CA certificate file your provider publishes (or the one that signed a self-signed server's certificate)."
        ),
        detail,
    )
}

fn connect_error(e: sqlx::Error, input: &PgConnectionInput) -> Error {
    let at = format!("{}:{}", input.host, input.port);
    // One sentence with the fix, on the field at fault; what the server said goes to `detail`.
    let (code, field, message, detail) = match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01") => (
                ErrorCode::PgAuthFailed,
                Some("password"),
                format!(
                    "The server refused this password for user “{}”.",
                    input.user
                ),
                db.message().to_owned(),
            ),
            // invalid_authorization_specification: pg_hba.conf has no line letting this in.
            Some("28000") => (
                ErrorCode::PgAuthFailed,
                Some("user"),
                format!(
                    "The server at {at} does not let user “{}” connect from here (pg_hba.conf).",
                    input.user
                ),
                db.message().to_owned(),
            ),
            Some("3D000") => (
                ErrorCode::PgDatabaseMissing,
                Some("database"),
                format!("The server at {at} has no database “{}”.", input.database),
                db.message().to_owned(),
            ),
            _ => (
                ErrorCode::PgError,
                None,
                format!("The server at {at} said: {}", db.message()),
                db.message().to_owned(),
            ),
        },
        // rustls reports a certificate it will not accept as an I/O error of the handshake.
        sqlx::Error::Io(io) if io.to_string().contains("certificate") => {
            untrusted_certificate(input, &at, io.to_string())
        }
        sqlx::Error::Io(io) => {
            let (field, message) = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => (
                    "port",
                    format!("Nothing accepts connections at {at}: check Host and Port."),
                ),
                _ if io.to_string().contains("lookup") || io.to_string().contains("resolve") => (
                    "host",
                    format!(
                        "The host name “{}” cannot be found: check Host.",
                        input.host
                    ),
                ),
                _ => (
                    "host",
                    format!("Cannot reach PostgreSQL at {at}: check Host, Port and the network."),
                ),
            };
            (
                ErrorCode::PgUnreachable,
                Some(field),
                message,
                io.to_string(),
            )
        }
        sqlx::Error::Tls(tls)
            if matches!(input.ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull) =>
        {
            untrusted_certificate(input, &at, tls.to_string())
        }
        sqlx::Error::Tls(tls) => (
            ErrorCode::PgTls,
            Some("sslMode"),
            format!("The TLS connection to {at} failed: check SSL mode."),
            tls.to_string(),
        ),
        other => (
            ErrorCode::PgError,
            None,
            format!("Connecting to {at} failed."),
            other.to_string(),
        ),
    };
    Error {
        code,
        message,
        field: field.map(str::to_owned),
        detail: Some(detail),
    }
}
