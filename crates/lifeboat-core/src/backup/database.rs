//! The database artifact: `pg_dump --format=custom` streamed into an artifact, and teed into
//! `pg_restore --list` on the way so an unreadable archive fails the backup immediately.
//! Connection settings reach pg_dump through its environment, never its argument list.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;

use super::writer_error;
use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
use crate::postgres::client::{last_lines, pg_command, read_all};
use crate::repository::artifact::{ArtifactInfo, ArtifactWriter};

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
