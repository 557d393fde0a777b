//! A target's deduplicated repository (format 2): blobs sealed one by one and packed into pack
//! objects, and one index object per backup saying which packs it added and where each blob
//! is in them. Backups add packs for the blobs the repository does not have yet; readers find a
//! blob by its id and read just its bytes out of its pack.
//!
//! Layout below the target's prefix (`layout::REPOSITORY_DIR`): `_chunks/packs/<2 hex>/<pack>`
//! and `_chunks/index/<backup-id>.index.zst.age` (see docs/storage-format.md).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use lifeboat_format::chunked::{self, BlobRecord, BlobSink, ChunkKey, PackIndex, PackRecord, Tree};

use crate::error::{Error, ErrorCode, Result};
use crate::storage::Storage;

const INDEX_DIR: &str = "_chunks/index";
const PACK_DIR: &str = "_chunks/packs";
/// Packs are written once this large, so 10 000 small files are not 10 000 objects.
const PACK_BYTES: usize = 8 << 20;
/// Blobs read at once while an artifact is put back together.
const IN_FLIGHT: usize = 8;

/// Where a blob is.
#[derive(Debug, Clone)]
pub(crate) struct BlobPlace {
    pack: String,
    offset: u64,
    length: u64,
    size: u64,
}

/// The repository of a target, opened with the recovery key.
#[derive(Clone)]
pub(crate) struct Chunks {
    storage: Storage,
    key: ChunkKey,
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
}

impl Chunks {
    pub fn new(storage: Storage, identity: age::x25519::Identity) -> Self {
        Self {
            storage,
            key: ChunkKey::from_identity(&identity),
            recipient: identity.to_public(),
            identity,
        }
    }

    pub fn key(&self) -> &ChunkKey {
        &self.key
    }

    /// Every blob the repository's index objects name. An index object the recovery key does
    /// not open (another catalog's, on a shared target) names blobs of another key's ids and
    /// is passed over.
    pub async fn index(&self) -> Result<HashMap<String, BlobPlace>> {
        let mut places = HashMap::new();
        for name in self.storage.list(INDEX_DIR).await? {
            let sealed = self.storage.get(&format!("{INDEX_DIR}/{name}")).await?;
            let Ok(index) = self.open_json::<PackIndex>(&sealed) else {
                tracing::info!(
                    name,
                    "an index object this recovery key does not open is passed over"
                );
                continue;
            };
            for pack in index.packs {
                for blob in pack.blobs {
                    places.insert(
                        blob.id,
                        BlobPlace {
                            pack: pack.name.clone(),
                            offset: blob.offset,
                            length: blob.length,
                            size: blob.size,
                        },
                    );
                }
            }
        }
        Ok(places)
    }

    fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        sealed: &[u8],
    ) -> std::result::Result<T, String> {
        let mut plain = Vec::new();
        let decryptor = age::Decryptor::new(sealed).map_err(|e| e.to_string())?;
        std::io::Read::read_to_end(
            &mut zstd::Decoder::new(
                decryptor
                    .decrypt(std::iter::once(&self.identity as &dyn age::Identity))
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?,
            &mut plain,
        )
        .map_err(|e| e.to_string())?;
        serde_json::from_slice(&plain).map_err(|e| e.to_string())
    }

    /// Writes the index object of a backup's new packs; before its manifest, so a committed
    /// backup's blobs are always findable.
    pub async fn write_index(&self, backup_id: &str, packs: Vec<PackRecord>) -> Result<()> {
        let index = PackIndex { format: 2, packs };
        let json = serde_json::to_vec(&index)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let sealed = chunked::seal(&json, &self.recipient, 3)
            .map_err(|e| Error::new(ErrorCode::Internal, format!("Cannot seal the index: {e}")))?;
        self.storage
            .put(&format!("{INDEX_DIR}/{backup_id}.index.zst.age"), sealed)
            .await
    }

    /// Deletes packs a backup wrote and no index names (it failed before committing).
    pub async fn forget_packs(&self, packs: &[PackRecord]) {
        for pack in packs {
            if let Err(e) = self.storage.delete(&pack_key(&pack.name)).await {
                tracing::warn!(
                    pack = pack.name,
                    "an unused pack stays until the next cleanup: {}",
                    e.message
                );
            }
        }
    }

    /// One blob's plaintext, proven to be what its id names.
    pub async fn blob(
        &self,
        places: &HashMap<String, BlobPlace>,
        id: &str,
        size: u64,
    ) -> Result<Vec<u8>> {
        let place = places.get(id).ok_or_else(|| {
            Error::new(
                ErrorCode::ArtifactCorrupt,
                format!("Blob {id} is in no index of the repository: the backup cannot be read back whole."),
            )
        })?;
        let sealed = self
            .storage
            .get_range(
                &pack_key(&place.pack),
                place.offset..place.offset + place.length,
            )
            .await?;
        let (identity, key, id, expected) = (
            self.identity.clone(),
            self.key.clone(),
            id.to_owned(),
            place.size.min(size),
        );
        crate::running::blocking(move || {
            chunked::open(&sealed, &identity, &key, &id, expected).map_err(|why| {
                Error::new(
                    ErrorCode::ArtifactCorrupt,
                    format!("The backup is damaged: {why}."),
                )
            })
        })
        .await
    }
}

fn pack_key(name: &str) -> String {
    format!("{PACK_DIR}/{}/{name}", &name[..2])
}

/// Seals new blobs into packs and uploads each pack once full, from the blocking thread an
/// artifact is produced on. Blobs the repository (or another artifact of the same backup)
/// already has are not stored again.
pub(crate) struct PackWriter {
    chunks: Chunks,
    known: Arc<Mutex<HashSet<String>>>,
    level: i32,
    runtime: tokio::runtime::Handle,
    pack: Vec<u8>,
    blobs: Vec<BlobRecord>,
    written: Vec<PackRecord>,
}

impl PackWriter {
    pub fn new(chunks: Chunks, known: Arc<Mutex<HashSet<String>>>, level: i32) -> Self {
        Self {
            chunks,
            known,
            level,
            runtime: tokio::runtime::Handle::current(),
            pack: Vec::new(),
            blobs: Vec::new(),
            written: Vec::new(),
        }
    }

    fn upload(&mut self) -> std::io::Result<()> {
        if self.blobs.is_empty() {
            return Ok(());
        }
        let name = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&self.pack));
        let body = std::mem::take(&mut self.pack);
        self.runtime
            .block_on(self.chunks.storage.put(&pack_key(&name), body))
            .map_err(|e| std::io::Error::other(e.message))?;
        self.written.push(PackRecord {
            name,
            blobs: std::mem::take(&mut self.blobs),
        });
        Ok(())
    }

    /// Uploads the last pack; returns every pack written.
    pub fn finish(mut self) -> std::io::Result<Vec<PackRecord>> {
        self.upload()?;
        Ok(self.written)
    }
}

impl BlobSink for PackWriter {
    fn blob(&mut self, id: &str, plaintext: &[u8]) -> std::io::Result<()> {
        if !self
            .known
            .lock()
            .expect("not poisoned")
            .insert(id.to_owned())
        {
            return Ok(());
        }
        let sealed = chunked::seal(plaintext, &self.chunks.recipient, self.level)?;
        self.blobs.push(BlobRecord {
            id: id.to_owned(),
            offset: self.pack.len() as u64,
            length: sealed.len() as u64,
            size: plaintext.len() as u64,
        });
        self.pack.extend_from_slice(&sealed);
        if self.pack.len() >= PACK_BYTES {
            self.upload()?;
        }
        Ok(())
    }
}

/// The plaintext `tree` describes, read blob by blob with the next few fetched meanwhile.
pub(crate) fn reader(
    chunks: &Chunks,
    places: Arc<HashMap<String, BlobPlace>>,
    tree: Tree,
    progress: Arc<std::sync::atomic::AtomicU64>,
) -> impl std::io::Read + Send + 'static {
    use futures_util::StreamExt;
    let wanted: Vec<(String, u64)> = tree
        .pieces
        .iter()
        .filter_map(|p| match p {
            chunked::Piece::Blob { id, size } => Some((id.clone(), *size)),
            chunked::Piece::Bytes { .. } => None,
        })
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>>>(IN_FLIGHT);
    let this = chunks.clone();
    let fetching = tokio::runtime::Handle::current().spawn(async move {
        let fetches = wanted.into_iter().map(|(id, size)| {
            let (this, places, progress) = (this.clone(), places.clone(), progress.clone());
            async move {
                let plain = this.blob(&places, &id, size).await?;
                if let Some(place) = places.get(&id) {
                    progress.fetch_add(place.length, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(plain)
            }
        });
        let mut fetches = futures_util::stream::iter(fetches).buffered(IN_FLIGHT);
        while let Some(blob) = fetches.next().await {
            if tx.send(blob).await.is_err() {
                break;
            }
        }
    });
    let reader = chunked::PiecesReader::new(tree, move |id, _size| match rx.blocking_recv() {
        Some(Ok(plain)) => Ok(plain),
        Some(Err(e)) => Err(std::io::Error::other(e.message)),
        None => Err(std::io::Error::other(format!("blob {id} was not read"))),
    });
    Aborting { reader, fetching }
}

/// Stops fetching when the reader is dropped.
struct Aborting<R> {
    reader: R,
    fetching: tokio::task::JoinHandle<()>,
}

impl<R> Drop for Aborting<R> {
    fn drop(&mut self) {
        self.fetching.abort();
    }
}

impl<R: std::io::Read> std::io::Read for Aborting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}
