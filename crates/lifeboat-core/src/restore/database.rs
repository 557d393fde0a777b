//! Restoring a dump with stock `pg_restore --single-transaction`, streamed from storage.
//!
//! The destination changes only when pg_restore commits, and pg_restore cannot commit before it
//! has read the whole archive. So the last bytes of the plaintext are held back until the
//! artifact's checksums have matched the manifest: a damaged or truncated artifact, a cancel, or
//! this process dying all end with pg_restore killed or reading a premature end of file, and its
//! transaction rolled back — the destination exactly as it was.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::backup::artifact::ArtifactInfo;
use crate::backup::read::ArtifactReader;
use crate::backup::verify::VerifyCheck;
use crate::connection::PgConnectionInput;
use crate::error::{Error, ErrorCode, Result};
use crate::postgres::client::{last_lines, pg_command, read_all};
use crate::postgres::migrations::{self, AppMigration};

/// Bytes of plaintext withheld from pg_restore until the checksums match; more than the
/// archive's final block marker, so pg_restore is provably still waiting for input.
const HELD_BACK: usize = 64 * 1024;

/// What the dump holds, read from its table of contents while it streams.
#[derive(Debug, Default, Clone)]
pub struct Contents {
    pub tables: Vec<(String, String)>,
    pub extensions: Vec<String>,
}

impl Contents {
    fn parse(listing: &str) -> Self {
        let mut contents = Self::default();
        for line in listing.lines() {
            // "216; 1259 16399 TABLE public shop_order owner"
            let Some((_, rest)) = line.split_once("; ") else {
                continue;
            };
            let words: Vec<&str> = rest.split_whitespace().skip(2).collect();
            match words.as_slice() {
                ["TABLE", "DATA", ..] => {}
                ["TABLE", schema, name, ..] => {
                    contents.tables.push(((*schema).into(), (*name).into()));
                }
                ["EXTENSION", _, name, ..] => contents.extensions.push((*name).into()),
                _ => {}
            }
        }
        contents
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DatabaseRestoreSummary {
    pub database: String,
    #[ts(type = "number")]
    pub tables: u64,
    pub extensions: Vec<String>,
    /// The latest applied Django migration of each app, when the dump had `django_migrations`.
    pub latest_migrations: Vec<AppMigration>,
}

pub struct Options {
    pub ownership: bool,
}

/// pg_restore running inside its transaction, fed everything but the held-back tail.
/// Dropping it kills pg_restore, which rolls the transaction back.
pub struct PendingRestore {
    child: Arc<Mutex<Child>>,
    input: Option<HoldBack<ChildStdin>>,
    errors: Option<JoinHandle<String>>,
    contents: Contents,
    watcher: tokio::task::JoinHandle<()>,
}

/// Streams the artifact into pg_restore and checks it against the manifest, stopping short of
/// the commit.
pub fn stage(
    pg_restore: &Path,
    conn: &PgConnectionInput,
    options: &Options,
    mut plain: ArtifactReader,
    info: &ArtifactInfo,
    cancel: &CancellationToken,
) -> Result<PendingRestore> {
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
        // A live application holding locks on the tables must fail the restore, not hang it.
        .env("PGOPTIONS", "-c lock_timeout=120s")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !options.ownership {
        command.args(["--no-owner", "--no-privileges"]);
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
        contents: Contents::default(),
        watcher,
    };
    let lister = Command::new(pg_restore)
        .arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let (mut list_input, listing) = match lister {
        Ok(mut lister) => {
            let input = lister.stdin.take();
            let out = lister.stdout.take();
            let listing = std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(out) = out {
                    BufReader::new(out).read_to_string(&mut text).ok();
                }
                lister.wait().ok();
                text
            });
            (input, Some(listing))
        }
        Err(_) => (None, None),
    };

    let fed = feed(&mut plain, &mut pending, &mut list_input, cancel);
    drop(list_input);
    pending.contents = Contents::parse(&listing.and_then(|l| l.join().ok()).unwrap_or_default());
    if let Err(e) = fed {
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
    list_input: &mut Option<ChildStdin>,
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
        // pg_restore --list stops reading once it has the table of contents.
        if let Some(list) = list_input {
            if list.write_all(&buf[..n]).is_err() {
                *list_input = None;
            }
        }
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

/// `dbname='…'` for `--dbname`: pg_restore reads its value as a connection string, so a bare
/// database name containing `=` would be misread.
fn conninfo_dbname(database: &str) -> String {
    format!(
        "dbname='{}'",
        database.replace('\\', "\\\\").replace('\'', "\\'")
    )
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
    let summary = DatabaseRestoreSummary {
        database: conn.database.clone(),
        tables: present.max(0) as u64,
        extensions: installed,
        latest_migrations,
    };
    Ok((summary, checks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_contents_names_tables_and_extensions() {
        let listing = ";\n; Archive created at 2026-11-22\n;\n\
            3; 3079 16385 EXTENSION - pgcrypto \n\
            4; 0 0 COMMENT - EXTENSION pgcrypto \n\
            216; 1259 16399 TABLE public shop_order postgres\n\
            217; 1259 16398 SEQUENCE public shop_order_id_seq postgres\n\
            3350; 0 16399 TABLE DATA public shop_order postgres\n\
            218; 1259 16390 TABLE public django_migrations postgres\n";
        let contents = Contents::parse(listing);
        assert_eq!(
            contents.tables,
            vec![
                ("public".into(), "shop_order".into()),
                ("public".into(), "django_migrations".into())
            ]
        );
        assert_eq!(contents.extensions, vec!["pgcrypto".to_owned()]);
    }

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

    #[test]
    fn database_names_are_quoted_for_the_connection_string() {
        assert_eq!(conninfo_dbname("shop"), "dbname='shop'");
        assert_eq!(conninfo_dbname("a=b 'c'\\"), r"dbname='a=b \'c\'\\'");
    }
}
