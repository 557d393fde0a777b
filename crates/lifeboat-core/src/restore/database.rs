//! Restoring a dump with stock `pg_restore --single-transaction`, streamed from storage.
//!
//! The destination changes only when pg_restore commits, and pg_restore cannot commit before it
//! has read the whole archive. So the last bytes of the plaintext are held back until the
//! artifact's checksums have matched the manifest: a damaged or truncated artifact, a cancel, or
//! this process dying all end with pg_restore killed or reading a premature end of file, and its
//! transaction rolled back — the destination exactly as it was.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sqlx::Connection;
use tokio_util::sync::CancellationToken;

use super::plan::{Decision, PlannedObject};
use crate::connection::PgConnectionInput;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
pub use crate::model::restore::DatabaseRestoreSummary;
use crate::model::verify::VerifyCheck;
use crate::postgres::client::{conninfo_dbname, last_lines, pg_command, read_all};
use crate::postgres::migrations::{self};
use crate::postgres::toc::{ListFile, Toc};
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::manifest::DatabasePart;
use lifeboat_format::read::ArtifactReader;

/// Bytes of plaintext withheld from pg_restore until the checksums match; more than the
/// archive's final block marker, so pg_restore is provably still waiting for input.
const HELD_BACK: usize = 64 * 1024;

/// What the restored database must hold afterwards, from the dump's table of contents and
/// the plan.
#[derive(Debug, Default, Clone)]
pub struct Contents {
    pub tables: Vec<(String, String)>,
    pub extensions: Vec<String>,
    /// Objects left as the destination had them instead of being recreated.
    pub kept: Vec<PlannedObject>,
}

impl Contents {
    pub fn new(toc: &Toc, decision: &Decision) -> Self {
        Self {
            tables: toc.tables(),
            extensions: toc.extensions(),
            kept: decision.plan.kept.clone(),
        }
    }
}

pub struct Options {
    /// Restore the grants recorded in the dump.
    pub privileges: bool,
    /// Restore the owners recorded in the dump (a drill on a cluster that took the backup's
    /// roles). Otherwise owners follow the destination: the restoring role owns what it
    /// creates.
    pub owners: bool,
    /// Put objects in the tablespaces the dump names (off: the destination's default).
    pub tablespaces: bool,
}

/// pg_restore running inside its transaction, fed everything but the held-back tail.
/// Dropping it kills pg_restore, which rolls the transaction back.
pub struct PendingRestore {
    child: Arc<Mutex<Child>>,
    input: Option<HoldBack<ChildStdin>>,
    errors: Option<JoinHandle<String>>,
    contents: Contents,
    watcher: tokio::task::JoinHandle<()>,
    /// pg_restore reads it after the archive's header; it goes with the restore.
    _list: ListFile,
}

/// Streams the artifact into pg_restore, leaving out what `decision` keeps, and checks it
/// against the manifest, stopping short of the commit.
#[allow(clippy::too_many_arguments)] // one call site each in restore and drill
pub fn stage(
    pg_restore: &Path,
    conn: &PgConnectionInput,
    options: &Options,
    toc: &Toc,
    decision: &Decision,
    mut plain: ArtifactReader,
    info: &ArtifactInfo,
    cancel: &CancellationToken,
) -> Result<PendingRestore> {
    let list = ListFile::write(&toc.list_file(&decision.skipped))?;
    let mut command = pg_command(pg_restore, conn);
    command
        .args([
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
        ])
        .arg(format!("--dbname={}", conninfo_dbname(&conn.database)))
        .arg("--use-list")
        .arg(list.path())
        // A live application holding locks on the tables must fail the restore, not hang it.
        .env("PGOPTIONS", "-c lock_timeout=120s")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !options.privileges {
        command.arg("--no-privileges");
    }
    if !options.owners {
        command.arg("--no-owner");
    }
    if !options.tablespaces {
        command.arg("--no-tablespaces");
    }
    let mut child = command.spawn().map_err(|e| {
        Error::new(
            ErrorCode::PgDumpMissing,
            format!("Cannot run {}: {e}", pg_restore.display()),
        )
    })?;
    let errors = read_all(child.stderr.take());
    let input = HoldBack::new(child.stdin.take().expect("stdin is piped"));
    let child = Arc::new(Mutex::new(child));
    // pg_restore may sit waiting on a lock: cancelling must not wait for it to read again.
    let watcher = tokio::runtime::Handle::current().spawn({
        let child = child.clone();
        let cancel = cancel.clone();
        async move {
            cancel.cancelled().await;
            child.lock().unwrap().kill().ok();
        }
    });
    let mut pending = PendingRestore {
        child,
        input: Some(input),
        errors: Some(errors),
        contents: Contents::new(toc, decision),
        watcher,
        _list: list,
    };
    if let Err(e) = feed(&mut plain, &mut pending, cancel) {
        return Err(pending.failure(e));
    }
    plain.finish(info).map_err(|e| {
        Error::new(
            ErrorCode::ChecksumMismatch,
            format!(
                "The database artifact does not match its manifest, so nothing was restored: {e}"
            ),
        )
    })?;
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    Ok(pending)
}

fn feed(
    plain: &mut ArtifactReader,
    pending: &mut PendingRestore,
    cancel: &CancellationToken,
) -> Result<()> {
    let input = pending.input.as_mut().expect("input is open while feeding");
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        let n = match plain.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::new(
                    ErrorCode::ArtifactCorrupt,
                    format!("The database artifact is damaged, so nothing was restored ({e})."),
                ))
            }
        };
        input.write_all(&buf[..n]).map_err(|_| {
            if cancel.is_cancelled() {
                return Error::cancelled();
            }
            // pg_restore stopped reading: it failed; its own message says why.
            Error::new(ErrorCode::PgRestoreFailed, String::new())
        })?;
    }
}

impl PendingRestore {
    /// Kills pg_restore and turns what it said into the error to report, when it said anything.
    fn failure(&mut self, e: Error) -> Error {
        if e.code == ErrorCode::Cancelled {
            return e;
        }
        self.stop();
        let said = self
            .errors
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        if e.code == ErrorCode::PgRestoreFailed {
            return Error::new(
                ErrorCode::PgRestoreFailed,
                format!(
                    "pg_restore failed and the destination was left as it was: {}",
                    last_lines(&said)
                ),
            );
        }
        e
    }

    fn stop(&mut self) {
        self.input = None;
        let mut child = self.child.lock().unwrap();
        child.kill().ok();
        child.wait().ok();
    }

    /// The point of no return: hands pg_restore the rest of the archive and waits for it to
    /// commit. A failure here still rolls back.
    pub fn commit(mut self) -> Result<Contents> {
        self.watcher.abort();
        let released = self
            .input
            .take()
            .expect("input is open until commit")
            .release();
        let status = self.child.lock().unwrap().wait();
        let said = self
            .errors
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        match status {
            Ok(status) if status.success() && released.is_ok() => {
                Ok(std::mem::take(&mut self.contents))
            }
            _ => Err(Error::new(
                ErrorCode::PgRestoreFailed,
                format!(
                    "pg_restore failed and rolled back; the destination database was left as it was: {}",
                    last_lines(&said)
                ),
            )),
        }
    }
}

impl Drop for PendingRestore {
    fn drop(&mut self) {
        self.watcher.abort();
        if self.input.is_some() {
            self.stop();
        }
    }
}

/// A writer that keeps the last `HELD_BACK` bytes until `release`.
struct HoldBack<W: Write> {
    out: W,
    held: Vec<u8>,
}

impl<W: Write> HoldBack<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            held: Vec::with_capacity(2 * HELD_BACK),
        }
    }

    fn release(mut self) -> io::Result<()> {
        self.out.write_all(&self.held)?;
        self.out.flush()
        // Dropping `out` closes pg_restore's input.
    }
}

impl<W: Write> Write for HoldBack<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(buf);
        if self.held.len() > HELD_BACK {
            let pass = self.held.len() - HELD_BACK;
            self.out.write_all(&self.held[..pass])?;
            self.held.drain(..pass);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Checks the destination after the commit against what the dump held.
pub async fn check(
    conn: &PgConnectionInput,
    contents: &Contents,
) -> Result<(DatabaseRestoreSummary, Vec<VerifyCheck>)> {
    let mut db = crate::postgres::connect(conn).await?;
    let query_failed = |e: sqlx::Error| {
        Error::new(
            ErrorCode::PgError,
            format!("Checking the restored database failed: {e}"),
        )
    };
    let (schemas, names): (Vec<String>, Vec<String>) = contents.tables.iter().cloned().unzip();
    let present: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::text[], $2::text[]) AS t(s, n)
         WHERE to_regclass(quote_ident(s) || '.' || quote_ident(n)) IS NOT NULL",
    )
    .bind(&schemas)
    .bind(&names)
    .fetch_one(&mut db)
    .await
    .map_err(query_failed)?;
    let installed: Vec<String> =
        sqlx::query_scalar("SELECT extname::text FROM pg_extension WHERE extname = ANY($1)")
            .bind(&contents.extensions)
            .fetch_all(&mut db)
            .await
            .map_err(query_failed)?;
    let migrations_table = contents
        .tables
        .iter()
        .find(|(_, name)| name == "django_migrations");
    let latest_migrations = match migrations_table {
        Some((schema, _)) => migrations::read(&mut db, Some(schema))
            .await?
            .map(|record| record.latest)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    db.close().await.ok();

    let mut checks = vec![VerifyCheck {
        name: "tables".into(),
        ok: present as usize == contents.tables.len(),
        detail: format!(
            "{present} of the dump's {} tables exist",
            contents.tables.len()
        ),
    }];
    if migrations_table.is_some() {
        checks.push(VerifyCheck {
            name: "django migrations".into(),
            ok: !latest_migrations.is_empty(),
            detail: format!("django_migrations lists {} apps", latest_migrations.len()),
        });
    }
    let missing: Vec<&String> = contents
        .extensions
        .iter()
        .filter(|e| !installed.contains(e))
        .collect();
    checks.push(VerifyCheck {
        name: "extensions".into(),
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!(
                "{} of {} present",
                installed.len(),
                contents.extensions.len()
            )
        } else {
            format!(
                "missing: {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    });
    if !contents.kept.is_empty() {
        let kept: Vec<String> = contents
            .kept
            .iter()
            .map(|o| format!("{} {}", o.kind, o.name))
            .collect();
        checks.push(VerifyCheck {
            name: "kept as they were".into(),
            ok: true,
            detail: kept.join(", "),
        });
    }
    let summary = DatabaseRestoreSummary {
        database: conn.database.clone(),
        tables: present.max(0) as u64,
        extensions: installed,
        latest_migrations,
        kept: contents.kept.clone(),
    };
    Ok((summary, checks))
}

impl Context {
    /// The pg_restore that reads `part`, once the server behind `connection` (called `name`)
    /// is known to be new enough for it.
    pub(crate) async fn restore_tool(
        &self,
        part: &DatabasePart,
        connection: &PgConnectionInput,
        name: &str,
    ) -> Result<PathBuf> {
        let settings = self.settings().await?;
        let report = crate::postgres::probe(
            connection,
            settings.pg_bin_dir.as_deref().map(std::path::Path::new),
        )
        .await?;
        let source_major = crate::postgres::tools::major_of(&part.server_version);
        if report.server_major < source_major {
            return Err(Error::new(
                ErrorCode::PgServerTooOld,
                format!(
                    "The backup comes from PostgreSQL {}, but {name} runs PostgreSQL {}; restore into a server of version {source_major} or newer.",
                    part.server_version, report.server_version
                ),
            ));
        }
        let needed = crate::postgres::tools::major_of(&part.pg_dump_version);
        crate::postgres::tools::pg_restore_for(
            settings.pg_bin_dir.as_deref().map(std::path::Path::new),
            needed,
        )
            .await
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::PgDumpMissing,
                    format!(
                        "No pg_restore of version {needed} or newer is installed; install the PostgreSQL {needed} client tools."
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_back_keeps_the_tail_until_released() {
        let mut out = Vec::new();
        {
            let mut w = HoldBack::new(&mut out);
            w.write_all(&vec![1u8; HELD_BACK + 10]).unwrap();
            w.write_all(&[2u8; 5]).unwrap();
            assert_eq!(w.out.len(), 15);
            w.release().unwrap();
        }
        assert_eq!(out.len(), HELD_BACK + 15);
        assert_eq!(&out[HELD_BACK + 10..], &[2u8; 5]);
    }
}
