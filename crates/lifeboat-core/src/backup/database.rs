//! The database artifact: `pg_dump --format=custom` streamed into an artifact, and teed into
//! `pg_restore --list` on the way so an unreadable archive fails the backup immediately.
//! Connection settings reach pg_dump through its environment, never its argument list.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;

use super::artifact::{ArtifactInfo, ArtifactWriter};
use super::writer_error;
use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
use crate::postgres::client::{conninfo_dbname, last_lines, pg_command, read_all};

pub struct DumpOutcome {
    pub artifact: ArtifactInfo,
    pub toc_entries: u64,
}

pub fn dump(
    pg_dump: &Path,
    conn: &PgConnectionInput,
    mut out: ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<DumpOutcome> {
    let mut dumper = pg_command(pg_dump, conn)
        // A migration holding a lock must fail the backup, not stall it (and the environment).
        .args([
            "--format=custom",
            "--compress=0",
            "--no-password",
            "--lock-wait-timeout=120s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(
                ErrorCode::PgDumpMissing,
                format!("Cannot run {}: {e}", pg_dump.display()),
            )
        })?;
    let dump_errors = read_all(dumper.stderr.take());
    let pg_restore = pg_dump.with_file_name("pg_restore");
    let mut lister = match Command::new(&pg_restore)
        .arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            dumper.kill().ok();
            dumper.wait().ok();
            return Err(Error::new(
                ErrorCode::PgDumpMissing,
                format!("Cannot run {} to check the dump: {e}", pg_restore.display()),
            ));
        }
    };
    let toc_entries = count_toc_entries(lister.stdout.take());
    let list_errors = read_all(lister.stderr.take());

    let source = dumper.stdout.take().expect("stdout is piped");
    let toc_input = lister.stdin.take();
    // pg_dump may sit silent for long (waiting on a lock): cancelling must not wait for its
    // next output, so a watcher kills it, which ends the read below.
    let dumper = Arc::new(Mutex::new(dumper));
    let watcher = tokio::runtime::Handle::current().spawn({
        let dumper = dumper.clone();
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            dumper.lock().unwrap().kill().ok();
        }
    });
    let streamed = stream(source, toc_input, &mut out, cancel);
    watcher.abort();
    let mut dumper = dumper.lock().unwrap();
    if streamed.is_err() {
        dumper.kill().ok();
        lister.kill().ok();
    }
    let dump_status = dumper.wait();
    let list_status = lister.wait();
    let dump_errors = dump_errors.join().unwrap_or_default();
    let toc_entries = toc_entries.join().unwrap_or(0);
    let list_errors = list_errors.join().unwrap_or_default();
    streamed?;
    let waited = |e: std::io::Error| {
        Error::new(
            ErrorCode::PgDumpFailed,
            format!("Waiting for pg_dump failed: {e}"),
        )
    };
    let (dump_status, list_status) = (dump_status.map_err(waited)?, list_status.map_err(waited)?);
    if !dump_status.success() {
        return Err(Error::new(
            ErrorCode::PgDumpFailed,
            format!(
                "pg_dump failed ({dump_status}): {}",
                last_lines(&dump_errors)
            ),
        ));
    }
    // An empty database has no entries; a damaged archive makes pg_restore fail.
    if !list_status.success() {
        return Err(Error::new(
            ErrorCode::DumpUnreadable,
            format!(
                "pg_restore --list could not read the dump: {}",
                last_lines(&list_errors)
            ),
        ));
    }
    let artifact = out.finish().map_err(writer_error)?;
    Ok(DumpOutcome {
        artifact,
        toc_entries,
    })
}

fn stream(
    mut source: impl Read,
    mut toc_input: Option<impl Write>,
    out: &mut ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        let n = match source.read(&mut buf) {
            Ok(0) if cancel.is_cancelled() => return Err(Error::cancelled()),
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::new(
                    ErrorCode::PgDumpFailed,
                    format!("Reading pg_dump's output failed: {e}"),
                ))
            }
        };
        out.write_all(&buf[..n]).map_err(writer_error)?;
        // pg_restore --list stops reading once it has the table of contents.
        if let Some(input) = &mut toc_input {
            if input.write_all(&buf[..n]).is_err() {
                toc_input = None;
            }
        }
    }
}

/// Lines of `pg_restore --list` that are not comments are TOC entries.
fn count_toc_entries(stream: Option<impl Read + Send + 'static>) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        stream.map_or(0, |s| {
            BufReader::new(s)
                .lines()
                .map_while(|l| l.ok())
                .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
                .count() as u64
        })
    })
}

/// `pg_dumpall --roles-only` output above this is not kept. It is read into memory, so that a
/// role that may not read the globals fails before any upload begins; real servers' globals
/// are kilobytes.
pub(crate) const GLOBALS_LIMIT: u64 = 16 * 1024 * 1024;

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
