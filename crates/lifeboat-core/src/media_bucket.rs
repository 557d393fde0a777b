//! An environment's media kept in an S3-compatible bucket, as django-storages keeps uploads:
//! every object under a prefix is a file, its key below the prefix its path. Backups read the
//! objects a few at a time into the same media archive a directory gives; restores write back
//! the objects that differ and then delete the ones the backup does not have.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use lifeboat_format::chunked::{ContentMark, StoredContent};
use lifeboat_format::media::{self, ArchiveError, ObjectAttributes, SourceBody, SourceEntry};
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::error::{Error, ErrorCode, Result};
use crate::media::MediaStats;
use crate::model::setup::MediaBucket;
use crate::storage::{map_store_error, s3_store};

/// Objects up to this size are read whole, several at once; larger ones are streamed.
const WHOLE_OBJECT_BYTES: u64 = 1 << 20;
/// Requests in flight at once, so thousands of small objects do not take a round trip each in
/// series.
const IN_FLIGHT: usize = 8;

/// The media prefix of a bucket, opened.
#[derive(Clone)]
pub struct BucketMedia {
    store: Arc<AmazonS3>,
    prefix: Path,
    url: String,
}

/// One object under the prefix, as listed.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Relative to the prefix, `/`-separated.
    pub path: String,
    pub location: Path,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
    pub e_tag: Option<String>,
}

/// What the media section's Test found the key may do, each checked on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaBucketCheck {
    pub list: AccessCheck,
    pub read: AccessCheck,
    /// Needed only to restore into the bucket.
    pub write: AccessCheck,
    pub stats: Option<MediaStats>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AccessCheck {
    pub ok: bool,
    /// Why not, or what was checked.
    pub detail: String,
}

impl BucketMedia {
    pub fn open(bucket: &MediaBucket, secret_access_key: &str) -> Result<Self> {
        let settings = bucket.s3_settings();
        Ok(Self {
            store: Arc::new(s3_store(&settings, secret_access_key)?),
            prefix: Path::from(settings.prefix.trim_matches('/')),
            url: bucket.url(),
        })
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An object_store failure, said of this bucket.
    pub fn failed(&self, e: object_store::Error, doing: &str) -> Error {
        let mut error = map_store_error(e, doing);
        error.message = format!("The media bucket {}: {}", self.url, error.message);
        error
    }

    /// The key of the media file at `path` (relative, `/`-separated), exactly as named: a name
    /// S3 keys cannot hold (a control character) is refused with the name given.
    pub fn location(&self, path: &str) -> Result<Path> {
        let key = match self.prefix.as_ref() {
            "" => path.to_owned(),
            prefix => format!("{prefix}/{path}"),
        };
        Path::parse(&key).map_err(|e| {
            Error::new(
                ErrorCode::MediaUnreadable,
                format!("{path} cannot be an object's key in {}: {e}", self.url),
            )
        })
    }

    /// Every object under the prefix in tree order (by path component, so a directory's
    /// contents stay together). A key that cannot be a file's path is refused with its name.
    pub async fn list(&self) -> Result<Vec<Listed>> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let metas: Vec<_> = self
            .store
            .list(prefix)
            .try_collect()
            .await
            .map_err(|e| self.failed(e, "listing the media"))?;
        let mut listed = Vec::with_capacity(metas.len());
        for meta in metas {
            let Some(parts) = meta.location.prefix_match(&self.prefix) else {
                continue;
            };
            let path = parts
                .map(|p| p.as_ref().to_owned())
                .collect::<Vec<_>>()
                .join("/");
            if path.is_empty() {
                continue;
            }
            listed.push(Listed {
                path,
                size: meta.size,
                mtime: meta.last_modified.timestamp(),
                e_tag: meta.e_tag,
                location: meta.location,
            });
        }
        listed.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
        Ok(listed)
    }

    /// Lists, reads one object (if there is one) and, with `write`, writes and deletes a probe
    /// object under the prefix: each permission told apart, so a read-only key says so.
    pub async fn check(&self, write: bool) -> MediaBucketCheck {
        let skipped = |why: &str| AccessCheck {
            ok: false,
            detail: why.to_owned(),
        };
        let listed = match self.list().await {
            Ok(listed) => listed,
            Err(e) => {
                return MediaBucketCheck {
                    list: skipped(&e.message),
                    read: skipped("Not checked: the media cannot be listed."),
                    write: skipped("Not checked: the media cannot be listed."),
                    stats: None,
                }
            }
        };
        let stats = MediaStats {
            file_count: listed.len() as u64,
            total_bytes: listed.iter().map(|l| l.size).sum(),
        };
        // An empty object has no first byte to ask for.
        let read = match listed.iter().find(|l| l.size > 0) {
            None => AccessCheck {
                ok: true,
                detail: "There are no objects with content to read yet.".into(),
            },
            Some(first) => match self.read_first_byte(&first.location).await {
                Ok(()) => AccessCheck {
                    ok: true,
                    detail: format!("Read {}.", first.path),
                },
                Err(e) => skipped(&e.message),
            },
        };
        let write = if write {
            match self.probe_write().await {
                Ok(()) => AccessCheck {
                    ok: true,
                    detail: "Wrote and deleted a probe object.".into(),
                },
                Err(e) => skipped(&e.message),
            }
        } else {
            skipped("Not checked.")
        };
        MediaBucketCheck {
            list: AccessCheck {
                ok: true,
                detail: format!("Listed {} objects.", stats.file_count),
            },
            read,
            write,
            stats: Some(stats),
        }
    }

    async fn read_first_byte(&self, location: &Path) -> Result<()> {
        self.store
            .get_range(location, 0..1)
            .await
            .map(drop)
            .map_err(|e| self.failed(e, "reading an object"))
    }

    /// Writes and deletes a probe object: a restore into the bucket starts only once it is known
    /// to be allowed both, so a read-only key changes nothing.
    pub async fn probe_write(&self) -> Result<()> {
        let key = self
            .prefix
            .clone()
            .join(format!(".lifeboat-write-check-{}", uuid::Uuid::new_v4()));
        let written = self
            .store
            .put(&key, PutPayload::from_static(b"lifeboat write check"))
            .await;
        let refused = |e: Error| {
            let mut e = e;
            if e.code == ErrorCode::S3AuthFailed {
                e.code = ErrorCode::MediaBucketReadOnly;
                e.message = format!(
                    "The media bucket {} cannot be written with this key: give it permission to write and delete objects under the prefix, then restore again. Nothing was changed.",
                    self.url
                );
            }
            e
        };
        written.map_err(|e| refused(self.failed(e, "writing a probe object")))?;
        self.store
            .delete(&key)
            .await
            .map_err(|e| refused(self.failed(e, "deleting the probe object")))
    }

    /// An object's ETag and the attributes it is served with now, read without its content.
    pub async fn head(&self, location: &Path) -> Result<(Option<String>, ObjectAttributes)> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let got = self
            .store
            .get_opts(location, options)
            .await
            .map_err(|e| self.failed(e, &format!("reading the attributes of {location}")))?;
        Ok((got.meta.e_tag.clone(), from_store(&got.attributes)))
    }

    /// Writes one object whole.
    pub async fn put(
        &self,
        path: &str,
        body: Bytes,
        object: Option<&ObjectAttributes>,
    ) -> Result<()> {
        let options = PutOptions {
            attributes: to_store(path, object),
            ..PutOptions::default()
        };
        self.store
            .put_opts(&self.location(path)?, PutPayload::from(body), options)
            .await
            .map(drop)
            .map_err(|e| self.failed(e, &format!("writing {path}")))
    }

    /// Starts writing one large object in parts; it appears only once the upload is completed.
    pub async fn start_parts(
        &self,
        path: &str,
        object: Option<&ObjectAttributes>,
    ) -> Result<Box<dyn object_store::MultipartUpload>> {
        let options = object_store::PutMultipartOptions {
            attributes: to_store(path, object),
            ..Default::default()
        };
        self.store
            .put_multipart_opts(&self.location(path)?, options)
            .await
            .map_err(|e| self.failed(e, &format!("starting to write {path}")))
    }

    /// Deletes these objects, a few requests at a time.
    pub async fn delete(&self, locations: Vec<Path>) -> Result<()> {
        let stream = futures_util::stream::iter(locations.into_iter().map(Ok)).boxed();
        self.store
            .delete_stream(stream)
            .try_collect::<Vec<_>>()
            .await
            .map(drop)
            .map_err(|e| self.failed(e, "deleting objects the backup does not have"))
    }

    /// Archives the listed objects into `out` (from a blocking thread of the runtime): a
    /// directory entry before each directory's contents, every object read while the next few
    /// are fetched. An object that changed or went away since it was listed fails the archive
    /// with its key named: a backup never has silent gaps.
    pub fn archive<W: std::io::Write>(
        &self,
        listed: Vec<Listed>,
        out: W,
        mark: Option<&ContentMark>,
        cancel: &CancellationToken,
    ) -> Result<std::result::Result<(W, media::Archived), ArchiveError>> {
        let runtime = tokio::runtime::Handle::current();
        let entries = match tree(&listed) {
            Ok(entries) => entries,
            Err((path, why)) => return Ok(Err(unreadable(&path, &why))),
        };
        // Objects an earlier tree holds as they are now are not fetched at all.
        let mut unchanged: HashMap<String, StoredContent> = HashMap::new();
        if let Some(mark) = mark {
            for object in &listed {
                if let Some(content) = mark.unchanged(&object.path, &stamp(object), object.size) {
                    unchanged.insert(object.path.clone(), content);
                }
            }
        }
        let stamps: HashMap<String, String> = listed
            .iter()
            .map(|object| (object.path.clone(), stamp(object)))
            .collect();
        let listed: Vec<Listed> = listed
            .into_iter()
            .filter(|object| !unchanged.contains_key(&object.path))
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Fetched>>(4);
        let fetching = {
            let (this, cancel) = (self.clone(), cancel.clone());
            runtime.spawn(async move {
                let mut fetches = futures_util::stream::iter(listed)
                    .map(|l| this.fetch(l))
                    .buffered(IN_FLIGHT);
                loop {
                    let next = tokio::select! {
                        () = cancel.cancelled() => break,
                        next = fetches.next() => next,
                    };
                    let Some(fetched) = next else { break };
                    if tx.send(fetched).await.is_err() {
                        break;
                    }
                }
            })
        };
        // The error behind an entry the archive was refused, with its own code.
        let failure: RefCell<Option<Error>> = RefCell::default();
        let items = entries.into_iter().map(|entry| {
            let Some((path, mtime)) = entry.file else {
                return Ok(SourceEntry {
                    path: entry.path,
                    mtime: entry.mtime,
                    body: SourceBody::Directory,
                    object: None,
                });
            };
            if let Some(content) = unchanged.remove(&path) {
                return Ok(SourceEntry {
                    path,
                    mtime,
                    object: content.object.clone(),
                    body: SourceBody::Stored(content),
                });
            }
            let fetched = match rx.blocking_recv() {
                Some(Ok(fetched)) => fetched,
                Some(Err(e)) => {
                    let refused = unreadable(&path, &e.message);
                    *failure.borrow_mut() = Some(e);
                    return Err(refused);
                }
                None => return Err(ArchiveError::Stopped),
            };
            let body: Box<dyn Read + Send> = match fetched.body {
                Body::Whole(bytes) => Box::new(std::io::Cursor::new(bytes)),
                Body::Streamed(stream) => Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
                    tokio_util::io::StreamReader::new(stream),
                    runtime.clone(),
                )),
            };
            let stamp = stamps.get(&path).cloned().unwrap_or_default();
            Ok(SourceEntry {
                path,
                mtime,
                body: SourceBody::File {
                    size: fetched.size,
                    reader: body,
                    stamp,
                },
                object: Some(fetched.object),
            })
        });
        let stop = || cancel.is_cancelled();
        let archived = media::archive_entries(items, out, &stop, mark);
        fetching.abort();
        let failed = failure.borrow_mut().take();
        match failed {
            Some(e) if archived.is_err() => Err(e),
            _ => Ok(archived),
        }
    }

    async fn fetch(&self, listed: Listed) -> Result<Fetched> {
        // Read only as listed: an object replaced since then is a changed file, not a newer one.
        let options = GetOptions {
            if_match: listed.e_tag.clone(),
            ..GetOptions::default()
        };
        let got = match self.store.get_opts(&listed.location, options).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(unreadable_error(
                    &listed.path,
                    "the object was deleted while it was being backed up",
                ))
            }
            Err(object_store::Error::Precondition { .. }) => {
                return Err(unreadable_error(
                    &listed.path,
                    "the object changed while it was being backed up",
                ))
            }
            Err(e) => return Err(self.failed(e, &format!("reading {}", listed.path))),
        };
        let object = from_store(&got.attributes);
        let size = got.meta.size;
        if size != listed.size {
            return Err(unreadable_error(
                &listed.path,
                "the object changed while it was being backed up",
            ));
        }
        let body = if size <= WHOLE_OBJECT_BYTES {
            let bytes = got
                .bytes()
                .await
                .map_err(|e| self.failed(e, &format!("reading {}", listed.path)))?;
            Body::Whole(bytes)
        } else {
            Body::Streamed(got.into_stream().map_err(std::io::Error::other).boxed())
        };
        Ok(Fetched { size, object, body })
    }
}

struct Fetched {
    size: u64,
    object: ObjectAttributes,
    body: Body,
}

enum Body {
    Whole(Bytes),
    Streamed(futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>),
}

/// One entry of the archive in order: a directory (`file` None) or a listed object's path and
/// time.
struct TreeEntry {
    path: String,
    mtime: i64,
    file: Option<(String, i64)>,
}

/// The archive's entries for objects listed in tree order: each directory once, before its
/// contents, dated as its newest object. A key that is also a directory of other keys
/// (`a` and `a/b`) cannot be a file and is refused.
/// What changes whenever an object's content may have: its ETag (when the server lists one)
/// and its modification time.
fn stamp(object: &Listed) -> String {
    format!("{}:{}", object.e_tag.as_deref().unwrap_or(""), object.mtime)
}

fn tree(listed: &[Listed]) -> std::result::Result<Vec<TreeEntry>, (String, String)> {
    let mut newest: HashMap<&str, i64> = HashMap::new();
    for object in listed {
        let mut end = 0;
        while let Some(slash) = object.path[end..].find('/') {
            end += slash;
            let dir = &object.path[..end];
            let time = newest.entry(dir).or_insert(object.mtime);
            *time = (*time).max(object.mtime);
            end += 1;
        }
    }
    let mut entries = Vec::with_capacity(listed.len() + newest.len());
    let mut open: Vec<&str> = Vec::new();
    let mut previous: Option<&str> = None;
    for object in listed {
        let parts: Vec<&str> = object.path.split('/').collect();
        let dirs = &parts[..parts.len() - 1];
        let shared = open.iter().zip(dirs).take_while(|(a, b)| a == b).count();
        open.truncate(shared);
        for (depth, part) in dirs.iter().enumerate().skip(shared) {
            open.push(part);
            let dir = &object.path[..dirs[..=depth].iter().map(|p| p.len() + 1).sum::<usize>() - 1];
            if previous == Some(dir) {
                return Err((
                    dir.to_owned(),
                    "the key is also a folder of other keys, which a file cannot be".into(),
                ));
            }
            entries.push(TreeEntry {
                path: dir.to_owned(),
                mtime: newest.get(dir).copied().unwrap_or(object.mtime),
                file: None,
            });
        }
        entries.push(TreeEntry {
            path: object.path.clone(),
            mtime: object.mtime,
            file: Some((object.path.clone(), object.mtime)),
        });
        previous = Some(&object.path);
    }
    Ok(entries)
}

fn unreadable(path: &str, why: &str) -> ArchiveError {
    ArchiveError::Unreadable {
        path: path.to_owned(),
        why: why.to_owned(),
    }
}

fn unreadable_error(path: &str, why: &str) -> Error {
    Error::new(
        ErrorCode::MediaUnreadable,
        format!("Cannot back up {path}: {why}. Nothing was stored; back up again."),
    )
}

/// Whether an object served with `now` is served as `recorded` says (for the file at `path`);
/// a content type there is none for (nor a guess) is whatever the server gives.
pub fn served_as_recorded(
    path: &str,
    recorded: Option<&ObjectAttributes>,
    now: &ObjectAttributes,
) -> bool {
    let expected = from_store(&to_store(path, recorded));
    let content_type_fits =
        expected.content_type.is_none() || expected.content_type == now.content_type;
    let without_type = |a: &ObjectAttributes| ObjectAttributes {
        content_type: None,
        ..a.clone()
    };
    content_type_fits && without_type(&expected) == without_type(now)
}

/// The attributes as the archive's manifest keeps them.
fn from_store(attributes: &Attributes) -> ObjectAttributes {
    let mut object = ObjectAttributes::default();
    for (attribute, value) in attributes {
        let value = value.as_ref().to_owned();
        match attribute {
            Attribute::ContentType => object.content_type = Some(value),
            Attribute::CacheControl => object.cache_control = Some(value),
            Attribute::ContentDisposition => object.content_disposition = Some(value),
            Attribute::ContentEncoding => object.content_encoding = Some(value),
            Attribute::ContentLanguage => object.content_language = Some(value),
            Attribute::Metadata(key) => {
                object.metadata.insert(key.to_string(), value);
            }
            _ => {}
        }
    }
    object
}

/// The attributes an object is written with: those recorded when it was backed up from a
/// bucket. A file backed up from a directory has none: it gets the content type its name
/// suggests, as django-storages gives uploads, so a browser shows an image rather than
/// downloading it.
fn to_store(path: &str, recorded: Option<&ObjectAttributes>) -> Attributes {
    let mut attributes = Attributes::new();
    let guessed;
    let object = match recorded {
        Some(object) => object,
        None => {
            guessed = ObjectAttributes {
                content_type: mime_guess::from_path(path)
                    .first()
                    .map(|m| m.essence_str().to_owned()),
                ..ObjectAttributes::default()
            };
            &guessed
        }
    };
    let pairs = [
        (Attribute::ContentType, &object.content_type),
        (Attribute::CacheControl, &object.cache_control),
        (Attribute::ContentDisposition, &object.content_disposition),
        (Attribute::ContentEncoding, &object.content_encoding),
        (Attribute::ContentLanguage, &object.content_language),
    ];
    for (attribute, value) in pairs {
        if let Some(value) = value {
            attributes.insert(attribute, AttributeValue::from(value.clone()));
        }
    }
    for (key, value) in &object.metadata {
        attributes.insert(
            Attribute::Metadata(key.clone().into()),
            AttributeValue::from(value.clone()),
        );
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(paths: &[&str]) -> Vec<Listed> {
        let mut listed: Vec<_> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| Listed {
                path: (*p).to_owned(),
                location: Path::from(*p),
                size: 1,
                mtime: i as i64,
                e_tag: None,
            })
            .collect();
        listed.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
        listed
    }

    #[test]
    fn directories_come_once_before_their_contents_dated_by_their_newest_object() {
        let entries = tree(&listed(&["a-b", "a/x/1", "a/y", "a/x/2", "b"])).unwrap();
        let shown: Vec<_> = entries
            .iter()
            .map(|e| format!("{}{}", e.path, if e.file.is_some() { "" } else { "/" }))
            .collect();
        assert_eq!(shown, ["a/", "a/x/", "a/x/1", "a/x/2", "a/y", "a-b", "b"]);
        assert_eq!(entries[0].mtime, 3);
    }

    #[test]
    fn a_key_that_is_also_a_folder_is_refused_with_its_name() {
        let (path, _) = tree(&listed(&["a", "a/b"])).err().unwrap();
        assert_eq!(path, "a");
    }
}
