//! Deduplicated artifacts (format 2, docs/storage-format.md). An artifact's plaintext — the
//! very bytes a single-object artifact holds, so downloads stay the same plain files — is kept
//! as a *tree*: pieces that are either bytes held in the tree (tar headers and padding) or
//! *blobs*. A blob is a piece of content (a whole small file, or a content-defined chunk of a
//! large file or of a dump, so an insert shifts no later chunk) stored once per repository
//! however many backups hold it. Blobs are named by a keyed hash of their plaintext, so whoever
//! holds the bucket cannot test whether a known file is in it, compressed one by one and sealed
//! together into pack objects several MiB large (`pack`).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::media::ObjectAttributes;

/// Content-defined chunk sizes (FastCDC): a file below the minimum is one blob.
pub const MIN_CHUNK: u32 = 256 << 10;
pub const AVG_CHUNK: u32 = 1 << 20;
pub const MAX_CHUNK: u32 = 4 << 20;

const KEY_CONTEXT: &[u8] = b"lifeboat blob id key, format 2";

/// The key blob ids are computed with, derived from the recovery key.
#[derive(Clone)]
pub struct ChunkKey([u8; 32]);

impl ChunkKey {
    pub fn from_identity(identity: &age::x25519::Identity) -> Self {
        Self(crate::authentication::derive_key(identity, KEY_CONTEXT))
    }

    /// The blob id of `plaintext`: lowercase hex HMAC-SHA256.
    pub fn id(&self, plaintext: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(plaintext);
        format!("{:x}", mac.finalize().into_bytes())
    }
}

/// One piece of an artifact's plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Piece {
    /// Bytes held in the tree itself, base64 (standard alphabet, padded).
    Bytes { data: String },
    /// A blob of the repository and its plaintext size.
    Blob { id: String, size: u64 },
}

/// An artifact's plaintext as pieces, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    pub format: u32,
    pub pieces: Vec<Piece>,
    /// A media tree's files and where their content is, so the next backup can take an
    /// unchanged file's blobs without reading the file again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRecord>,
}

/// A file whose content a tree holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative to the media root, as the media manifest names it.
    pub path: String,
    /// What its source said of it when it was read, which changes whenever its content may
    /// have: for a file on disk, its modification and change times (ns) and inode.
    pub stamp: String,
    pub size: u64,
    pub sha256: String,
    /// Its content: the `count` blob pieces from piece `first`.
    pub first: u64,
    pub count: u64,
    /// An object's attributes, for a file read from a bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectAttributes>,
}

/// A file's content as an earlier tree holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContent {
    pub stamp: String,
    pub size: u64,
    pub sha256: String,
    /// Blob ids and plaintext sizes, in order.
    pub blobs: Vec<(String, u64)>,
    pub object: Option<ObjectAttributes>,
}

impl Tree {
    /// The ids of the blobs the tree holds, in order (a blob held twice, twice).
    pub fn blobs(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Blob { id, .. } => Some(id.as_str()),
            Piece::Bytes { .. } => None,
        })
    }

    /// The files whose content this tree holds, by path. A record that does not point at blobs
    /// adding up to its size is left out: its file will be read again.
    pub fn stored_contents(&self) -> HashMap<String, StoredContent> {
        let mut contents = HashMap::new();
        for file in &self.files {
            let (Ok(first), Ok(count)) = (usize::try_from(file.first), usize::try_from(file.count))
            else {
                continue;
            };
            let Some(pieces) = first
                .checked_add(count)
                .and_then(|end| self.pieces.get(first..end))
            else {
                continue;
            };
            let blobs: Option<Vec<(String, u64)>> = pieces
                .iter()
                .map(|p| match p {
                    Piece::Blob { id, size } => Some((id.clone(), *size)),
                    Piece::Bytes { .. } => None,
                })
                .collect();
            let Some(blobs) = blobs else { continue };
            if blobs.iter().map(|b| b.1).sum::<u64>() != file.size {
                continue;
            }
            contents.insert(
                file.path.clone(),
                StoredContent {
                    stamp: file.stamp.clone(),
                    size: file.size,
                    sha256: file.sha256.clone(),
                    blobs,
                    object: file.object.clone(),
                },
            );
        }
        contents
    }
}

/// Where blobs are: what a backup adds to the repository's index, one object per backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackIndex {
    pub format: u32,
    pub packs: Vec<PackRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRecord {
    /// The pack's object name below the repository's `packs/`.
    pub name: String,
    /// The pack's size in storage.
    pub bytes: u64,
    /// Its age header and payload nonce, base64, so a blob is read with one request.
    pub header: String,
    pub blobs: Vec<BlobRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    pub id: String,
    /// The compressed blob's place in the pack's plaintext.
    pub offset: u64,
    pub length: u64,
    /// Its plaintext size.
    pub size: u64,
}

/// Seals an index object or a list: zstd, then age to `recipient`.
pub fn seal(
    plaintext: &[u8],
    recipient: &age::x25519::Recipient,
    level: i32,
) -> io::Result<Vec<u8>> {
    let compressed = zstd::bulk::compress(plaintext, level)?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(io::Error::other)?;
    let mut sealed = Vec::with_capacity(compressed.len() + 256);
    let mut writer = encryptor.wrap_output(&mut sealed)?;
    writer.write_all(&compressed)?;
    writer.finish()?;
    Ok(sealed)
}

/// Where new blobs go; told of every blob, it keeps each id once.
pub trait BlobSink {
    fn blob(&mut self, id: &str, plaintext: &[u8]) -> io::Result<()>;
}

/// What the producer tells the tree writer besides the bytes it writes: right before a file's
/// content, that content follows (the rest, tar headers and padding, stays in the tree); and,
/// instead of the content of a file unchanged since an earlier tree, that tree's blobs for it.
#[derive(Clone, Default)]
pub struct ContentMark(Arc<Mutex<Marks>>);

/// Whether the repository still has a blob, so a backup may use it without storing it.
type Usable = Box<dyn Fn(&str) -> bool + Send>;

#[derive(Default)]
struct Marks {
    next: Option<Next>,
    earlier: HashMap<String, StoredContent>,
    usable: Option<Usable>,
}

enum Next {
    /// The next `bytes` written are the content of this file.
    Content { bytes: u64, file: Named },
    /// A file's content is these blobs: they go into the tree before the next byte written.
    Stored {
        path: String,
        content: StoredContent,
    },
}

impl ContentMark {
    /// A mark that offers the files of an earlier tree (`Tree::stored_contents`) whose blobs
    /// `usable` says the repository still has.
    pub fn with_earlier(
        earlier: HashMap<String, StoredContent>,
        usable: impl Fn(&str) -> bool + Send + 'static,
    ) -> Self {
        Self(Arc::new(Mutex::new(Marks {
            next: None,
            earlier,
            usable: Some(Box::new(usable)),
        })))
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `bytes` written are the content of the file at `path`, as `stamp` describes
    /// it (with its attributes, when it is an object).
    pub fn file_follows(
        &self,
        path: &str,
        stamp: &str,
        bytes: u64,
        object: Option<&ObjectAttributes>,
    ) {
        self.marks().next = Some(Next::Content {
            bytes,
            file: Named {
                path: path.to_owned(),
                stamp: stamp.to_owned(),
                object: object.cloned(),
            },
        });
    }

    /// The content an earlier tree holds for `path`, if it was stored with the same stamp and
    /// size and the repository still has all of its blobs.
    pub fn unchanged(&self, path: &str, stamp: &str, size: u64) -> Option<StoredContent> {
        let mut marks = self.marks();
        let content = marks.earlier.remove(path)?;
        let usable = marks.usable.as_ref()?;
        let same = content.stamp == stamp && content.size == size;
        (same && content.blobs.iter().all(|(id, _)| usable(id))).then_some(content)
    }

    /// The file at `path` holds `content` (from `unchanged`), which is not written: the tree
    /// takes its blobs before whatever is written next.
    pub fn stored_follows(&self, path: &str, content: StoredContent) {
        self.marks().next = Some(Next::Stored {
            path: path.to_owned(),
            content,
        });
    }

    fn take(&self) -> Option<Next> {
        self.marks().next.take()
    }
}

/// A file as the producer names it.
struct Named {
    path: String,
    stamp: String,
    object: Option<ObjectAttributes>,
}

/// The file whose content is being written.
struct Filling {
    file: Named,
    size: u64,
    first: usize,
    hasher: Sha256,
}

/// Turns an artifact's plaintext into a tree and blobs as it is written: content (as marked, or
/// everything with `all_content`) is cut into content-defined chunks, the rest kept in the
/// tree. The plaintext is counted and hashed as a single-object artifact's is.
pub struct TreeWriter<S: BlobSink> {
    key: ChunkKey,
    sink: S,
    mark: ContentMark,
    all_content: bool,
    pieces: Vec<Piece>,
    files: Vec<FileRecord>,
    filling: Option<Filling>,
    held: Vec<u8>,
    content: Vec<u8>,
    content_left: u64,
    /// Hashes the plaintext, until content is taken from an earlier tree unread.
    hasher: Option<Sha256>,
    bytes: u64,
}

impl<S: BlobSink> TreeWriter<S> {
    pub fn new(key: ChunkKey, sink: S, mark: ContentMark, all_content: bool) -> Self {
        Self {
            key,
            sink,
            mark,
            all_content,
            pieces: Vec::new(),
            files: Vec::new(),
            filling: None,
            held: Vec::new(),
            content: Vec::new(),
            content_left: 0,
            hasher: Some(Sha256::new()),
            bytes: 0,
        }
    }

    /// The plaintext the tree describes so far, in bytes.
    pub fn plaintext_bytes(&self) -> u64 {
        self.bytes
    }

    /// The tree, the sink, and the plaintext's size and SHA-256 (unknown when content was
    /// taken from an earlier tree without being read).
    pub fn finish(mut self) -> io::Result<(Tree, S, u64, Option<String>)> {
        self.next_mark();
        self.cut(true)?;
        self.hold_done();
        let sha = self.hasher.map(|h| format!("{:x}", h.finalize()));
        Ok((
            Tree {
                format: 2,
                pieces: self.pieces,
                files: self.files,
            },
            self.sink,
            self.bytes,
            sha,
        ))
    }

    /// Acts on what the producer announced, between two files' contents.
    fn next_mark(&mut self) {
        match self.mark.take() {
            None => {}
            Some(Next::Content { bytes, file }) => {
                self.content_left = bytes;
                self.hold_done();
                self.filling = Some(Filling {
                    file,
                    size: bytes,
                    first: self.pieces.len(),
                    hasher: Sha256::new(),
                });
                // An empty file is complete at once.
                if bytes == 0 {
                    self.file_done();
                }
            }
            Some(Next::Stored { path, content }) => {
                self.hold_done();
                // Only content not read leaves the plaintext unhashed.
                if content.size > 0 {
                    self.hasher = None;
                }
                self.bytes += content.size;
                self.files.push(FileRecord {
                    path,
                    stamp: content.stamp,
                    size: content.size,
                    sha256: content.sha256,
                    first: self.pieces.len() as u64,
                    count: content.blobs.len() as u64,
                    object: content.object,
                });
                self.pieces.extend(
                    content
                        .blobs
                        .into_iter()
                        .map(|(id, size)| Piece::Blob { id, size }),
                );
            }
        }
    }

    /// The file being written is complete: its content's pieces are all in the tree.
    fn file_done(&mut self) {
        if let Some(filled) = self.filling.take() {
            self.files.push(FileRecord {
                path: filled.file.path,
                stamp: filled.file.stamp,
                size: filled.size,
                sha256: format!("{:x}", filled.hasher.finalize()),
                first: filled.first as u64,
                count: (self.pieces.len() - filled.first) as u64,
                object: filled.file.object,
            });
        }
    }

    fn hold_done(&mut self) {
        if !self.held.is_empty() {
            let data = base64::engine::general_purpose::STANDARD.encode(&self.held);
            self.pieces.push(Piece::Bytes { data });
            self.held.clear();
        }
    }

    /// Emits the content chunks found so far; with `all`, the content is complete and the
    /// last chunk too.
    fn cut(&mut self, all: bool) -> io::Result<()> {
        if self.content.is_empty() {
            return Ok(());
        }
        let chunks: Vec<(usize, usize)> =
            fastcdc::v2020::FastCDC::new(&self.content, MIN_CHUNK, AVG_CHUNK, MAX_CHUNK)
                .map(|c| (c.offset, c.length))
                .collect();
        let keep = if all {
            chunks.len()
        } else {
            chunks.len().saturating_sub(1)
        };
        if keep == 0 {
            return Ok(());
        }
        self.hold_done();
        let mut end = 0;
        for &(offset, length) in &chunks[..keep] {
            let chunk = &self.content[offset..offset + length];
            let id = self.key.id(chunk);
            self.sink.blob(&id, chunk)?;
            self.pieces.push(Piece::Blob {
                id,
                size: length as u64,
            });
            end = offset + length;
        }
        self.content.drain(..end);
        Ok(())
    }
}

impl<S: BlobSink> TreeWriter<S> {
    fn took(&mut self, bytes: &[u8]) {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        }
        self.bytes += bytes.len() as u64;
    }
}

impl<S: BlobSink> Write for TreeWriter<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.content_left == 0 && !self.all_content {
                self.next_mark();
            }
            if self.all_content || self.content_left > 0 {
                let take = if self.all_content {
                    rest.len()
                } else {
                    rest.len()
                        .min(usize::try_from(self.content_left).unwrap_or(usize::MAX))
                };
                let (taken, left) = rest.split_at(take);
                self.took(taken);
                if let Some(file) = &mut self.filling {
                    file.hasher.update(taken);
                }
                self.content.extend_from_slice(taken);
                rest = left;
                if !self.all_content {
                    self.content_left -= take as u64;
                }
                if self.content.len() >= 2 * MAX_CHUNK as usize {
                    self.cut(false)?;
                }
                if !self.all_content && self.content_left == 0 {
                    self.cut(true)?;
                    self.file_done();
                }
            } else {
                self.took(rest);
                self.held.extend_from_slice(rest);
                rest = &[];
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The plaintext a tree describes, blob by blob as `blob` gives their plaintexts (already
/// proven to be what their ids name).
pub struct PiecesReader<F: FnMut(&str, u64) -> io::Result<Vec<u8>>> {
    pieces: std::vec::IntoIter<Piece>,
    blob: F,
    current: io::Cursor<Vec<u8>>,
}

impl<F: FnMut(&str, u64) -> io::Result<Vec<u8>>> PiecesReader<F> {
    pub fn new(tree: Tree, blob: F) -> Self {
        Self {
            pieces: tree.pieces.into_iter(),
            blob,
            current: io::Cursor::new(Vec::new()),
        }
    }
}

impl<F: FnMut(&str, u64) -> io::Result<Vec<u8>>> Read for PiecesReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let next = match self.pieces.next() {
                None => return Ok(0),
                Some(Piece::Bytes { data }) => base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("a tree's bytes are damaged ({e})"),
                        )
                    })?,
                Some(Piece::Blob { id, size }) => (self.blob)(&id, size)?,
            };
            self.current = io::Cursor::new(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Blobs kept in memory; counts what was offered.
    #[derive(Default)]
    struct Memory {
        blobs: HashMap<String, Vec<u8>>,
        new: Vec<String>,
    }

    impl BlobSink for &mut Memory {
        fn blob(&mut self, id: &str, plaintext: &[u8]) -> io::Result<()> {
            if !self.blobs.contains_key(id) {
                self.blobs.insert(id.to_owned(), plaintext.to_vec());
                self.new.push(id.to_owned());
            }
            Ok(())
        }
    }

    fn key() -> ChunkKey {
        ChunkKey::from_identity(&age::x25519::Identity::generate())
    }

    fn tree_of(dir: &std::path::Path, key: &ChunkKey, memory: &mut Memory) -> (Tree, u64, String) {
        let mark = ContentMark::default();
        let writer = TreeWriter::new(key.clone(), memory, mark.clone(), false);
        let (writer, _) =
            crate::media::archive_marked(dir, writer, &|| false, Some(&mark)).unwrap();
        let (tree, _, bytes, sha) = writer.finish().unwrap();
        (tree, bytes, sha.expect("every file was read"))
    }

    fn rebuilt(tree: Tree, memory: &Memory) -> Vec<u8> {
        let mut out = Vec::new();
        PiecesReader::new(tree, |id, _| Ok(memory.blobs[id].clone()))
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn tree_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("uploads/2026")).unwrap();
        for i in 0..20u32 {
            let body: Vec<u8> = (0..(i * 50_000))
                .map(|b| (b.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            std::fs::write(dir.path().join(format!("uploads/2026/f{i:02}.bin")), body).unwrap();
        }
        let long = format!("uploads/{}.txt", "a-very-long-name-".repeat(10));
        std::fs::write(dir.path().join(long), b"long name").unwrap();
        std::fs::write(dir.path().join("empty.txt"), b"").unwrap();
        dir
    }

    #[test]
    fn a_tree_rebuilds_the_very_bytes_of_the_single_object_archive() {
        let dir = tree_dir();
        let (plain, _) = crate::media::archive(dir.path(), Vec::new(), &|| false).unwrap();
        let key = key();
        let mut memory = Memory::default();
        let (tree, bytes, sha) = tree_of(dir.path(), &key, &mut memory);
        assert_eq!(bytes, plain.len() as u64);
        assert_eq!(sha, format!("{:x}", Sha256::digest(&plain)));
        // Content went to blobs (the 9.5 MB of files), headers stayed in the tree.
        let held: usize = tree
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes { data } => data.len(),
                Piece::Blob { .. } => 0,
            })
            .sum();
        assert!(held < 64 * 1024, "{held} bytes held in the tree");
        assert_eq!(rebuilt(tree, &memory), plain);
    }

    #[test]
    fn a_second_tree_after_a_small_change_adds_only_the_changed_content() {
        let dir = tree_dir();
        let key = key();
        let mut memory = Memory::default();
        tree_of(dir.path(), &key, &mut memory);
        let first = memory.new.len();
        std::fs::write(dir.path().join("uploads/2026/f03.bin"), b"changed").unwrap();
        std::fs::write(dir.path().join("uploads/new.txt"), b"new upload").unwrap();
        memory.new.clear();
        let (tree, _, _) = tree_of(dir.path(), &key, &mut memory);
        assert!(first > 10, "{first} blobs the first time");
        assert_eq!(memory.new.len(), 2, "only the changed and the new file");
        let (plain, _) = crate::media::archive(dir.path(), Vec::new(), &|| false).unwrap();
        assert_eq!(rebuilt(tree, &memory), plain);
    }

    /// A tree of `dir` that may take unchanged files from `earlier`; the blobs it offered.
    fn tree_after(
        dir: &std::path::Path,
        key: &ChunkKey,
        memory: &mut Memory,
        earlier: &Tree,
    ) -> (Tree, u64, Option<String>) {
        let known: std::collections::HashSet<String> = memory.blobs.keys().cloned().collect();
        let mark =
            ContentMark::with_earlier(earlier.stored_contents(), move |id| known.contains(id));
        let writer = TreeWriter::new(key.clone(), memory, mark.clone(), false);
        let (writer, _) =
            crate::media::archive_marked(dir, writer, &|| false, Some(&mark)).unwrap();
        let (tree, _, bytes, sha) = writer.finish().unwrap();
        (tree, bytes, sha)
    }

    #[test]
    fn unchanged_files_are_taken_from_the_earlier_tree_and_rebuild_the_same_bytes() {
        let dir = tree_dir();
        let key = key();
        let mut memory = Memory::default();
        let (first, _, _) = tree_of(dir.path(), &key, &mut memory);
        // The 20 numbered files (one empty), the long name and the empty one.
        assert_eq!(first.files.len(), 22);

        std::fs::write(dir.path().join("uploads/2026/f03.bin"), b"changed").unwrap();
        memory.new.clear();
        let (second, bytes, sha) = tree_after(dir.path(), &key, &mut memory, &first);
        let (plain, _) = crate::media::archive(dir.path(), Vec::new(), &|| false).unwrap();
        assert_eq!(bytes, plain.len() as u64);
        assert_eq!(sha, None, "content taken unread cannot be hashed");
        assert_eq!(
            memory.new.len(),
            1,
            "only the changed file was read into a blob"
        );
        assert_eq!(rebuilt(second.clone(), &memory), plain);
        let changed = second
            .files
            .iter()
            .find(|f| f.path == "uploads/2026/f03.bin");
        assert_eq!(
            changed.map(|f| f.sha256.clone()),
            Some(format!("{:x}", Sha256::digest(b"changed")))
        );

        // A blob the repository no longer has is not taken: its file is read again.
        memory.blobs.clear();
        memory.new.clear();
        let (third, _, sha) = tree_after(dir.path(), &key, &mut memory, &second);
        assert!(sha.is_some(), "every file was read");
        assert_eq!(rebuilt(third, &memory), plain);
    }
}
