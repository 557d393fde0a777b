//! The media archive: a tar of the media directory, files under `media/`, ending with a
//! manifest of every entry (path, kind, size, mtime, mode, SHA-256, symlink target). Symlinks
//! are stored as symlinks and never followed; anything unreadable fails the archive with its
//! path named, so an archive never has silent gaps.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::chunked::ContentMark;

pub const MEDIA_DIR: &str = "media";
pub const MANIFEST_NAME: &str = "lifeboat-media-manifest.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum MediaEntryKind {
    File,
    Directory,
    Symlink,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaEntry {
    /// Relative to the media root, `/`-separated.
    pub path: String,
    pub kind: MediaEntryKind,
    #[ts(type = "number")]
    pub size: u64,
    /// Seconds since the Unix epoch.
    #[ts(type = "number")]
    pub mtime: i64,
    pub mode: u32,
    pub sha256: Option<String>,
    pub link_target: Option<String>,
    /// For an object read from a bucket: how it is served and its user metadata, so a restore
    /// into a bucket writes them back. Absent for what was read from a disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub object: Option<ObjectAttributes>,
}

/// An object's HTTP attributes and user metadata (`x-amz-meta-*`, without the prefix), as S3
/// stores them beside its content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ObjectAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[ts(as = "Option<std::collections::BTreeMap<String, String>>", optional)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaManifest {
    pub format: u32,
    pub entries: Vec<MediaEntry>,
}

/// What an archive holds, besides its entries' details in the media manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Archived {
    /// Files and symlinks.
    pub file_count: u64,
    pub total_bytes: u64,
}

/// Why a media directory could not be archived.
#[derive(Debug)]
pub enum ArchiveError {
    /// A file, directory or link of the media directory could not be read; `path` is named.
    Unreadable {
        path: String,
        why: String,
    },
    /// A symlink leads outside the media directory (directly or through other links), which
    /// restores refuse: the backup could never be restored.
    UnsafeLink(String),
    /// Writing the archive failed (a stop request is one: see `crate::is_stopped`).
    Write(io::Error),
    Stopped,
}

/// Archives the media directory `root` into `out`: every entry under `media/`, then the media
/// manifest. `stop` is asked between entries and between reads of a file.
pub fn archive<W: Write>(
    root: &Path,
    out: W,
    stop: &dyn Fn() -> bool,
) -> Result<(W, Archived), ArchiveError> {
    archive_marked(root, out, stop, None)
}

/// `archive`, telling `mark` right before each file's content is written, so a writer that
/// keeps content apart (`chunked::TreeWriter`) knows which bytes are a file's; a file the mark
/// finds unchanged since an earlier tree is not read, its stored content stands for it.
pub fn archive_marked<W: Write>(
    root: &Path,
    out: W,
    stop: &dyn Fn() -> bool,
    mark: Option<&ContentMark>,
) -> Result<(W, Archived), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut entries = Vec::new();
    for walked in walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
    {
        if stop() {
            return Err(ArchiveError::Stopped);
        }
        let walked = walked.map_err(|e| {
            let path = e.path().unwrap_or(root).display().to_string();
            unreadable(&path, &e.to_string())
        })?;
        entries.push(append(&mut tar, root, walked.path(), stop, mark)?);
    }
    finish(tar, entries)
}

/// Archives a tree that arrives as a tar stream (`tar -cf - -C DIR .`, run on the server the
/// media lives on) exactly as `archive` archives a local directory: the same entries under
/// `media/`, hashed on the way, then the media manifest. Entries other than files,
/// directories and symlinks, and names that would leave the root, fail with the name given.
/// The caller must also check that whatever produced `source` succeeded: a producer that
/// skips an unreadable file leaves no trace in the stream.
pub fn archive_stream<R: Read, W: Write>(
    source: R,
    out: W,
    stop: &dyn Fn() -> bool,
) -> Result<(W, Archived), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    let mut entries = Vec::new();
    let mut source = tar::Archive::new(source);
    let stream = |e: io::Error| unreadable("the media directory's tar stream", &e.to_string());
    for item in source.entries().map_err(stream)? {
        if stop() {
            return Err(ArchiveError::Stopped);
        }
        let mut item = item.map_err(stream)?;
        let path = item.path().map_err(stream)?.into_owned();
        let shown = path.display().to_string();
        let relative = path
            .to_str()
            .ok_or_else(|| unreadable(&shown, "the name is not valid UTF-8"))?
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        if relative.is_empty() || relative == "." {
            continue;
        }
        if !crate::media_reader::is_plain_relative(Path::new(&relative)) {
            return Err(unreadable(&shown, "the name leaves the media directory"));
        }
        let source_header = item.header().clone();
        let kind = source_header.entry_type();
        // With the file type bits, as st_mode has them: the manifest says what a backup of the
        // same tree read from disk says.
        let type_bits = if kind.is_dir() {
            0o040000
        } else if kind.is_symlink() {
            0o120000
        } else {
            0o100000
        };
        let header = header_as_read(type_bits, &source_header);
        let body = if kind.is_file() {
            Body::File {
                size: source_header.size().unwrap_or(0),
                reader: &mut item,
            }
        } else if kind.is_dir() {
            Body::Directory
        } else if kind.is_symlink() {
            let target = item
                .link_name()
                .map_err(stream)?
                .ok_or_else(|| unreadable(&shown, "the symlink has no target"))?
                .into_owned();
            Body::Symlink(target)
        } else {
            return Err(unreadable(
                &shown,
                "it is not a regular file, directory or symlink",
            ));
        };
        entries.push(record(
            &mut tar, &relative, &shown, header, body, stop, None,
        )?);
    }
    finish(tar, entries)
}

/// The header of an entry read on a server: its mode (with the file type bits, as st_mode has
/// them), time and owner, whether `tar` or `find` said them, so both give the same bytes.
fn owned_header(mode: u32, mtime: u64, uid: u64, gid: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_uid(uid);
    header.set_gid(gid);
    header
}

/// The header of an entry as `tar` on a server archived it, with `type_bits` for its kind.
fn header_as_read(type_bits: u32, read: &tar::Header) -> tar::Header {
    owned_header(
        type_bits | (read.mode().unwrap_or(0o644) & 0o7777),
        read.mtime().unwrap_or(0),
        read.uid().unwrap_or(0),
        read.gid().unwrap_or(0),
    )
}

/// What `find DIR -mindepth 1 -printf LISTING` prints on a server for each entry of the
/// tree, every field ended by a NUL: type, size, mtime and ctime (seconds with the fraction),
/// inode, permission bits (octal), uid, gid, symlink target, and the path below DIR.
pub const LISTING: &str = r"%y\0%s\0%T@\0%C@\0%i\0%m\0%U\0%G\0%l\0%P\0";

/// One entry of a tree as `find` listed it on a server (`LISTING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEntry {
    pub path: String,
    /// `find`'s `%y`: `f`, `d`, `l`, or another kind, which no archive holds.
    pub kind: char,
    pub size: u64,
    pub mtime: u64,
    /// What changes whenever the file's content may have: its mtime, ctime and inode.
    pub stamp: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub link_target: String,
}

/// The entries of a `LISTING`, in the order `tar --sort=name` archives them: each directory's
/// entries by name, byte for byte, a directory before what it holds.
pub fn parse_listing(listing: &[u8]) -> Result<Vec<ListedEntry>, ArchiveError> {
    let damaged = |why: &str| unreadable("the listing of the media directory", why);
    let fields: Vec<&[u8]> = listing.split(|&b| b == 0).collect();
    let fields = fields.strip_suffix(&[&[][..]]).unwrap_or(&fields);
    if fields.len() % 10 != 0 {
        return Err(damaged("it was cut short"));
    }
    let mut entries = Vec::with_capacity(fields.len() / 10);
    for f in fields.chunks(10) {
        let text = |i: usize| {
            std::str::from_utf8(f[i]).map_err(|_| {
                unreadable(
                    &String::from_utf8_lossy(f[9]),
                    "the name is not valid UTF-8",
                )
            })
        };
        let number = |i: usize, radix: u32| -> Result<u64, ArchiveError> {
            u64::from_str_radix(text(i)?, radix).map_err(|_| damaged("a number is not one"))
        };
        let seconds = text(2)?.split('.').next().unwrap_or("0");
        entries.push(ListedEntry {
            kind: text(0)?.chars().next().unwrap_or('?'),
            size: number(1, 10)?,
            mtime: seconds.parse::<i64>().unwrap_or(0).max(0) as u64,
            stamp: format!("{}:{}:{}", text(2)?, text(3)?, text(4)?),
            mode: number(5, 8)? as u32,
            uid: number(6, 10)?,
            gid: number(7, 10)?,
            link_target: text(8)?.to_owned(),
            path: text(9)?.to_owned(),
        });
    }
    entries.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    Ok(entries)
}

/// The listed files `mark` finds unchanged since its earlier tree, which need not be read.
pub fn unchanged_files(
    listing: &[ListedEntry],
    mark: &ContentMark,
) -> std::collections::HashMap<String, crate::chunked::StoredContent> {
    listing
        .iter()
        .filter(|e| e.kind == 'f')
        .filter_map(|e| Some((e.path.clone(), mark.unchanged(&e.path, &e.stamp, e.size)?)))
        .collect()
}

/// Archives a tree listed on a server (`parse_listing`) exactly as `archive_stream` archives
/// the whole tree streamed by `tar --sort=name`: `unchanged` files from the earlier tree's
/// blobs, and the rest from `changed`, the tar stream of just those files, in listing order.
pub fn archive_listed<R: Read, W: Write>(
    listing: &[ListedEntry],
    mut unchanged: std::collections::HashMap<String, crate::chunked::StoredContent>,
    changed: R,
    out: W,
    stop: &dyn Fn() -> bool,
    mark: &ContentMark,
) -> Result<(W, Archived), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    let mut entries = Vec::new();
    let mut source = tar::Archive::new(changed);
    let stream = |e: io::Error| unreadable("the media directory's tar stream", &e.to_string());
    let mut streamed = source.entries().map_err(stream)?;
    for listed in listing {
        if stop() {
            return Err(ArchiveError::Stopped);
        }
        let path = &listed.path;
        if path.is_empty() || !crate::media_reader::is_plain_relative(Path::new(path)) {
            return Err(unreadable(path, "the name leaves the media directory"));
        }
        let type_bits = match listed.kind {
            'd' => 0o040000,
            'l' => 0o120000,
            'f' => 0o100000,
            _ => {
                return Err(unreadable(
                    path,
                    "it is not a regular file, directory or symlink",
                ))
            }
        };
        let header = owned_header(
            type_bits | (listed.mode & 0o7777),
            listed.mtime,
            listed.uid,
            listed.gid,
        );
        let entry = match listed.kind {
            'd' => record(&mut tar, path, path, header, Body::Directory, stop, None)?,
            'l' => {
                let target = std::path::PathBuf::from(&listed.link_target);
                record(
                    &mut tar,
                    path,
                    path,
                    header,
                    Body::Symlink(target),
                    stop,
                    None,
                )?
            }
            _ => match unchanged.remove(path) {
                Some(content) => stored(&mut tar, path, header, mark, content)?,
                None => {
                    let mut item = streamed
                        .next()
                        .ok_or_else(|| {
                            unreadable(path, "it vanished while it was being backed up")
                        })?
                        .map_err(stream)?;
                    let named = item.path().map_err(stream)?.into_owned();
                    let same = named.to_str().map(|n| n.trim_start_matches("./"))
                        == Some(path.as_str())
                        && item.header().entry_type().is_file();
                    if !same {
                        return Err(unreadable(
                            path,
                            "the media directory changed while it was being backed up",
                        ));
                    }
                    // What tar read is what is stored: the file as it was then.
                    let read = item.header().clone();
                    let header = header_as_read(type_bits, &read);
                    let body = Body::File {
                        size: read.size().unwrap_or(0),
                        reader: &mut item,
                    };
                    let marked = Marked {
                        mark,
                        stamp: &listed.stamp,
                        object: None,
                    };
                    record(&mut tar, path, path, header, body, stop, Some(marked))?
                }
            },
        };
        entries.push(entry);
    }
    if streamed.next().is_some() {
        return Err(unreadable(
            "the media directory",
            "it changed while it was being backed up",
        ));
    }
    finish(tar, entries)
}

/// One entry of a tree that is not on a disk (a bucket's objects), owned, so whoever reads the
/// tree can hand it over from another thread.
pub struct SourceEntry {
    /// Relative to the media root, `/`-separated.
    pub path: String,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
    pub body: SourceBody,
    pub object: Option<ObjectAttributes>,
}

pub enum SourceBody {
    Directory,
    /// A file's size and content, and what changes whenever its content may have (an object's
    /// ETag and modification time).
    File {
        size: u64,
        reader: Box<dyn Read + Send>,
        stamp: String,
    },
    /// A file unchanged since an earlier tree (`ContentMark::unchanged`), not read.
    Stored(crate::chunked::StoredContent),
}

/// Archives a tree given entry by entry, a directory before what it holds, as `archive` archives
/// a directory: files as mode 0644 and directories as 0755 (a bucket has neither owners nor
/// modes), hashed on the way, then the media manifest. `mark` is told of each file's content,
/// and must be given for a `Stored` file.
pub fn archive_entries<W: Write>(
    entries: impl Iterator<Item = Result<SourceEntry, ArchiveError>>,
    out: W,
    stop: &dyn Fn() -> bool,
    mark: Option<&ContentMark>,
) -> Result<(W, Archived), ArchiveError> {
    let mut tar = tar::Builder::new(out);
    let mut recorded = Vec::new();
    for source in entries {
        if stop() {
            return Err(ArchiveError::Stopped);
        }
        let SourceEntry {
            path,
            mtime,
            body,
            object,
        } = source?;
        if path.is_empty() || !crate::media_reader::is_plain_relative(Path::new(&path)) {
            return Err(unreadable(&path, "the name cannot be a file's path"));
        }
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime.max(0) as u64);
        let is_dir = matches!(body, SourceBody::Directory);
        header.set_mode(if is_dir { 0o040755 } else { 0o100644 });
        let mut entry = match body {
            SourceBody::Directory => {
                record(&mut tar, &path, &path, header, Body::Directory, stop, None)?
            }
            SourceBody::File {
                size,
                mut reader,
                stamp,
            } => {
                let body = Body::File {
                    size,
                    reader: reader.as_mut(),
                };
                let marked = mark.map(|mark| Marked {
                    mark,
                    stamp: &stamp,
                    object: object.as_ref(),
                });
                record(&mut tar, &path, &path, header, body, stop, marked)?
            }
            SourceBody::Stored(content) => {
                let mark = mark.ok_or_else(|| {
                    ArchiveError::Write(io::Error::other("stored content needs a tree writer"))
                })?;
                stored(&mut tar, &path, header, mark, content)?
            }
        };
        entry.object = object;
        recorded.push(entry);
    }
    finish(tar, recorded)
}

/// What one entry holds, however it was found.
enum Body<'r> {
    File { size: u64, reader: &'r mut dyn Read },
    Directory,
    Symlink(std::path::PathBuf),
}

/// What the tree writer is told of a file besides its content.
#[derive(Clone, Copy)]
struct Marked<'a> {
    mark: &'a ContentMark,
    stamp: &'a str,
    object: Option<&'a ObjectAttributes>,
}

/// Appends one entry under `media/` and describes it for the media manifest. `header` carries
/// its mode, times and owner; `mark` is told of its content.
fn record<W: Write>(
    tar: &mut tar::Builder<W>,
    relative: &str,
    shown: &str,
    mut header: tar::Header,
    body: Body<'_>,
    stop: &dyn Fn() -> bool,
    mark: Option<Marked<'_>>,
) -> Result<MediaEntry, ArchiveError> {
    let name = format!("{MEDIA_DIR}/{relative}");
    let mut entry = MediaEntry {
        path: relative.to_owned(),
        kind: MediaEntryKind::File,
        size: 0,
        mtime: header.mtime().unwrap_or(0) as i64,
        mode: header.mode().unwrap_or(0),
        sha256: None,
        link_target: None,
        object: None,
    };
    match body {
        Body::Directory => {
            entry.kind = MediaEntryKind::Directory;
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            tar.append_data(&mut header, format!("{name}/"), io::empty())
                .map_err(ArchiveError::Write)?;
        }
        Body::Symlink(target) => {
            entry.kind = MediaEntryKind::Symlink;
            entry.link_target = Some(target.display().to_string());
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, &name, &target)
                .map_err(ArchiveError::Write)?;
        }
        Body::File { size, reader } => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(size);
            let mut reader = HashingReader {
                inner: reader.take(size),
                hasher: Sha256::new(),
                bytes: 0,
                failure: None,
                stop,
                // tar has written the header when it first reads the content.
                mark: mark.map(|m| (m, relative, size)),
            };
            let appended = tar.append_data(&mut header, &name, &mut reader);
            if let Some(failure) = reader.failure.take() {
                return Err(unreadable(shown, &failure));
            }
            appended.map_err(ArchiveError::Write)?;
            if reader.bytes != size {
                return Err(unreadable(
                    shown,
                    "the file changed while it was being backed up",
                ));
            }
            entry.size = size;
            entry.sha256 = Some(format!("{:x}", reader.hasher.finalize()));
        }
    }
    Ok(entry)
}

/// Checks the links, then appends the media manifest after the entries and ends the tar.
fn finish<W: Write>(
    mut tar: tar::Builder<W>,
    entries: Vec<MediaEntry>,
) -> Result<(W, Archived), ArchiveError> {
    // Refused here, with the path named, rather than found only when a restore refuses it.
    let links = entries
        .iter()
        .filter_map(|e| Some((e.path.clone(), e.link_target.as_ref()?.into())))
        .collect();
    crate::media_reader::links_resolve_inside(&links).map_err(ArchiveError::UnsafeLink)?;
    let file_count = entries
        .iter()
        .filter(|e| e.kind != MediaEntryKind::Directory)
        .count() as u64;
    let total_bytes = entries.iter().map(|e| e.size).sum();
    let newest = entries.iter().map(|e| e.mtime).max().unwrap_or(0);
    let manifest = serde_json::to_vec_pretty(&MediaManifest { format: 1, entries })
        .map_err(|e| ArchiveError::Write(io::Error::other(e)))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    // Dated as the newest entry rather than now: the same tree archives to the same bytes,
    // whichever way it is stored.
    header.set_mtime(newest.max(0) as u64);
    tar.append_data(&mut header, MANIFEST_NAME, manifest.as_slice())
        .map_err(ArchiveError::Write)?;
    let out = tar.into_inner().map_err(ArchiveError::Write)?;
    Ok((
        out,
        Archived {
            file_count,
            total_bytes,
        },
    ))
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    path: &Path,
    stop: &dyn Fn() -> bool,
    mark: Option<&ContentMark>,
) -> Result<MediaEntry, ArchiveError> {
    let shown = path.display().to_string();
    let relative = path
        .strip_prefix(root)
        .ok()
        .and_then(|p| p.to_str())
        .ok_or_else(|| unreadable(&shown, "the name is not valid UTF-8"))?
        .replace(std::path::MAIN_SEPARATOR, "/");
    let meta = std::fs::symlink_metadata(path).map_err(|e| unreadable(&shown, &e.to_string()))?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    let kind = meta.file_type();
    if kind.is_dir() {
        record(tar, &relative, &shown, header, Body::Directory, stop, None)
    } else if kind.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| unreadable(&shown, &e.to_string()))?;
        record(
            tar,
            &relative,
            &shown,
            header,
            Body::Symlink(target),
            stop,
            None,
        )
    } else if kind.is_file() {
        if let Some(mark) = mark {
            if let Some(content) = mark.unchanged(&relative, &stamp(&meta), meta.len()) {
                return stored(tar, &relative, header, mark, content);
            }
        }
        let mut file = open_regular(path).map_err(|e| unreadable(&shown, &e))?;
        // The header comes from the opened file: a file replaced since the walk saw it is
        // archived as what was actually read.
        let meta = file
            .metadata()
            .map_err(|e| unreadable(&shown, &e.to_string()))?;
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        let size = meta.len();
        let body = Body::File {
            size,
            reader: &mut file,
        };
        let stamp = stamp(&meta);
        let mark = mark.map(|mark| Marked {
            mark,
            stamp: &stamp,
            object: None,
        });
        record(tar, &relative, &shown, header, body, stop, mark)
    } else {
        Err(unreadable(
            &shown,
            "it is not a regular file, directory or symlink",
        ))
    }
}

/// What changes whenever a file's content may have, short of reading it: its modification
/// and change times to the nanosecond and its inode (a file replaced by another gets a new one).
fn stamp(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}.{:09}:{}.{:09}:{}",
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
        meta.ino()
    )
}

/// Appends a file unchanged since an earlier tree without reading it: its header, then, in
/// place of its content, the earlier tree's blobs for it (told to `mark`), then the padding.
fn stored<W: Write>(
    tar: &mut tar::Builder<W>,
    relative: &str,
    mut header: tar::Header,
    mark: &ContentMark,
    content: crate::chunked::StoredContent,
) -> Result<MediaEntry, ArchiveError> {
    let name = format!("{MEDIA_DIR}/{relative}");
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(content.size);
    // tar writes the header (and a long name's extension) and copies no content: the size
    // above is what the tree will hold once the mark's blobs stand in for the content.
    tar.append_data(&mut header, &name, io::empty())
        .map_err(ArchiveError::Write)?;
    let entry = MediaEntry {
        path: relative.to_owned(),
        kind: MediaEntryKind::File,
        size: content.size,
        mtime: header.mtime().unwrap_or(0) as i64,
        mode: header.mode().unwrap_or(0),
        sha256: Some(content.sha256.clone()),
        link_target: None,
        object: None,
    };
    let padding = (512 - content.size % 512) % 512;
    mark.stored_follows(relative, content);
    tar.get_mut()
        .write_all(&[0u8; 512][..padding as usize])
        .map_err(ArchiveError::Write)?;
    Ok(entry)
}

/// Opens without following a symlink and without blocking on a FIFO swapped in since the walk,
/// and only if it is still a regular file.
fn open_regular(path: &Path) -> std::result::Result<File, String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = options.open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is no longer a regular file".into());
    }
    Ok(file)
}

fn unreadable(path: &str, why: &str) -> ArchiveError {
    ArchiveError::Unreadable {
        path: path.to_owned(),
        why: why.to_owned(),
    }
}

/// Hashes a file while tar copies it; a read error is kept so it is reported as the file's
/// fault rather than the archive's.
struct HashingReader<'a, R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    failure: Option<String>,
    stop: &'a dyn Fn() -> bool,
    /// Told once, at the first read, which file's content follows and its size.
    mark: Option<(Marked<'a>, &'a str, u64)>,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if (self.stop)() {
            return Err(crate::stopped_io());
        }
        if let Some((marked, path, size)) = self.mark.take() {
            marked
                .mark
                .file_follows(path, marked.stamp, size, marked.object);
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.bytes += n as u64;
                Ok(n)
            }
            Err(e) => {
                // io::copy retries an interrupted read; only a real failure is the file's.
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failure = Some(e.to_string());
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order GNU `tar --sort=name` archives a tree in, and the order a listing by `find` is
    /// put in, are the same, even where a name sorts between a directory and what it holds.
    #[test]
    fn a_listing_is_in_the_order_tar_archives_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["a/b", "a/c d", "z"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        for file in ["a-b", "a.b", "a/b/x", "a/B", "a/c d/é", "z/0"] {
            std::fs::write(root.join(file), file).unwrap();
        }
        std::os::unix::fs::symlink("a-b", root.join("link")).unwrap();
        let run = |program: &str, args: &[&str]| {
            let out = std::process::Command::new(program)
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{program}");
            out.stdout
        };
        let root_arg = root.to_str().unwrap();
        let listing = run("find", &[root_arg, "-mindepth", "1", "-printf", LISTING]);
        let listed: Vec<String> = parse_listing(&listing)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        let tar = run("tar", &["-cf", "-", "--sort=name", "-C", root_arg, "."]);
        let archived: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path().unwrap().display().to_string();
                path.trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_owned()
            })
            .filter(|p| !p.is_empty() && p != ".")
            .collect();
        assert_eq!(listed, archived);
        assert_eq!(listed.len(), 11);
        let link = parse_listing(&listing)
            .unwrap()
            .into_iter()
            .find(|e| e.path == "link")
            .unwrap();
        assert_eq!((link.kind, link.link_target.as_str()), ('l', "a-b"));
    }
}
