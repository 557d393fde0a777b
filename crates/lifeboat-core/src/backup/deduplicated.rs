//! Writing an artifact deduplicated (storage format 2): its producer writes the plaintext into
//! a tree writer, which keeps the content as blobs (new ones sealed into packs) and the rest in
//! the tree; the tree is then stored as the artifact, marked with the plaintext it rebuilds.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lifeboat_format::artifact::ChunkedPlaintext;
use lifeboat_format::chunked::{BlobSink, ContentMark, PackRecord, StoredContent, TreeWriter};

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
    /// Fails when a blob this backup used rather than stored (it is not in the backup's own
    /// `packs`) is no longer usable: a cleanup, from any process or machine, condemned or
    /// deleted its pack while the backup ran, or a verification found the pack damaged.
    /// Committed, the backup could lose that blob, or have lost it already.
    pub async fn check_still_usable(&self, packs: &[PackRecord]) -> Result<()> {
        let mine: HashSet<&str> = packs
            .iter()
            .flat_map(|p| p.blobs.iter().map(|b| b.id.as_str()))
            .collect();
        let reused: Vec<String> = self
            .reused
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|id| !mine.contains(id.as_str()))
            .cloned()
            .collect();
        if reused.is_empty() {
            return Ok(());
        }
        let usable = self.chunks.usable().await?;
        if reused.iter().any(|id| !usable.contains(id)) {
            return Err(crate::error::Error::new(
                crate::error::ErrorCode::StorageError,
                "A cleanup of the storage target ran during this backup and marked data it relies on for deletion, so nothing was kept: back up again.",
            ));
        }
        Ok(())
    }

    /// A writer for one artifact's plaintext, and the mark that tells it which bytes are file
    /// content; with `all_content` (a dump) every byte is. The mark offers the `earlier`
    /// backup's files whose blobs this repository still has, which count as used.
    pub fn writer(
        &self,
        progress: Arc<AtomicU64>,
        all_content: bool,
        earlier: HashMap<String, StoredContent>,
    ) -> (TreeOut, ContentMark) {
        let (known, reused) = (self.known.clone(), self.reused.clone());
        let mark = ContentMark::with_earlier(earlier, move |id| {
            let usable = known.lock().expect("not poisoned").contains(id);
            if usable {
                reused.lock().expect("not poisoned").insert(id.to_owned());
            }
            usable
        });
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

impl crate::context::Context {
    /// The files of the environment's newest deduplicated media backup on the target, for a
    /// backup to take unchanged files' content from. Without one, or when it cannot be read,
    /// there is none and every file is read.
    pub(crate) async fn earlier_media(
        &self,
        environment_id: &str,
        target_id: &str,
    ) -> HashMap<String, StoredContent> {
        let earlier = async {
            let records = self.catalog().backups_of(environment_id).await?;
            let Some((id, artifact)) = records.into_iter().find_map(|r| {
                let artifact = r.manifest.media?.artifact;
                (r.target_id == target_id && artifact.chunked.is_some()).then_some((r.id, artifact))
            }) else {
                return Ok(HashMap::new());
            };
            let tree = self.open_backup(&id).await?.tree(&artifact).await?;
            Ok::<_, crate::error::Error>(tree.stored_contents())
        };
        earlier.await.unwrap_or_else(|e| {
            tracing::warn!(error = %e.message, "the earlier backup's files are unknown: every file is read");
            HashMap::new()
        })
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

/// Adds the plaintext the tree grows by to the job's progress: what is written, and the
/// content of files taken unread from an earlier backup.
pub struct Counted<W> {
    inner: W,
    progress: Arc<AtomicU64>,
}

impl<S: BlobSink> Write for Counted<TreeWriter<S>> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let before = self.inner.plaintext_bytes();
        let n = self.inner.write(buf)?;
        let grown = self.inner.plaintext_bytes() - before;
        self.progress.fetch_add(grown, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
