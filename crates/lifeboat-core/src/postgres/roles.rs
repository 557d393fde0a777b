//! The server's roles as `pg_dumpall --roles-only` writes them (no passwords): read for a
//! backup's roles artifact, counted for its manifest, and read back with psql's backslash
//! commands refused before a drill or an administrator applies them.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
use crate::postgres::client::{conninfo_dbname, last_lines, on_server_line, pg_command, read_all};
use crate::ssh::SshSession;

/// `pg_dumpall --roles-only` output above this is not kept. It is read into memory, so that a
/// role that may not read the globals fails before any upload begins; real servers' globals
/// are kilobytes.
pub const GLOBALS_LIMIT: u64 = 16 * 1024 * 1024;

/// The arguments of `pg_dumpall --roles-only` for `conn`'s database.
fn globals_args(conn: &PgConnectionInput) -> Vec<String> {
    // The environment's own database: pg_dumpall ignores --dbname's, and the role may be
    // allowed no other.
    ["--roles-only", "--no-role-passwords", "--no-password", "-l"]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([conninfo_dbname(&conn.database)])
        .collect()
}

/// The server's roles (without passwords) and their memberships as SQL, from the pg_dumpall
/// beside `pg_dump`; or why they could not be read.
pub fn dump_globals(
    pg_dump: &Path,
    conn: &PgConnectionInput,
) -> std::result::Result<Vec<u8>, String> {
    let mut command = pg_command(&pg_dump.with_file_name("pg_dumpall"), conn);
    command.args(globals_args(conn));
    read_globals(command, None)
}

/// What `dump_globals` runs on the environment's server (the pg_dumpall beside `pg_dump`
/// there), with the password its first input line carries: for `read_globals`.
pub fn globals_on_server(
    session: &SshSession,
    pg_dump: &str,
    conn: &PgConnectionInput,
) -> (std::process::Command, String) {
    let pg_dumpall = Path::new(pg_dump).with_file_name("pg_dumpall");
    let line = on_server_line(conn, &pg_dumpall.display().to_string(), &globals_args(conn));
    (
        session.command(&line),
        conn.password.clone().unwrap_or_default(),
    )
}

/// Runs a prepared pg_dumpall and reads the roles it writes (see `dump_globals`).
pub fn read_globals(
    mut command: std::process::Command,
    password: Option<String>,
) -> std::result::Result<Vec<u8>, String> {
    let mut child = command
        .stdin(if password.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run pg_dumpall: {e}"))?;
    if let (Some(password), Some(mut stdin)) = (password, child.stdin.take()) {
        std::io::Write::write_all(&mut stdin, format!("{password}\n").as_bytes()).ok();
    }
    let errors = read_all(child.stderr.take());
    let mut sql = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("stdout is piped")
        .take(GLOBALS_LIMIT + 1)
        .read_to_end(&mut sql);
    if sql.len() as u64 > GLOBALS_LIMIT {
        child.kill().ok();
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let errors = errors.join().unwrap_or_default();
    read.map_err(|e| format!("reading pg_dumpall's output failed: {e}"))?;
    if sql.len() as u64 > GLOBALS_LIMIT {
        return Err("pg_dumpall wrote more than 16 MiB".into());
    }
    if !status.success() {
        return Err(format!("pg_dumpall failed: {}", last_lines(&errors)));
    }
    Ok(sql)
}

/// Reads a roles artifact's SQL, refusing anything but SQL statements: psql would run the
/// backslash commands a forged one could hold. pg_dumpall's own `\restrict` guard lines are
/// dropped, since the psql that applies them may predate them.
pub fn read_roles(plain: &mut dyn Read) -> Result<String> {
    let mut sql = String::new();
    plain
        .take(GLOBALS_LIMIT + 1)
        .read_to_string(&mut sql)
        .map_err(|e| {
            Error::new(
                ErrorCode::ArtifactCorrupt,
                format!("The roles artifact cannot be read: {e}"),
            )
        })?;
    if sql.len() as u64 > GLOBALS_LIMIT {
        return Err(Error::new(
            ErrorCode::ArtifactCorrupt,
            "The roles artifact is larger than roles can be.",
        ));
    }
    let mut kept = String::with_capacity(sql.len());
    for line in sql.lines() {
        let meta = line.trim_start().starts_with('\\');
        if meta && !(line.starts_with("\\restrict ") || line.starts_with("\\unrestrict ")) {
            return Err(Error::new(
                ErrorCode::ArtifactCorrupt,
                format!("The roles artifact holds a psql command, which pg_dumpall never writes: {line}"),
            ));
        }
        if !meta {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    Ok(kept)
}

/// How many roles a globals dump creates.
pub fn count_roles(sql: &[u8]) -> u64 {
    sql.split(|b| *b == b'\n')
        .filter(|line| line.starts_with(b"CREATE ROLE "))
        .count() as u64
}
