//! The media artifact: the media directory archived (`lifeboat_format::media`) into an
//! artifact, from this machine's disk, streamed by `tar` on the environment's server or read
//! from a bucket's objects, with
//! what goes wrong said in Lifeboat's error codes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use lifeboat_format::chunked::{PackRecord, StoredContent};
use lifeboat_format::media::{self, ArchiveError};
use tokio_util::sync::CancellationToken;

use super::deduplicated::{self, Dedup};
use super::writer_error;
use crate::error::{Error, ErrorCode, Result};
use crate::media_bucket::{BucketMedia, Listed};
use crate::postgres::client::read_all;
use crate::repository::artifact::{ArtifactInfo, ArtifactWriter};

pub struct MediaOutcome {
    pub artifact: ArtifactInfo,
    pub file_count: u64,
    pub total_bytes: u64,
    /// The packs a deduplicated archive added to the repository.
    pub packs: Vec<PackRecord>,
}

pub fn archive(
    root: &Path,
    out: ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<MediaOutcome> {
    let stop = || cancel.is_cancelled();
    finished(media::archive(root, out, &stop))
}

/// Archives what `tar` (from `ServerDir::tar`) streams: the tree read on the server and sent
/// over SSH as it is read, never copied here first. The archive counts only if `tar` says it
/// read everything; `failure` says why it did not.
pub fn archive_from_server(
    tar: std::process::Command,
    failure: impl FnOnce(Option<i32>, &str) -> Error,
    out: ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<MediaOutcome> {
    let stop = || cancel.is_cancelled();
    let archived = on_server(tar, None, failure, cancel, |stream| {
        media::archive_stream(stream, out, &stop)
    })?;
    finished(archived)
}

/// Runs `command` (ssh), with `input` on its standard input, and `read` over its standard
/// output. What `read` made counts only if the command then says it succeeded.
fn on_server<T>(
    mut command: std::process::Command,
    input: Option<Vec<u8>>,
    failure: impl FnOnce(Option<i32>, &str) -> Error,
    cancel: &CancellationToken,
    read: impl FnOnce(std::process::ChildStdout) -> std::result::Result<T, ArchiveError>,
) -> Result<std::result::Result<T, ArchiveError>> {
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(ErrorCode::SshFailed, format!("Cannot run ssh: {e}")))?;
    let said = read_all(child.stderr.take());
    // Written beside the reading, so neither side waits on a full pipe.
    let feeding = input.zip(child.stdin.take()).map(|(input, mut stdin)| {
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input))
    });
    let stream = child.stdout.take().expect("stdout is piped");
    let made = read(stream);
    if made.is_err() {
        child.kill().ok();
    }
    let status = child.wait()?;
    if let Some(feeding) = feeding {
        feeding.join().ok();
    }
    let said = said.join().unwrap_or_default();
    if !status.success() && !cancel.is_cancelled() {
        return Err(failure(status.code(), &said));
    }
    Ok(made)
}

/// Archives the listed objects of a media bucket, read a few at a time.
pub fn archive_from_bucket(
    bucket: &BucketMedia,
    listed: Vec<Listed>,
    out: ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<MediaOutcome> {
    finished(bucket.archive(listed, out, None, cancel)?)
}

/// Media a deduplicated backup reads file by file: a folder here, a bucket's listed objects,
/// or a directory on the environment's server.
pub enum Readable {
    Folder(PathBuf),
    Bucket(BucketMedia, Vec<Listed>),
    Server(Box<OnServer>),
}

/// What a deduplicated backup runs on the server its media is on (`ServerDir::list` and
/// `ServerDir::tar_named`), and the server and directory, to say a failure there.
pub struct OnServer {
    pub list: std::process::Command,
    pub tar_named: std::process::Command,
    pub server: String,
    pub dir: String,
}

impl OnServer {
    /// Lists the tree on the server, then has `tar` send only the files `mark` does not find
    /// unchanged, and archives the whole tree from both.
    fn archive<W: std::io::Write>(
        self,
        tree: W,
        mark: &lifeboat_format::chunked::ContentMark,
        cancel: &CancellationToken,
    ) -> Result<std::result::Result<(W, media::Archived), ArchiveError>> {
        let Self {
            list,
            tar_named,
            server,
            dir,
        } = self;
        let failure = |code: Option<i32>, said: &str| {
            crate::media::ServerDir::failure_at(&server, &dir, code, said)
        };
        // Read as it comes, so that a cancel stops a long listing (`find` over a large tree)
        // within its next 64 KiB rather than after it.
        let listed = on_server(list, None, failure, cancel, |mut out| {
            let mut listing = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                if cancel.is_cancelled() {
                    return Err(ArchiveError::Stopped);
                }
                match std::io::Read::read(&mut out, &mut chunk) {
                    Ok(0) => return Ok(listing),
                    Ok(n) => listing.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(ArchiveError::Unreadable {
                            path: "the listing of the media directory".into(),
                            why: e.to_string(),
                        })
                    }
                }
            }
        })?;
        let listing = match listed.and_then(|listing| media::parse_listing(&listing)) {
            Ok(listing) => listing,
            Err(e) => return Ok(Err(e)),
        };
        let unchanged = media::unchanged_files(&listing, mark);
        let mut names = Vec::new();
        for entry in listing
            .iter()
            .filter(|e| e.kind == 'f' && !unchanged.contains_key(&e.path))
        {
            names.extend_from_slice(entry.path.as_bytes());
            names.push(0);
        }
        let stop = || cancel.is_cancelled();
        on_server(tar_named, Some(names), failure, cancel, |changed| {
            media::archive_listed(&listing, unchanged, changed, tree, &stop, mark)
        })
    }
}

/// Archives the media deduplicated (format 2): file contents go to the repository as blobs it
/// does not have yet, and `out` stores the tree that rebuilds the archive. Files unchanged
/// since the `earlier` backup are not read (an unchanged object is not even fetched): its blobs
/// for them are used.
pub fn archive_deduplicated(
    source: Readable,
    dedup: &Dedup,
    earlier: HashMap<String, StoredContent>,
    out: ArtifactWriter,
    progress: Arc<AtomicU64>,
    cancel: &CancellationToken,
) -> Result<MediaOutcome> {
    let stop = || cancel.is_cancelled();
    let (tree, mark) = dedup.writer(progress, false, earlier);
    let archived = match source {
        Readable::Folder(root) => media::archive_marked(&root, tree, &stop, Some(&mark)),
        Readable::Bucket(bucket, listed) => bucket.archive(listed, tree, Some(&mark), cancel)?,
        Readable::Server(on_server) => on_server.archive(tree, &mark, cancel)?,
    };
    let (tree, archived) = archived.map_err(archive_failure)?;
    let (artifact, packs) = deduplicated::finish(tree, out)?;
    Ok(MediaOutcome {
        artifact,
        file_count: archived.file_count,
        total_bytes: archived.total_bytes,
        packs,
    })
}

/// The artifact of an archive that was written, or the archive's failure as Lifeboat's error.
fn finished(
    archived: Result<(ArtifactWriter, media::Archived), ArchiveError>,
) -> Result<MediaOutcome> {
    let (out, archived) = archived.map_err(archive_failure)?;
    let artifact = out.finish().map_err(writer_error)?;
    Ok(MediaOutcome {
        artifact,
        file_count: archived.file_count,
        total_bytes: archived.total_bytes,
        packs: Vec::new(),
    })
}

/// Why an archive failed, in Lifeboat's error codes.
fn archive_failure(e: ArchiveError) -> Error {
    match e {
        ArchiveError::Unreadable { path, why } => Error::new(
            ErrorCode::MediaUnreadable,
            format!("Cannot back up {path}: {why}"),
        ),
        ArchiveError::UnsafeLink(why) => Error::new(
            ErrorCode::UnsafeArchive,
            format!("The media directory cannot be backed up: {why}. Restores refuse such links, so no backup was made; replace the link with what it points to, or remove it."),
        ),
        ArchiveError::Stopped => Error::cancelled(),
        ArchiveError::Write(e) => writer_error(e),
    }
}
