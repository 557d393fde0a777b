//! A dump's table of contents, as `pg_restore --list` prints it: what a restore will drop and
//! recreate, and the list file (`-L`) that tells pg_restore which entries to leave out.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode, Result};

/// Entry kinds pg_dump writes, longest first so that `TABLE DATA` is not read as `TABLE`.
const KINDS: &[&str] = &[
    "PUBLICATION TABLES IN SCHEMA",
    "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY",
    "MATERIALIZED VIEW DATA",
    "TEXT SEARCH TEMPLATE",
    "FOREIGN DATA WRAPPER",
    "DATABASE PROPERTIES",
    "PROCEDURAL LANGUAGE",
    "SUBSCRIPTION TABLE",
    "TEXT SEARCH PARSER",
    "MATERIALIZED VIEW",
    "PUBLICATION TABLE",
    "SEQUENCE OWNED BY",
    "CHECK CONSTRAINT",
    "OPERATOR FAMILY",
    "OPERATOR CLASS",
    "SECURITY LABEL",
    "ACCESS METHOD",
    "BLOB METADATA",
    "EVENT TRIGGER",
    "FK CONSTRAINT",
    "FOREIGN TABLE",
    "INDEX ATTACH",
    "LARGE OBJECT",
    "ROW SECURITY",
    "SEQUENCE SET",
    "SUBSCRIPTION",
    "TABLE ATTACH",
    "USER MAPPING",
    "DEFAULT ACL",
    "PUBLICATION",
    "SEARCH_PATH",
    "SHELL TYPE",
    "STDSTRINGS",
    "TABLE DATA",
];

/// One line of the listing: `216; 1259 16399 TABLE public shop_order owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub id: u32,
    /// pg_dump's kind of entry: `TABLE`, `EXTENSION`, `COMMENT`, `TABLE DATA`…
    pub kind: String,
    /// `None` for objects outside any schema (extensions, schemas, event triggers).
    pub schema: Option<String>,
    /// The object's name; for a comment, what it is on (`EXTENSION pgcrypto`, `TABLE t`).
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Toc {
    listing: String,
    pub entries: Vec<TocEntry>,
}

impl Toc {
    pub fn parse(listing: &str) -> Self {
        let entries = listing.lines().filter_map(parse_line).collect();
        Self {
            listing: listing.to_owned(),
            entries,
        }
    }

    /// The tables the dump creates, as (schema, name).
    pub fn tables(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter(|e| e.kind == "TABLE")
            .map(|e| (e.schema.clone().unwrap_or_default(), e.name.clone()))
            .collect()
    }

    pub fn extensions(&self) -> Vec<String> {
        self.of_kind("EXTENSION").map(|e| e.name.clone()).collect()
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a TocEntry> + 'a {
        self.entries.iter().filter(move |e| e.kind == kind)
    }

    /// The listing with the entries in `skipped` commented out, for `pg_restore -L`. The order
    /// stays the archive's own, which is what lets pg_restore read it from a pipe.
    pub fn list_file(&self, skipped: &[u32]) -> String {
        let mut out = String::with_capacity(self.listing.len() + skipped.len());
        for line in self.listing.lines() {
            if parse_line(line).is_some_and(|e| skipped.contains(&e.id)) {
                out.push(';');
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn parse_line(line: &str) -> Option<TocEntry> {
    let (id, rest) = line.split_once("; ")?;
    let id = id.parse().ok()?;
    // Two catalog numbers, then the kind.
    let mut words = rest.splitn(3, ' ');
    let (_, _, rest) = (words.next()?, words.next()?, words.next()?);
    let kind = KINDS
        .iter()
        .find(|k| rest.starts_with(*k) && rest[k.len()..].starts_with(' '))
        .map(|k| (*k).to_owned())
        .or_else(|| rest.split(' ').next().map(str::to_owned))?;
    // Then schema (`-` for none), name and owner (empty for extensions); names may hold spaces.
    let (schema, tail) = rest[kind.len()..].trim_start_matches(' ').split_once(' ')?;
    let name = tail.rsplit_once(' ').map_or(tail, |(name, _owner)| name);
    Some(TocEntry {
        id,
        kind,
        schema: (schema != "-").then(|| schema.to_owned()),
        name: name.to_owned(),
    })
}

/// Why a table of contents could not be listed.
pub enum ListError {
    /// pg_restore could not be run at all.
    Tool(String),
    /// The stream or the archive in it is damaged.
    Archive(String),
    Cancelled,
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tool(why) | Self::Archive(why) => f.write_str(why),
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Feeds the start of a dump to `pg_restore --list` and returns what it printed. With
/// `to_end`, the rest of `plain` is read too (and discarded) so its checksums can be checked;
/// without, reading stops as soon as pg_restore has the table of contents.
pub fn list(
    pg_restore: &Path,
    plain: &mut dyn Read,
    to_end: bool,
    cancel: &CancellationToken,
) -> std::result::Result<String, ListError> {
    let mut command = Command::new(pg_restore);
    command.arg("--list");
    list_with(command, plain, to_end, cancel)
}

/// `list` with a prepared `pg_restore --list` (one on the environment's server, say).
pub fn list_with(
    mut command: Command,
    plain: &mut dyn Read,
    to_end: bool,
    cancel: &CancellationToken,
) -> std::result::Result<String, ListError> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ListError::Tool(format!("cannot run pg_restore: {e}")))?;
    let mut stdin = child.stdin.take();
    // Both outputs are read beside the feeding: a large one would otherwise fill its pipe.
    let stdout = crate::postgres::client::read_all(child.stdout.take());
    let stderr = crate::postgres::client::read_all(child.stderr.take());
    let stop = |child: &mut std::process::Child, e: ListError| {
        child.kill().ok();
        child.wait().ok();
        Err(e)
    };
    let mut buf = vec![0u8; 256 * 1024];
    while stdin.is_some() || to_end {
        if cancel.is_cancelled() {
            return stop(&mut child, ListError::Cancelled);
        }
        let n = match plain.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return stop(
                    &mut child,
                    ListError::Archive(format!("the stream is damaged ({e})")),
                )
            }
        };
        // pg_restore --list stops reading once it has the table of contents.
        if stdin
            .as_mut()
            .is_some_and(|s| s.write_all(&buf[..n]).is_err())
        {
            stdin = None;
        }
    }
    drop(stdin);
    let status = child
        .wait()
        .map_err(|e| ListError::Tool(format!("waiting for pg_restore failed: {e}")))?;
    let listing = stdout.join().unwrap_or_default();
    let said = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(ListError::Archive(format!(
            "pg_restore --list failed: {}",
            said.trim()
        )));
    }
    Ok(listing)
}

/// The table of contents of the dump `plain` begins with.
pub fn read(pg_restore: &Path, plain: &mut dyn Read, cancel: &CancellationToken) -> Result<Toc> {
    match list(pg_restore, plain, false, cancel) {
        Ok(listing) => Ok(Toc::parse(&listing)),
        Err(_) if cancel.is_cancelled() => Err(Error::cancelled()),
        Err(ListError::Cancelled) => Err(Error::cancelled()),
        Err(ListError::Tool(detail)) => Err(Error::new(
            ErrorCode::PgDumpMissing,
            format!("Cannot read the dump's table of contents: {detail}."),
        )),
        Err(ListError::Archive(detail)) => Err(Error::new(
            ErrorCode::ArtifactCorrupt,
            format!(
                "The dump's table of contents cannot be read, so nothing was restored: {detail}."
            ),
        )),
    }
}

/// A list file for `pg_restore -L`, removed when dropped. Only the process's own user may read
/// it: it names every object of the database.
pub struct ListFile {
    path: PathBuf,
}

impl ListFile {
    pub fn write(contents: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "lifeboat-restore-{}.list",
            uuid::Uuid::new_v4().simple()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(|e| {
            Error::new(
                ErrorCode::Io,
                format!(
                    "Cannot write pg_restore's list file {}: {e}",
                    path.display()
                ),
            )
        })?;
        let this = Self { path };
        file.write_all(contents.as_bytes())?;
        Ok(this)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ListFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.path).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = ";\n; Archive created at 2026-11-29\n;\n\
        3; 3079 16423 EXTENSION - pg_trgm \n\
        3449; 0 0 COMMENT - EXTENSION pg_trgm \n\
        4; 3079 16504 EXTENSION - uuid-ossp \n\
        3451; 0 0 COMMENT - EXTENSION \"uuid-ossp\" \n\
        6; 2615 2200 SCHEMA - reporting admin\n\
        218; 1259 16516 TABLE public shop order shop\n\
        3452; 0 0 COMMENT public TABLE \"shop order\" shop\n\
        217; 1259 16515 SEQUENCE public t_id_seq shop\n\
        3453; 0 0 SEQUENCE OWNED BY public t_id_seq shop\n\
        3442; 0 16516 TABLE DATA public shop order shop\n\
        3298; 2606 16524 CONSTRAINT public t t_pkey shop\n";

    #[test]
    fn entries_are_read_with_multi_word_kinds_and_names() {
        let toc = Toc::parse(LISTING);
        let kinds: Vec<&str> = toc.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "EXTENSION",
                "COMMENT",
                "EXTENSION",
                "COMMENT",
                "SCHEMA",
                "TABLE",
                "COMMENT",
                "SEQUENCE",
                "SEQUENCE OWNED BY",
                "TABLE DATA",
                "CONSTRAINT"
            ]
        );
        assert_eq!(toc.extensions(), ["pg_trgm", "uuid-ossp"]);
        assert_eq!(toc.tables(), [("public".into(), "shop order".into())]);
        assert_eq!(toc.entries[3].name, "EXTENSION \"uuid-ossp\"");
        assert_eq!(toc.entries[4].schema, None);
        assert_eq!(toc.entries[4].name, "reporting");
        assert_eq!(toc.entries[9].name, "shop order");
    }

    #[test]
    fn the_list_file_comments_out_skipped_entries_only() {
        let toc = Toc::parse(LISTING);
        let file = toc.list_file(&[3, 3449]);
        let skipped: Vec<&str> = file.lines().filter(|l| l.starts_with(";3")).collect();
        assert_eq!(
            skipped,
            [
                ";3; 3079 16423 EXTENSION - pg_trgm ",
                ";3449; 0 0 COMMENT - EXTENSION pg_trgm "
            ]
        );
        assert_eq!(file.lines().count(), LISTING.lines().count());
        assert!(file.contains("\n4; 3079 16504 EXTENSION - uuid-ossp \n"));
    }
}
