//! The database artifact: `pg_dump --format=custom` streamed into an artifact, and teed into
//! `pg_restore --list` on the way so an unreadable archive fails the backup immediately.
//! Connection settings reach pg_dump through its environment, never its argument list.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use lifeboat_format::chunked::PackRecord;

use tokio_util::sync::CancellationToken;

use super::deduplicated::{self, Dedup};
use super::writer_error;
use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
use crate::postgres::client::{last_lines, on_server_line, pg_command, read_all};
use crate::repository::artifact::{ArtifactInfo, ArtifactWriter};
use crate::ssh::{quote, SshSession};

pub struct DumpOutcome {
    pub artifact: ArtifactInfo,
    pub toc_entries: u64,
    /// The packs a deduplicated dump added to the repository.
    pub packs: Vec<PackRecord>,
}

/// The two programs a dump runs: pg_dump writing the archive, and `pg_restore --list` reading
/// it on the way. Here, or on the environment's server (see `on_server`).
pub struct Dumper {
    pub dump: Command,
    pub list: Command,
    /// Sent as the first line of pg_dump's input, for a pg_dump on a server: over SSH there is
    /// no other way in but the argument list, which everyone on the server can read.
    pub password: Option<String>,
    /// How pg_dump is named in errors.
    pub name: String,
}

impl Dumper {
    /// pg_dump on this machine, with the pg_restore beside it.
    pub fn here(pg_dump: &Path, conn: &PgConnectionInput) -> Self {
        let mut dump = pg_command(pg_dump, conn);
        dump.args(DUMP_ARGS);
        let mut list = Command::new(pg_dump.with_file_name("pg_restore"));
        list.arg("--list");
        Self {
            dump,
            list,
            password: None,
            name: pg_dump.display().to_string(),
        }
    }

    /// pg_dump on the environment's server (`pg_dump` is its path there), connecting as the
    /// server sees the database; the archive checked by `list`, a pg_restore here if one is
    /// new enough, else the one beside pg_dump there.
    pub fn on_server(
        session: &SshSession,
        pg_dump: &str,
        conn: &PgConnectionInput,
        local_pg_restore: Option<&Path>,
    ) -> Self {
        let args: Vec<String> = DUMP_ARGS.iter().map(|a| (*a).to_owned()).collect();
        let line = on_server_line(conn, pg_dump, &args);
        let list = match local_pg_restore {
            Some(pg_restore) => {
                let mut list = Command::new(pg_restore);
                list.arg("--list");
                list
            }
            None => {
                let beside = Path::new(pg_dump).with_file_name("pg_restore");
                session.command(&format!(
                    "exec {} --list",
                    quote(&beside.display().to_string())
                ))
            }
        };
        Self {
            dump: session.command(&line),
            list,
            password: Some(conn.password.clone().unwrap_or_default()),
            name: format!("{pg_dump} on {}", session.server()),
        }
    }
}

/// A migration holding a lock must fail the backup, not stall it (and the environment).
const DUMP_ARGS: [&str; 4] = [
    "--format=custom",
    "--compress=0",
    "--no-password",
    "--lock-wait-timeout=120s",
];

pub fn dump(
    dumper: Dumper,
    out: ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<DumpOutcome> {
    let (out, toc_entries) = dump_into(dumper, out, cancel)?;
    Ok(DumpOutcome {
        artifact: out.finish().map_err(writer_error)?,
        toc_entries,
        packs: Vec::new(),
    })
}

/// `dump`, deduplicated (format 2): the dump's bytes go to the repository as content-defined
/// chunks it does not have yet (pg_dump writes it uncompressed, so a changed row changes only
/// the chunks around it), and `out` stores the tree that rebuilds it.
pub fn dump_deduplicated(
    dumper: Dumper,
    dedup: &Dedup,
    out: ArtifactWriter,
    progress: Arc<AtomicU64>,
    cancel: &CancellationToken,
) -> Result<DumpOutcome> {
    let (tree, _) = dedup.writer(progress, true, Default::default());
    let (tree, toc_entries) = dump_into(dumper, tree, cancel)?;
    let (artifact, packs) = deduplicated::finish(tree, out)?;
    Ok(DumpOutcome {
        artifact,
        toc_entries,
        packs,
    })
}

/// Runs the dump into `out`; returns it with the number of TOC entries pg_restore listed.
fn dump_into<W: Write>(dumper: Dumper, mut out: W, cancel: &CancellationToken) -> Result<(W, u64)> {
    let Dumper {
        dump: mut dump_command,
        list: mut list_command,
        password,
        name,
    } = dumper;
    let mut dumper = dump_command
        .stdin(if password.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(ErrorCode::PgDumpMissing, format!("Cannot run {name}: {e}")))?;
    if let (Some(password), Some(mut stdin)) = (password, dumper.stdin.take()) {
        // A line, then the end: pg_dump itself reads nothing more.
        stdin.write_all(format!("{password}\n").as_bytes()).ok();
    }
    let dump_errors = read_all(dumper.stderr.take());
    let mut lister = match list_command
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
                format!("Cannot run pg_restore to check the dump: {e}"),
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
    Ok((out, toc_entries))
}

fn stream(
    mut source: impl Read,
    mut toc_input: Option<impl Write>,
    out: &mut impl Write,
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
