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
    mut tar: std::process::Command,
    failure: impl FnOnce(Option<i32>, &str) -> Error,
    out: ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<MediaOutcome> {
    let mut child = tar
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(ErrorCode::SshFailed, format!("Cannot run ssh: {e}")))?;
    let said = read_all(child.stderr.take());
    let stream = child.stdout.take().expect("stdout is piped");
    let stop = || cancel.is_cancelled();
    let archived = media::archive_stream(stream, out, &stop);
    if archived.is_err() {
        child.kill().ok();
    }
    let status = child.wait()?;
    let said = said.join().unwrap_or_default();
    if !status.success() && !cancel.is_cancelled() {
        return Err(failure(status.code(), &said));
    }
    finished(archived)
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

/// Media a deduplicated backup reads file by file: a folder here, or a bucket's listed objects.
pub enum Readable {
    Folder(PathBuf),
    Bucket(BucketMedia, Vec<Listed>),
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
