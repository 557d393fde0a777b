//! Deduplicated artifacts (format 2, docs/storage-format.md). An artifact's plaintext — the
//! very bytes a single-object artifact holds, so downloads stay the same plain files — is kept
//! as a *tree*: pieces that are either bytes held in the tree (tar headers and padding) or
//! *blobs*. A blob is a piece of content (a whole small file, or a content-defined chunk of a
//! large file or of a dump, so an insert shifts no later chunk) stored once per repository
//! however many backups hold it. Blobs are named by a keyed hash of their plaintext, so whoever
//! holds the bucket cannot test whether a known file is in it, sealed one by one (zstd, then age
//! to the recovery key) and packed into pack objects several MiB large.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    pub blobs: Vec<BlobRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    pub id: String,
    /// The sealed blob's place in the pack.
    pub offset: u64,
    pub length: u64,
    /// Its plaintext size.
    pub size: u64,
}

/// Seals a blob: zstd, then age to `recipient`.
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

/// Opens a sealed blob and proves it is the blob `id` names, of `size` bytes.
pub fn open(
    sealed: &[u8],
    identity: &age::x25519::Identity,
    key: &ChunkKey,
    id: &str,
    size: u64,
) -> Result<Vec<u8>, String> {
    let decryptor =
        age::Decryptor::new(sealed).map_err(|e| format!("blob {id} is not an age file ({e})"))?;
    let mut compressed = Vec::new();
    decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| format!("blob {id} does not open with the recovery key ({e})"))?
        .read_to_end(&mut compressed)
        .map_err(|e| format!("blob {id} is damaged ({e})"))?;
    let capacity = usize::try_from(size).map_err(|_| format!("blob {id} is too large"))?;
    let plain = zstd::bulk::decompress(&compressed, capacity)
        .map_err(|e| format!("blob {id} is damaged ({e})"))?;
    if plain.len() as u64 != size || key.id(&plain) != id {
        return Err(format!("blob {id} does not hold what its id names"));
    }
    Ok(plain)
}

/// Where new blobs go; told of every blob, it keeps each id once.
pub trait BlobSink {
    fn blob(&mut self, id: &str, plaintext: &[u8]) -> io::Result<()>;
}

/// Content bytes about to be written: set by the producer right before it writes a file's
/// content (the rest of what it writes, tar headers and padding, stays in the tree).
#[derive(Clone, Default)]
pub struct ContentMark(Arc<AtomicU64>);

impl ContentMark {
    /// The next `bytes` written are content.
    pub fn content_follows(&self, bytes: u64) {
        self.0.store(bytes, Ordering::SeqCst);
    }

    fn take(&self) -> u64 {
        self.0.swap(0, Ordering::SeqCst)
    }
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
    held: Vec<u8>,
    content: Vec<u8>,
    content_left: u64,
    hasher: Sha256,
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
            held: Vec::new(),
            content: Vec::new(),
            content_left: 0,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The tree, the sink, and the plaintext's size and SHA-256.
    pub fn finish(mut self) -> io::Result<(Tree, S, u64, String)> {
        self.cut(true)?;
        self.hold_done();
        let sha = format!("{:x}", self.hasher.finalize());
        Ok((
            Tree {
                format: 2,
                pieces: self.pieces,
            },
            self.sink,
            self.bytes,
            sha,
        ))
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

impl<S: BlobSink> Write for TreeWriter<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        let mut rest = buf;
        while !rest.is_empty() {
            if self.content_left == 0 && !self.all_content {
                self.content_left = self.mark.take();
            }
            if self.all_content || self.content_left > 0 {
                let take = if self.all_content {
                    rest.len()
                } else {
                    rest.len()
                        .min(usize::try_from(self.content_left).unwrap_or(usize::MAX))
                };
                self.content.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if !self.all_content {
                    self.content_left -= take as u64;
                }
                if self.content.len() >= 2 * MAX_CHUNK as usize {
                    self.cut(false)?;
                }
                if !self.all_content && self.content_left == 0 {
                    self.cut(true)?;
                }
            } else {
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
        (tree, bytes, sha)
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

    #[test]
    fn a_blob_opens_only_as_what_its_id_names() {
        let identity = age::x25519::Identity::generate();
        let key = ChunkKey::from_identity(&identity);
        let plain = b"some upload".to_vec();
        let id = key.id(&plain);
        let sealed = seal(&plain, &identity.to_public(), 3).unwrap();
        assert_eq!(
            open(&sealed, &identity, &key, &id, plain.len() as u64).unwrap(),
            plain
        );
        let other = key.id(b"another");
        assert!(open(&sealed, &identity, &key, &other, plain.len() as u64).is_err());
        // Another recovery key derives other ids: a bucket's holder cannot test for a file.
        assert_ne!(
            ChunkKey::from_identity(&age::x25519::Identity::generate()).id(&plain),
            id
        );
    }
}
