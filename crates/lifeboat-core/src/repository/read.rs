//! Reading a stored backup back: its record, where it is stored, the key that decrypts it, and
//! each artifact as a checked plaintext stream. Restore, download, verify and drill all read
//! through here, so a backup that cannot be read is said the same way everywhere.
//!
//! A dump is SQL that pg_restore runs, and some of what SQL does survives a rollback
//! (sequences, anything that leaves the database). So pg_restore never sees a byte that is not
//! proven to be the backup's (`fetch_proven`). A single-object dump (format 1) is proven only as
//! a whole, by its checksum in the manifest: it is first fetched into an unnamed file under
//! Lifeboat's home and proven there. A deduplicated one (format 2) is proven piece by piece: its
//! tree against the manifest before anything is read, then each blob by its keyed id before any
//! of its bytes are passed on; whoever can write to the bucket cannot make a blob that passes.
//! So it streams from storage, and pg_restore starts on the first blob.

use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use tokio_util::sync::CancellationToken;

use super::chunks::{self, Chunks};
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::model::backup::BackupRecord;
use crate::running::blocking;
use crate::storage::Storage;
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::chunked::Tree;
use lifeboat_format::read::{ArtifactReader, OpenError, Totals};

/// A backup, where it is stored, and the key that decrypts it.
pub(crate) struct StoredBackup {
    pub record: BackupRecord,
    pub storage: Storage,
    pub identity: age::x25519::Identity,
    /// Where proven copies of artifacts are kept while they are read (Lifeboat's home: 0700).
    spool_dir: PathBuf,
    /// Where each blob of the target's repository lies, read once for all the backup's
    /// deduplicated artifacts.
    places: tokio::sync::OnceCell<Places>,
}

type Places = Arc<std::collections::HashMap<String, chunks::BlobPlace>>;

/// Whether a deduplicated artifact's rebuilt plaintext is hashed as it is read and held to the
/// manifest's hash (`ArtifactReader::rebuilt`). Each blob is proven by its keyed id either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plaintext {
    /// A verification, or a download that lists the hash in SHA256SUMS.
    Hashed,
    /// A restore or a drill: what it reads is proven blob by blob already.
    Unhashed,
}

impl StoredBackup {
    /// The artifact as plaintext, with stored bytes read added to `progress`. The reader
    /// checks both checksums against the manifest when it is finished (a deduplicated
    /// artifact's plaintext as `plaintext` says).
    pub async fn open(
        &self,
        artifact: &ArtifactInfo,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
        plaintext: Plaintext,
    ) -> Result<ArtifactReader> {
        if artifact.chunked.is_some() {
            return self
                .proven_blobs(artifact, progress, cancel)
                .await?
                .read(progress, plaintext);
        }
        let (size, source) = self.stored(artifact, progress, cancel).await?;
        let identity = self.identity.clone();
        let info = artifact.clone();
        blocking(move || open_artifact(source, size, &info, &identity)).await
    }

    /// The repository of the backup's target.
    pub(crate) fn chunks(&self) -> Chunks {
        Chunks::new(self.storage.clone(), self.identity.clone())
    }

    /// A deduplicated artifact's tree, read and proven.
    pub(crate) async fn tree(&self, artifact: &ArtifactInfo) -> Result<Tree> {
        let (progress, cancel) = (Arc::default(), CancellationToken::new());
        let read = read_tree(
            &self.storage,
            &self.record.storage_dir,
            artifact,
            &self.identity,
            &progress,
            &cancel,
        );
        Ok(read.await?.0)
    }

    /// The artifact's stored object: its size, and a blocking reader of it that adds what it
    /// reads to `progress`.
    async fn stored(
        &self,
        artifact: &ArtifactInfo,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<(u64, impl Read + Send + 'static)> {
        let key = lifeboat_format::layout::object_key(&self.record.storage_dir, &artifact.name);
        let (size, source) = self.storage.reader(&key, cancel).await?;
        let source = Counted {
            inner: tokio_util::io::SyncIoBridge::new(source),
            progress: progress.clone(),
        };
        Ok((size, source))
    }

    /// The artifact, proven before anything reads it: a single-object one fetched into an
    /// unnamed file (gone with the process, whatever happens) and proven to be the stored bytes
    /// the manifest names, its stored bytes added to `progress`; a deduplicated one with its
    /// tree proven, read later blob by proven blob (see the module's comment).
    pub async fn fetch_proven(
        &self,
        artifact: &ArtifactInfo,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<ProvenArtifact> {
        if artifact.chunked.is_some() {
            return self.proven_blobs(artifact, progress, cancel).await;
        }
        let (size, source) = self.stored(artifact, progress, cancel).await?;
        let name = artifact.name.clone();
        if size != artifact.stored_bytes {
            return Err(not_as_stored(
                &name,
                &OpenError::WrongSize {
                    stored: size,
                    manifest: artifact.stored_bytes,
                }
                .to_string(),
            ));
        }
        let mut source = source.take(artifact.stored_bytes);
        let (dir, info) = (self.spool_dir.clone(), artifact.clone());
        let stop = cancel.clone();
        let file = blocking(move || {
            crate::disk::ensure_space(&dir, info.stored_bytes)?;
            // An unnamed file: nothing to clean up after a crash, nothing another process can
            // open by name. tempfile makes it 0600 with O_TMPFILE where the system has it.
            let mut file = tempfile::tempfile_in(&dir).map_err(|e| {
                Error::new(
                    ErrorCode::Io,
                    format!("Cannot make a working file in {}: {e}", dir.display()),
                )
            })?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut fetched = 0u64;
            loop {
                if stop.is_cancelled() {
                    return Err(Error::cancelled());
                }
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) if stop.is_cancelled() => return Err(Error::cancelled()),
                    Err(e) => {
                        return Err(Error::new(
                            ErrorCode::StorageError,
                            format!("Reading {} from storage failed: {e}", info.name),
                        ))
                    }
                };
                hasher.update(&buf[..n]);
                fetched += n as u64;
                file.write_all(&buf[..n]).map_err(|e| {
                    Error::new(
                        ErrorCode::Io,
                        format!("Cannot write {} to {}: {e}", info.name, dir.display()),
                    )
                })?;
            }
            let sha256 = format!("{:x}", hasher.finalize());
            if fetched != info.stored_bytes || sha256 != info.stored_sha256 {
                return Err(not_as_stored(
                    &info.name,
                    &format!(
                        "{fetched} bytes with sha256 {sha256}, but its manifest says {} bytes with sha256 {}",
                        info.stored_bytes, info.stored_sha256
                    ),
                ));
            }
            Ok(file)
        })
        .await?;
        Ok(ProvenArtifact {
            info: artifact.clone(),
            name,
            source: Proven::Fetched {
                file,
                identity: self.identity.clone(),
            },
        })
    }

    /// `fetch_proven` for a deduplicated artifact: its tree read and proven, and where each
    /// blob lies; nothing of the plaintext is read yet. The tree's stored bytes are added to
    /// `progress`.
    async fn proven_blobs(
        &self,
        artifact: &ArtifactInfo,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<ProvenArtifact> {
        let (tree, totals) = read_tree(
            &self.storage,
            &self.record.storage_dir,
            artifact,
            &self.identity,
            progress,
            cancel,
        )
        .await?;
        let chunks = self.chunks();
        let places = self
            .places
            .get_or_try_init(|| async { chunks.index().await.map(Arc::new) })
            .await?
            .clone();
        Ok(ProvenArtifact {
            info: artifact.clone(),
            name: artifact.name.clone(),
            source: Proven::Blobs(Box::new(Rebuilt {
                chunks,
                places,
                tree,
                totals,
            })),
        })
    }
}

/// A deduplicated artifact's tree, read whole and proven against the manifest (it is small: a
/// few hundred bytes per file), with the totals its reader proved.
async fn read_tree(
    storage: &Storage,
    dir: &str,
    artifact: &ArtifactInfo,
    identity: &age::x25519::Identity,
    progress: &Arc<AtomicU64>,
    cancel: &CancellationToken,
) -> Result<(Tree, Totals)> {
    let tree_info = ArtifactInfo {
        chunked: None,
        ..artifact.clone()
    };
    let key = lifeboat_format::layout::object_key(dir, &tree_info.name);
    let (size, source) = storage.reader(&key, cancel).await?;
    let source = Counted {
        inner: tokio_util::io::SyncIoBridge::new(source),
        progress: progress.clone(),
    };
    let identity = identity.clone();
    blocking(move || {
        let mut reader = open_artifact(source, size, &tree_info, &identity)?;
        let mut json = Vec::new();
        reader
            .read_to_end(&mut json)
            .map_err(|e| not_as_stored(&tree_info.name, &format!("the stream is damaged ({e})")))?;
        let proven = reader
            .finish(&tree_info)
            .map_err(|e| not_as_stored(&tree_info.name, &e.to_string()))?;
        let tree: Tree = serde_json::from_slice(&json).map_err(|e| {
            Error::new(
                ErrorCode::ArtifactCorrupt,
                format!("{} is not a tree Lifeboat wrote: {e}.", tree_info.name),
            )
        })?;
        Ok((tree, proven))
    })
    .await
}

/// The deduplicated artifacts of every committed backup in a target (`committed_trees`).
struct CommittedTrees {
    storage: Storage,
    identity: age::x25519::Identity,
    /// Backup directories and their deduplicated artifacts.
    artifacts: Vec<(String, ArtifactInfo)>,
}

impl CommittedTrees {
    /// The blobs of one artifact's tree, read from storage.
    async fn blobs(&self, dir: &str, artifact: &ArtifactInfo) -> Result<Vec<String>> {
        let (progress, cancel) = (Arc::default(), CancellationToken::new());
        let (tree, _) = read_tree(
            &self.storage,
            dir,
            artifact,
            &self.identity,
            &progress,
            &cancel,
        )
        .await?;
        Ok(tree.blobs().map(str::to_owned).collect())
    }

    fn chunks(&self) -> Chunks {
        Chunks::new(self.storage.clone(), self.identity.clone())
    }
}

impl Context {
    /// The target's repository, and every blob a committed backup in it holds. A manifest or
    /// tree that cannot be read stops it: a cleanup that does not know every backup could
    /// delete what one uses.
    pub(crate) async fn referenced_blobs(
        &self,
        target_id: &str,
    ) -> Result<(Chunks, std::collections::HashSet<String>)> {
        let trees = self.committed_trees(target_id).await?;
        let mut referenced = std::collections::HashSet::new();
        for (dir, artifact) in &trees.artifacts {
            referenced.extend(trees.blobs(dir, artifact).await?);
        }
        Ok((trees.chunks(), referenced))
    }

    /// The committed backups of the target (by id, whichever catalog made them) holding a
    /// blob read from one of `packs`.
    pub(crate) async fn backups_in_packs(
        &self,
        target_id: &str,
        packs: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>> {
        let trees = self.committed_trees(target_id).await?;
        let lost = trees.chunks().blobs_in(packs).await?;
        let mut affected: Vec<String> = Vec::new();
        for (dir, artifact) in &trees.artifacts {
            let id = dir.rsplit('/').next().unwrap_or(dir);
            if affected.iter().any(|a| a == id) {
                continue;
            }
            if trees
                .blobs(dir, artifact)
                .await?
                .iter()
                .any(|b| lost.contains(b))
            {
                affected.push(id.to_owned());
            }
        }
        Ok(affected)
    }

    /// The deduplicated artifacts of every committed backup in the target encrypted to this
    /// catalog's recovery key, whichever catalog, machine or environment made them, as their
    /// manifests in storage say. A manifest that cannot be read stops it.
    async fn committed_trees(&self, target_id: &str) -> Result<CommittedTrees> {
        let storage = self.storage_of(target_id).await?;
        let recipient = self.keys().recovery_recipient().await?.to_string();
        let identity = self.keys().recovery_identity_for(&recipient).await?;
        let mut found = Vec::new();
        for (dir, committed) in lifeboat_format::layout::backup_dirs(storage.list("").await?) {
            if !committed {
                continue;
            }
            let body = storage
                .get(&lifeboat_format::layout::object_key(
                    &dir,
                    lifeboat_format::layout::MANIFEST_FILE,
                ))
                .await?;
            let manifest = lifeboat_format::manifest::parse(&body).map_err(|why| {
                Error::new(
                    ErrorCode::StorageError,
                    format!("The manifest of {dir} is unreadable ({why}), so nothing was cleaned up: a cleanup must know every backup."),
                )
            })?;
            if manifest.encryption.recipient != recipient {
                continue;
            }
            let artifacts = [
                manifest.database.map(|d| d.artifact),
                manifest.media.map(|m| m.artifact),
            ];
            found.extend(
                artifacts
                    .into_iter()
                    .flatten()
                    .filter(|a| a.chunked.is_some())
                    .map(|a| (dir.clone(), a)),
            );
        }
        Ok(CommittedTrees {
            storage,
            identity,
            artifacts: found,
        })
    }
}

/// An artifact proven to be the backup's, ready to be read as often as needed.
pub(crate) struct ProvenArtifact {
    info: ArtifactInfo,
    name: String,
    source: Proven,
}

enum Proven {
    /// Its stored bytes, fetched where only this process reads them and matched to the
    /// manifest.
    Fetched {
        file: std::fs::File,
        identity: age::x25519::Identity,
    },
    /// Its tree, proven; its blobs are proven as they are read from the repository.
    Blobs(Box<Rebuilt>),
}

struct Rebuilt {
    chunks: Chunks,
    places: Places,
    tree: Tree,
    /// What reading the tree's object proved.
    totals: Totals,
}

impl ProvenArtifact {
    /// Whether reading it fetches from storage (a deduplicated artifact), rather than from
    /// the copy `fetch_proven` already fetched.
    pub fn streams(&self) -> bool {
        matches!(self.source, Proven::Blobs(_))
    }

    /// The plaintext to restore, from the start, with the bytes read (from storage, or from
    /// the fetched copy) added to `progress`. Fetched copies share one file position: open the
    /// next reader only once the previous one is done with.
    pub fn open(&self, progress: &Arc<AtomicU64>) -> Result<ArtifactReader> {
        self.read(progress, Plaintext::Unhashed)
    }

    fn read(&self, progress: &Arc<AtomicU64>, plaintext: Plaintext) -> Result<ArtifactReader> {
        match &self.source {
            Proven::Fetched { file, identity } => {
                let io = |e: std::io::Error| {
                    Error::new(
                        ErrorCode::Io,
                        format!("Cannot read the fetched {}: {e}", self.name),
                    )
                };
                let mut file = file.try_clone().map_err(io)?;
                file.rewind().map_err(io)?;
                let source = Counted {
                    inner: file,
                    progress: progress.clone(),
                };
                open_artifact(source, self.info.stored_bytes, &self.info, identity)
            }
            Proven::Blobs(rebuilt) => {
                let Rebuilt {
                    chunks,
                    places,
                    tree,
                    totals,
                } = &**rebuilt;
                let plain = chunks::reader(chunks, places.clone(), tree.clone(), progress.clone());
                let hashed = plaintext == Plaintext::Hashed;
                ArtifactReader::rebuilt(plain, totals.clone(), &self.info, hashed)
                    .map_err(|e| opening_failed(&self.name, e))
            }
        }
    }
}

fn open_artifact(
    source: impl Read + Send + 'static,
    size: u64,
    info: &ArtifactInfo,
    identity: &age::x25519::Identity,
) -> Result<ArtifactReader> {
    ArtifactReader::open(source, size, info, identity).map_err(|e| opening_failed(&info.name, e))
}

fn opening_failed(name: &str, e: OpenError) -> Error {
    match e {
        OpenError::WrongKey => Error::new(
            ErrorCode::RecoveryKeyMissing,
            format!("{name} was encrypted to another recovery key; import that key first."),
        ),
        OpenError::Foreign(detail) => Error::new(
            ErrorCode::ArtifactCorrupt,
            format!("{name} cannot be read: {detail}."),
        ),
        OpenError::WrongSize { .. } => not_as_stored(name, &e.to_string()),
        OpenError::NoThread(_) => Error::new(ErrorCode::Io, format!("Cannot read {name}: {e}.")),
    }
}

/// The stored object is not the one the manifest describes: replaced, cut off or damaged.
fn not_as_stored(name: &str, detail: &str) -> Error {
    Error::new(
        ErrorCode::ChecksumMismatch,
        format!("{name} in storage is not what its manifest says, so nothing was read from it: {detail}."),
    )
}

impl Context {
    /// Opens a backup for reading: its record, its storage and its key.
    pub(crate) async fn open_backup(&self, backup_id: &str) -> Result<StoredBackup> {
        let record = self.catalog().backup(backup_id).await?;
        let storage = self.storage_of(&record.target_id).await?;
        let identity = self
            .keys()
            .recovery_identity_for(&record.manifest.encryption.recipient)
            .await?;
        Ok(StoredBackup {
            record,
            storage,
            identity,
            spool_dir: self.home().root().to_path_buf(),
            places: tokio::sync::OnceCell::new(),
        })
    }
}

/// Counts stored bytes read, for progress.
struct Counted<R> {
    inner: R,
    progress: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
