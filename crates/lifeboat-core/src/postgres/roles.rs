//! The server's roles as `pg_dumpall --roles-only` writes them (no passwords): read for a
//! backup's roles artifact, counted for its manifest, and read back with psql's backslash
//! commands refused before a drill or an administrator applies them.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
use crate::postgres::client::{conninfo_dbname, last_lines, pg_command, read_all};

/// `pg_dumpall --roles-only` output above this is not kept. It is read into memory, so that a
/// role that may not read the globals fails before any upload begins; real servers' globals
/// are kilobytes.
pub const GLOBALS_LIMIT: u64 = 16 * 1024 * 1024;

/// The server's roles (without passwords) and their memberships as SQL, from the pg_dumpall
/// beside `pg_dump`; or why they could not be read.
pub fn dump_globals(
    pg_dump: &Path,
    conn: &PgConnectionInput,
) -> std::result::Result<Vec<u8>, String> {
    let pg_dumpall = pg_dump.with_file_name("pg_dumpall");
    let mut child = pg_command(&pg_dumpall, conn)
        .args(["--roles-only", "--no-role-passwords", "--no-password"])
        // The environment's own database: pg_dumpall ignores --dbname's, and the role may
        // be allowed no other.
        .arg("-l")
        .arg(conninfo_dbname(&conn.database))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", pg_dumpall.display()))?;
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
