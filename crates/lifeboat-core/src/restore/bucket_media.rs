//! Restoring a media archive into a bucket. A bucket has no rename, so there is no atomic swap;
//! Lifeboat comes as close as it can in three steps:
//!
//! 1. `check` reads the whole archive and proves it (every file against the manifest, the
//!    artifact against its checksums) without writing anything; an archive a bucket cannot hold
//!    (symlinks) is refused here.
//! 2. `apply` compares with what the bucket holds (size and the MD5 ETag S3 gives single-part
//!    objects, then the content type and metadata) and writes only the objects that differ,
//!    each checked against the proven SHA-256 before it is committed: a small one is put whole
//!    once read, a large one is a multipart upload completed only if its hash matches.
//! 3. Once every write succeeded, it deletes the objects under the prefix the backup does not
//!    have.
//!
//! Cut off in step 2 or 3, the prefix holds some restored objects beside old ones; nothing
//! outside the prefix is touched, and running the restore again completes it, since objects
//! already restored are then found equal and skipped.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Read;

use bytes::Bytes;
use futures_util::StreamExt;
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::media::{MediaEntryKind, ObjectAttributes};
use lifeboat_format::media_reader::{self, FileHashes, HashingRead};
use lifeboat_format::read::ArtifactReader;
use md5::{Digest, Md5};
use object_store::PutPayload;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode, Result};
use crate::media_bucket::{BucketMedia, Listed};
use crate::model::restore::MediaRestoreSummary;

/// Objects up to this size are read whole and put in one request; larger ones go in parts of
/// this size.
const PART_BYTES: usize = 8 << 20;
/// Writes in flight at once.
const IN_FLIGHT: usize = 8;

/// A proven archive: what the prefix must hold once restored.
pub struct Proven {
    files: BTreeMap<String, Wanted>,
    bytes: u64,
}

impl Proven {
    pub fn files(&self) -> u64 {
        self.files.len() as u64
    }
}

struct Wanted {
    size: u64,
    md5: String,
    sha256: String,
    /// As recorded from a bucket; `None` for a file backed up from a directory.
    object: Option<ObjectAttributes>,
}

/// Step 1: reads and proves the whole archive, writing nothing.
pub fn check(
    mut plain: ArtifactReader,
    info: &ArtifactInfo,
    cancel: &CancellationToken,
) -> Result<Proven> {
    let mut md5s = HashMap::new();
    let mut links = Vec::new();
    let hashes = FileHashes::of(&plain);
    let walked = media_reader::walk(&mut plain, hashes, |entry| {
        if cancel.is_cancelled() {
            return Err("cancelled".into());
        }
        match entry.kind {
            MediaEntryKind::File => {
                let mut md5 = Md5Writer(Md5::new());
                let sha = media_reader::copy(entry.body, &mut md5, hashes)?;
                md5s.insert(entry.relative, format!("{:x}", md5.0.finalize()));
                Ok(sha)
            }
            MediaEntryKind::Symlink => {
                links.push(entry.relative);
                Ok(None)
            }
            MediaEntryKind::Directory => Ok(None),
        }
    });
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let manifest = walked.map_err(|detail| super::media::refused(&detail))?;
    plain.finish(info).map_err(|e| {
        Error::new(
            ErrorCode::ChecksumMismatch,
            format!("The media artifact does not match its manifest, so nothing was restored: {e}"),
        )
    })?;
    if let Some(first) = links.first() {
        return Err(Error::validation(
            "media",
            format!(
                "The backup holds {} symlink(s) ({first}…), which a bucket cannot hold, so nothing was restored. Restore it into a media directory instead.",
                links.len()
            ),
        ));
    }
    let mut files = BTreeMap::new();
    let mut bytes = 0;
    for entry in manifest.entries {
        if entry.kind != MediaEntryKind::File {
            continue;
        }
        let md5 = md5s.remove(&entry.path).unwrap_or_default();
        bytes += entry.size;
        files.insert(
            entry.path,
            Wanted {
                size: entry.size,
                md5,
                sha256: entry.sha256.unwrap_or_default(),
                object: entry.object,
            },
        );
    }
    Ok(Proven { files, bytes })
}

/// Steps 2 and 3, with `plain` the same archive opened again.
pub async fn apply(
    bucket: &BucketMedia,
    proven: Proven,
    plain: ArtifactReader,
    info: &ArtifactInfo,
) -> Result<MediaRestoreSummary> {
    let listed: HashMap<String, Listed> = bucket
        .list()
        .await?
        .into_iter()
        .map(|l| (l.path.clone(), l))
        .collect();
    let to_write = differing(bucket, &proven, &listed).await?;
    let strays: Vec<_> = listed
        .values()
        .filter(|l| !proven.files.contains_key(&l.path))
        .map(|l| l.location.clone())
        .collect();
    // Once the bucket has changed, the error says so, and how to finish.
    let incomplete = |progress: String, e: Error| {
        Error {
        code: ErrorCode::MediaRestoreIncomplete,
        message: format!(
            "The restore into {} {progress}: {} The prefix now holds restored objects beside old ones; restore again to complete it.",
            bucket.url(),
            e.message
        ),
        field: None,
        detail: e.detail.or(Some(format!("{:?}", e.code))),
    }
    };
    let written = {
        let (bucket, info) = (bucket.clone(), info.clone());
        let wanted = proven
            .files
            .iter()
            .filter(|(path, _)| to_write.contains(*path))
            .map(|(path, w)| (path.clone(), (w.sha256.clone(), w.object.clone(), w.size)))
            .collect();
        crate::running::blocking(move || Ok(write(&bucket, plain, &info, wanted))).await?
    };
    let written = match written {
        (count, None) => count,
        // Nothing written: nothing changed, and the error is the plain one.
        (0, Some(e)) => return Err(e),
        (count, Some(e)) => {
            let progress = format!(
                "stopped after writing {count} of {} changed objects",
                to_write.len()
            );
            return Err(incomplete(progress, e));
        }
    };
    let deleted = strays.len() as u64;
    bucket.delete(strays).await.map_err(|e| {
        let progress = format!(
            "wrote the {written} changed objects, then stopped deleting the {deleted} the backup does not have"
        );
        incomplete(progress, e)
    })?;
    Ok(MediaRestoreSummary {
        directory: bucket.url().to_owned(),
        files: proven.files(),
        bytes: proven.bytes,
        kept_copy: None,
        written: Some(written),
        deleted: Some(deleted),
    })
}

/// The backup's files the bucket does not hold as they were: missing, of another size or
/// content (by the MD5 ETag S3 gives single-part objects; a multipart ETag cannot tell, so that
/// object is written), or served with other attributes. Objects of the same size are asked for
/// their ETag (where the listing had none) and attributes, a few at once.
async fn differing(
    bucket: &BucketMedia,
    proven: &Proven,
    listed: &HashMap<String, Listed>,
) -> Result<HashSet<String>> {
    let same_md5 = |e_tag: Option<&str>, wanted: &Wanted| {
        e_tag.map(|t| t.trim_matches('"')) == Some(wanted.md5.as_str())
    };
    let mut differ = HashSet::new();
    let mut to_ask = Vec::new();
    for (path, wanted) in &proven.files {
        match listed.get(path) {
            Some(l)
                if l.size == wanted.size
                    && (l.e_tag.is_none() || same_md5(l.e_tag.as_deref(), wanted)) =>
            {
                to_ask.push((path.clone(), l.location.clone()));
            }
            _ => {
                differ.insert(path.clone());
            }
        }
    }
    // Owned, so the requests' futures borrow nothing and the job's future stays Send.
    let heads: Vec<_> = to_ask
        .into_iter()
        .map(|(path, location)| {
            let bucket = bucket.clone();
            async move { Ok::<_, Error>((path, bucket.head(&location).await?)) }
        })
        .collect();
    let mut heads = futures_util::stream::iter(heads).buffer_unordered(IN_FLIGHT * 2);
    while let Some(head) = heads.next().await {
        let (path, (e_tag, now)) = head?;
        let wanted = &proven.files[&path];
        let same = same_md5(e_tag.as_deref(), wanted)
            && crate::media_bucket::served_as_recorded(&path, wanted.object.as_ref(), &now);
        if !same {
            differ.insert(path);
        }
    }
    Ok(differ)
}

/// Reads the archive again and writes the wanted files (path → SHA-256, attributes, size),
/// several at once. Returns how many were written, and what stopped it if something did.
fn write(
    bucket: &BucketMedia,
    mut plain: ArtifactReader,
    info: &ArtifactInfo,
    wanted: HashMap<String, (String, Option<ObjectAttributes>, u64)>,
) -> (u64, Option<Error>) {
    let mut writes = Writes {
        runtime: tokio::runtime::Handle::current(),
        bucket,
        in_flight: VecDeque::new(),
        written: 0,
        failure: None,
    };
    let walked = media_reader::walk(&mut plain, FileHashes::Compared, |entry| {
        if writes.failure.is_some() {
            return Err("stopped".into());
        }
        let Some((sha256, object, size)) = wanted.get(&entry.relative) else {
            return match entry.kind {
                MediaEntryKind::File => media_reader::hash(entry.body).map(Some),
                _ => Ok(None),
            };
        };
        let mut body = HashingRead::new(entry.body);
        let written = match *size as usize <= PART_BYTES {
            true => writes.put_whole(
                &entry.relative,
                &mut body,
                object.as_ref(),
                *size as usize,
                sha256,
            ),
            false => writes.put_parts(&entry.relative, &mut body, object.as_ref(), sha256),
        };
        match written {
            Ok(()) => Ok(Some(sha256.clone())),
            Err(e) => {
                let message = e.message.clone();
                writes.failure.get_or_insert(e);
                Err(message)
            }
        }
    });
    while let Some(handle) = writes.in_flight.pop_front() {
        writes.settle(handle);
    }
    if let Some(e) = writes.failure {
        return (writes.written, Some(e));
    }
    let proven = walked
        .map_err(|detail| super::media::refused(&detail))
        .and_then(|_| {
            plain.finish(info).map(drop).map_err(|e| {
                Error::new(
                    ErrorCode::ChecksumMismatch,
                    format!("The media artifact changed since it was checked: {e}"),
                )
            })
        });
    (writes.written, proven.err())
}

/// The writes of one restore, from the blocking thread that reads the archive.
struct Writes<'a> {
    runtime: tokio::runtime::Handle,
    bucket: &'a BucketMedia,
    in_flight: VecDeque<tokio::task::JoinHandle<Result<()>>>,
    written: u64,
    failure: Option<Error>,
}

impl Writes<'_> {
    fn settle(&mut self, handle: tokio::task::JoinHandle<Result<()>>) {
        match self.runtime.block_on(handle) {
            Ok(Ok(())) => self.written += 1,
            Ok(Err(e)) => {
                self.failure.get_or_insert(e);
            }
            Err(e) => {
                self.failure
                    .get_or_insert(Error::new(ErrorCode::Internal, e.to_string()));
            }
        }
    }

    /// Reads a small file whole and, once it proved to be what was checked, puts it while the
    /// next ones are read.
    fn put_whole(
        &mut self,
        path: &str,
        body: &mut HashingRead<&mut dyn Read>,
        object: Option<&ObjectAttributes>,
        size: usize,
        sha256: &str,
    ) -> Result<()> {
        let mut whole = Vec::with_capacity(size);
        body.read_to_end(&mut whole).map_err(damaged)?;
        proved(path, body, sha256)?;
        let (bucket, object, path) = (self.bucket.clone(), object.cloned(), path.to_owned());
        self.in_flight
            .push_back(self.runtime.spawn(async move {
                bucket.put(&path, Bytes::from(whole), object.as_ref()).await
            }));
        while self.in_flight.len() >= IN_FLIGHT {
            let oldest = self.in_flight.pop_front().expect("not empty");
            self.settle(oldest);
        }
        Ok(())
    }

    /// Writes a large file part by part; the object appears only if it proved to be what was
    /// checked.
    fn put_parts(
        &mut self,
        path: &str,
        body: &mut HashingRead<&mut dyn Read>,
        object: Option<&ObjectAttributes>,
        sha256: &str,
    ) -> Result<()> {
        let bucket = self.bucket;
        let mut upload = self.runtime.block_on(bucket.start_parts(path, object))?;
        let sent = (|| {
            loop {
                let mut part = Vec::with_capacity(PART_BYTES);
                (&mut *body)
                    .take(PART_BYTES as u64)
                    .read_to_end(&mut part)
                    .map_err(damaged)?;
                if part.is_empty() {
                    break;
                }
                self.runtime
                    .block_on(upload.put_part(PutPayload::from(part)))
                    .map_err(|e| bucket.failed(e, &format!("writing {path}")))?;
            }
            proved(path, body, sha256)
        })();
        match sent {
            Ok(()) => {
                self.runtime
                    .block_on(upload.complete())
                    .map_err(|e| bucket.failed(e, &format!("writing {path}")))?;
                self.written += 1;
                Ok(())
            }
            Err(e) => {
                self.runtime.block_on(upload.abort()).ok();
                Err(e)
            }
        }
    }
}

/// Whether what was read of `path` is what the first reading proved.
fn proved(path: &str, body: &HashingRead<&mut dyn Read>, sha256: &str) -> Result<()> {
    if body.sha256() == sha256 {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::ChecksumMismatch,
        format!(
            "{path} read from the backup differs from when it was checked; it was not written."
        ),
    ))
}

fn damaged(e: std::io::Error) -> Error {
    Error::new(
        ErrorCode::ArtifactCorrupt,
        format!("The media archive is damaged ({e})."),
    )
}

struct Md5Writer(Md5);

impl std::io::Write for Md5Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
