//! Writing an artifact deduplicated (storage format 2): its producer writes the plaintext into
//! a tree writer, which keeps the content as blobs (new ones sealed into packs) and the rest in
//! the tree; the tree is then stored as the artifact, marked with the plaintext it rebuilds.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lifeboat_format::artifact::ChunkedPlaintext;
use lifeboat_format::chunked::{ContentMark, PackRecord, TreeWriter};

use super::writer_error;
use crate::error::Result;
use crate::repository::artifact::{ArtifactInfo, ArtifactWriter};
use crate::repository::chunks::{Chunks, PackWriter};

/// The repository a deduplicated backup adds to, and the blobs it has (shared by the
/// artifacts of one backup, so none is stored twice).
#[derive(Clone)]
pub(crate) struct Dedup {
    pub chunks: Chunks,
    pub known: Arc<Mutex<HashSet<String>>>,
    /// Blobs of the repository the backup used (see `PackWriter`).
    pub reused: Arc<Mutex<HashSet<String>>>,
    pub zstd_level: i32,
}

/// Where a deduplicated artifact's plaintext is written.
pub type TreeOut = Counted<TreeWriter<PackWriter>>;

impl Dedup {
    /// Fails when a cleanup condemned, while this backup ran, a pack holding a blob it used
    /// rather than stored: committed, the backup could lose that blob to the next cleanup.
    pub async fn check_still_usable(&self) -> Result<()> {
        let reused = self.reused.lock().expect("not poisoned").clone();
        if reused.is_empty() {
            return Ok(());
        }
        let condemned = self.chunks.condemned_blobs().await?;
        if reused.iter().any(|id| condemned.contains(id)) {
            return Err(crate::error::Error::new(
                crate::error::ErrorCode::StorageError,
                "A cleanup of the storage target ran during this backup and marked data it relies on for deletion, so nothing was kept: back up again.",
            ));
        }
        Ok(())
    }

    /// A writer for one artifact's plaintext, and the mark that tells it which bytes are file
    /// content; with `all_content` (a dump) every byte is.
    pub fn writer(&self, progress: Arc<AtomicU64>, all_content: bool) -> (TreeOut, ContentMark) {
        let mark = ContentMark::default();
        let packs = PackWriter::new(
            self.chunks.clone(),
            self.known.clone(),
            self.reused.clone(),
            self.zstd_level,
        );
        let tree = TreeWriter::new(self.chunks.key().clone(), packs, mark.clone(), all_content);
        (
            Counted {
                inner: tree,
                progress,
            },
            mark,
        )
    }
}

/// Uploads the last pack and stores the tree as `out`: the stored artifact, marked with the
/// plaintext it rebuilds, and the packs the artifact added.
pub fn finish(tree: TreeOut, mut out: ArtifactWriter) -> Result<(ArtifactInfo, Vec<PackRecord>)> {
    let (tree, packs, bytes, sha256) = tree.inner.finish().map_err(writer_error)?;
    let packs = packs.finish().map_err(writer_error)?;
    serde_json::to_writer(&mut out, &tree).map_err(|e| writer_error(e.into()))?;
    let mut artifact = out.finish().map_err(writer_error)?;
    artifact.chunked = Some(ChunkedPlaintext {
        plaintext_bytes: bytes,
        plaintext_sha256: sha256,
    });
    Ok((artifact, packs))
}

/// Adds what passes through to the job's progress.
pub struct Counted<W> {
    inner: W,
    progress: Arc<AtomicU64>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
