//! A target's deduplicated repository (format 2): blobs compressed one by one and sealed
//! together into pack objects (`lifeboat_format::pack`), and one index object per backup saying
//! which packs it added and where each blob is in them. Backups add packs for the blobs the repository does not have yet; readers find a
//! blob by its id and read just its bytes out of its pack.
//!
//! Layout below the target's prefix (`layout::REPOSITORY_DIR`): `_chunks/packs/<2 hex>/<pack>`
//! and `_chunks/index/<backup-id>.index.zst.age` (see docs/storage-format.md).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use lifeboat_format::chunked::{self, BlobRecord, BlobSink, ChunkKey, PackIndex, PackRecord, Tree};
use lifeboat_format::pack::{self, PackSealer};

use crate::error::{Error, ErrorCode, Result};
use crate::storage::Storage;

const INDEX_DIR: &str = "_chunks/index";
const PACK_DIR: &str = "_chunks/packs";
/// Packs no backup used when a cleanup last looked, and since when.
const CONDEMNED: &str = "_chunks/condemned.zst.age";
/// More than an age header to one recipient and the payload nonce take.
const HEADER_BYTES: u64 = 1024;
/// Packs are written once this large, so 10 000 small files are not 10 000 objects.
const PACK_BYTES: u64 = 8 << 20;
/// Packs uploading while the next is filled: the producer waits for none unless storage is
/// slower than it, and memory holds at most this many packs more.
const UPLOADS_IN_FLIGHT: usize = 2;
/// Runs an artifact's reader holds ready, read but not yet taken.
const IN_FLIGHT: usize = 2;
/// Runs read at once while an artifact is put back together, and how large a run may grow, in
/// sealed bytes and in plaintext (a dump's blobs inflate several times): memory holds at most a
/// few runs' sealed bytes and plaintext.
const RUNS_IN_FLIGHT: usize = 4;
const RUN_BYTES: u64 = 4 << 20;
/// See `plan`.
const OPEN_RUNS: usize = 3;
const RUN_GAP: u64 = 256 << 10;

/// Where a blob is.
#[derive(Debug, Clone)]
pub(crate) struct BlobPlace {
    /// Its pack's record, without the list of blobs.
    pack: Arc<PackRecord>,
    blob: BlobRecord,
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

    /// The repository's index objects this recovery key opens, by name. One it does not open
    /// (another catalog's, on a shared target) names blobs of another key's ids and packs this
    /// key never touches, and is passed over.
    async fn index_objects(&self) -> Result<Vec<(String, PackIndex)>> {
        let mut objects = Vec::new();
        for name in self.storage.list(INDEX_DIR).await? {
            let sealed = self.storage.get(&format!("{INDEX_DIR}/{name}")).await?;
            match self.open_json::<PackIndex>(&sealed) {
                Ok(index) => objects.push((name, index)),
                Err(_) => tracing::info!(
                    name,
                    "an index object this recovery key does not open is passed over"
                ),
            }
        }
        Ok(objects)
    }

    /// Every blob the repository's index objects name, where it is. A blob stored again
    /// after a cleanup condemned its pack is read from the pack that is not condemned.
    pub async fn index(&self) -> Result<HashMap<String, BlobPlace>> {
        let objects = self.index_objects().await?;
        let condemned = self.condemned().await?;
        let mut places: HashMap<String, BlobPlace> = HashMap::new();
        for (_, index) in objects {
            for mut record in index.packs {
                let blobs = std::mem::take(&mut record.blobs);
                let pack = Arc::new(record);
                for blob in blobs {
                    let kept = places
                        .get(&blob.id)
                        .is_some_and(|p| !condemned.shunned(&p.pack.name));
                    if !kept {
                        places.insert(
                            blob.id.clone(),
                            BlobPlace {
                                pack: pack.clone(),
                                blob,
                            },
                        );
                    }
                }
            }
        }
        Ok(places)
    }

    /// The blobs a new backup may use without storing them again: indexed, and in no pack a
    /// cleanup has condemned (which a later cleanup may delete) or found damaged.
    pub async fn usable(&self) -> Result<HashSet<String>> {
        let condemned = self.condemned().await?;
        let mut usable = HashSet::new();
        for (_, index) in self.index_objects().await? {
            for pack in index.packs {
                if !condemned.shunned(&pack.name) {
                    usable.extend(pack.blobs.into_iter().map(|b| b.id));
                }
            }
        }
        Ok(usable)
    }

    async fn condemned(&self) -> Result<Condemned> {
        match self.storage.get_optional(CONDEMNED).await? {
            Some(sealed) => self.open_json(&sealed).map_err(|why| {
                Error::new(
                    ErrorCode::StorageError,
                    format!("The repository's list of condemned packs is unreadable: {why}."),
                )
            }),
            None => Ok(Condemned::default()),
        }
    }

    /// Records packs found missing or damaged, so no backup takes their blobs again.
    pub async fn mark_damaged(&self, packs: &BTreeSet<String>) -> Result<()> {
        let mut condemned = self.condemned().await?;
        let now = chrono::Utc::now().to_rfc3339();
        for pack in packs {
            condemned
                .damaged
                .entry(pack.clone())
                .or_insert_with(|| now.clone());
        }
        self.save_condemned(&condemned).await
    }

    async fn save_condemned(&self, condemned: &Condemned) -> Result<()> {
        self.put_json(CONDEMNED, condemned).await
    }

    async fn put_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let json = serde_json::to_vec(value)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let sealed = chunked::seal(&json, &self.recipient, 3)
            .map_err(|e| Error::new(ErrorCode::Internal, format!("Cannot seal {name}: {e}")))?;
        self.storage.put(name, sealed).await
    }

    /// Frees packs no backup uses. A pack whose blobs `referenced` (every committed backup's
    /// trees) does not name is first condemned; only one still unused `grace` after that is
    /// deleted, so a backup running meanwhile (which stores condemned blobs anew, and refuses
    /// to commit if it relied on one condemned while it ran) never loses what it references.
    /// Cut off anywhere, the next run finishes the work: condemnations are saved first, index
    /// objects lose a pack before the pack goes, and a pack condemned and indexed nowhere is
    /// deleted too.
    pub async fn reclaim(
        &self,
        referenced: &HashSet<String>,
        grace: chrono::Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ReclaimReport> {
        let objects = self.index_objects().await?;
        let mut condemned = self.condemned().await?;
        let mut report = ReclaimReport::default();
        let mut indexed = HashSet::new();
        let mut doomed = HashSet::new();
        let expired = |at: &str| {
            chrono::DateTime::parse_from_rfc3339(at)
                .map_or(true, |at| now.signed_duration_since(at) >= grace)
        };
        // Where each blob is read from (as `index` chooses): a pack holding only blobs read
        // from elsewhere is unused even if a backup names them.
        let mut source: HashMap<&str, &str> = HashMap::new();
        for (_, index) in &objects {
            for pack in &index.packs {
                for blob in &pack.blobs {
                    let kept = source
                        .get(blob.id.as_str())
                        .is_some_and(|p| !condemned.shunned(p));
                    if !kept {
                        source.insert(&blob.id, &pack.name);
                    }
                }
            }
        }
        let mut verdicts = Vec::new();
        for (_, index) in &objects {
            for pack in &index.packs {
                let used = pack.blobs.iter().any(|b| {
                    referenced.contains(&b.id)
                        && source.get(b.id.as_str()) == Some(&pack.name.as_str())
                });
                verdicts.push((pack.name.clone(), used));
            }
        }
        for (pack, used) in verdicts {
            match (used, condemned.packs.get(&pack)) {
                (true, Some(_)) => {
                    condemned.packs.remove(&pack);
                }
                (true, None) => {}
                (false, Some(at)) if expired(at) => {
                    doomed.insert(pack.clone());
                }
                (false, Some(_)) => {}
                (false, None) => {
                    condemned.packs.insert(pack.clone(), now.to_rfc3339());
                    report.condemned += 1;
                }
            }
            indexed.insert(pack);
        }
        for (name, at) in &condemned.packs {
            if !indexed.contains(name) && expired(at) {
                doomed.insert(name.clone());
            }
        }
        for pack in self.unindexed_packs(&indexed, &condemned).await? {
            condemned.packs.insert(pack, now.to_rfc3339());
            report.condemned += 1;
        }
        self.save_condemned(&condemned).await?;
        for (name, index) in objects {
            if !index.packs.iter().any(|p| doomed.contains(&p.name)) {
                continue;
            }
            let packs: Vec<_> = index
                .packs
                .into_iter()
                .filter(|p| !doomed.contains(&p.name))
                .collect();
            let key = format!("{INDEX_DIR}/{name}");
            if packs.is_empty() {
                self.storage.delete(&key).await?;
            } else {
                self.put_json(&key, &PackIndex { format: 2, packs }).await?;
            }
        }
        for name in &doomed {
            self.storage.delete(&pack_key(name)).await?;
            report.deleted += 1;
        }
        condemned.packs.retain(|name, _| !doomed.contains(name));
        self.save_condemned(&condemned).await?;
        Ok(report)
    }

    /// Packs in storage sealed to this recovery key that no index object names: left by a
    /// backup killed before it wrote its index, or still being written by one running now.
    /// Condemned like unused packs, they go only a grace period later, by which time a
    /// running backup has indexed them. Another key's packs (another catalog's, whose index
    /// objects this key does not open) are told apart by their age header, the first bytes.
    async fn unindexed_packs(
        &self,
        indexed: &HashSet<String>,
        condemned: &Condemned,
    ) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for (path, size) in self.storage.list_sizes(PACK_DIR).await? {
            // Only what a backup names a pack: the SHA-256 of its bytes, in lowercase hex.
            let Some(name) = path.rsplit('/').next().filter(|n| {
                n.len() == 64 && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            }) else {
                continue;
            };
            if indexed.contains(name) || condemned.packs.contains_key(name) {
                continue;
            }
            let head = self
                .storage
                .get_range(&pack_key(name), 0..size.min(HEADER_BYTES))
                .await?;
            let mine = age::Decryptor::new(&head[..]).is_ok_and(|d| {
                d.decrypt(std::iter::once(&self.identity as &dyn age::Identity))
                    .is_ok()
            });
            if mine {
                found.push(name.to_owned());
            }
        }
        Ok(found)
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

    /// The plaintexts of a run's blobs, in order, each proven to be what its id names: one
    /// request for the whole run.
    async fn read_run(&self, run: Run) -> Result<Vec<Vec<u8>>> {
        let damaged = |why: String| {
            Error::new(
                ErrorCode::ArtifactCorrupt,
                format!("The backup is damaged: {why}."),
            )
        };
        let range = pack::stored_range(&run.pack, run.start, run.end)
            .map_err(|e| damaged(e.to_string()))?;
        let body = self
            .storage
            .get_range(&pack_key(&run.pack.name), range.clone())
            .await?;
        let (identity, key) = (self.identity.clone(), self.key.clone());
        crate::running::blocking(move || {
            let wanted: Vec<&BlobRecord> = run.blobs.iter().collect();
            pack::open_run(&run.pack, &body, range.start, &wanted, &identity, &key).map_err(damaged)
        })
        .await
    }
}

/// Packs whose blobs a light check reads back: one in this many, a different one each day.
const SAMPLE_SLOTS: u64 = 16;

/// Which packs `Chunks::check_blobs` reads back.
pub(crate) enum Sample {
    /// The packs in this day's slot (of `SAMPLE_SLOTS`, by name), or one when none is.
    Slot(u64),
    All,
}

/// What a check of a backup's blobs found (`Chunks::check_blobs`).
pub(crate) struct BlobsChecked {
    /// Every blob is indexed, and every pack holding one is in storage and long enough.
    pub present: std::result::Result<String, String>,
    /// The blobs of the packs read back are what their ids name.
    pub sample: std::result::Result<String, String>,
    /// Packs missing, too short, or holding a blob that is not what its id names.
    pub bad_packs: BTreeSet<String>,
}

impl Chunks {
    /// Checks what storage already knows of `blobs` without reading them (a listing of the
    /// packs with their sizes), then reads back the blobs of the packs `sample` names. With a
    /// day's slot, nightly backups read every pack within `SAMPLE_SLOTS` days.
    pub async fn check_blobs(
        &self,
        blobs: &HashSet<String>,
        sample: Sample,
    ) -> Result<BlobsChecked> {
        let places = self.index().await?;
        let sizes: HashMap<String, u64> = self
            .storage
            .list_sizes(PACK_DIR)
            .await?
            .into_iter()
            .filter_map(|(name, size)| Some((name.rsplit('/').next()?.to_owned(), size)))
            .collect();
        let mut problems = Vec::new();
        let mut bad_packs = BTreeSet::new();
        let mut by_pack: BTreeMap<&str, Vec<(&str, &BlobPlace)>> = BTreeMap::new();
        for id in blobs {
            match places.get(id) {
                Some(place) => by_pack
                    .entry(&place.pack.name)
                    .or_default()
                    .push((id, place)),
                None => problems.push(format!("blob {id} is in no pack the index lists")),
            }
        }
        for (pack, held) in &by_pack {
            let end = held
                .iter()
                .map(|(_, p)| p.blob.offset + p.blob.length)
                .max()
                .unwrap_or(0);
            let least = pack::least_bytes(&held[0].1.pack, end).unwrap_or(u64::MAX);
            let problem = match sizes.get(*pack) {
                None => format!("pack {pack} is missing"),
                Some(&size) if size < least => {
                    format!("pack {pack} holds {size} bytes, fewer than the {least} its blobs need")
                }
                Some(_) => continue,
            };
            problems.push(problem);
            bad_packs.insert((*pack).to_owned());
        }
        let present = match problems.len() {
            0 => Ok(format!(
                "{} blobs in {} packs, every pack in storage with its size",
                blobs.len(),
                by_pack.len()
            )),
            n => Err(format!(
                "{n} problems, first: {}",
                problems[..n.min(3)].join("; ")
            )),
        };
        let sampled: Vec<&str> = match sample {
            Sample::All => by_pack.keys().copied().collect(),
            Sample::Slot(slot) => {
                let in_slot = |pack: &str| {
                    u64::from_str_radix(pack.get(..8).unwrap_or("0"), 16).unwrap_or(0)
                        % SAMPLE_SLOTS
                        == slot % SAMPLE_SLOTS
                };
                let mut sampled: Vec<&str> =
                    by_pack.keys().copied().filter(|p| in_slot(p)).collect();
                if sampled.is_empty() && !by_pack.is_empty() {
                    let nth = (slot % by_pack.len() as u64) as usize;
                    sampled.extend(by_pack.keys().nth(nth).copied());
                }
                sampled
            }
        };
        let (mut read, mut failures) = ((0u64, 0u64), Vec::new());
        for pack in &sampled {
            if bad_packs.contains(*pack) {
                continue;
            }
            match self.read_back(&by_pack[pack]).await {
                Ok(bytes) => read = (read.0 + by_pack[pack].len() as u64, read.1 + bytes),
                Err(e) => {
                    failures.push(format!("pack {pack}: {}", e.message));
                    bad_packs.insert((*pack).to_owned());
                }
            }
        }
        let sample = match failures.len() {
            0 => Ok(format!(
                "{} blobs ({} bytes) of {} of the {} packs read back and proven",
                read.0,
                read.1,
                sampled.len(),
                by_pack.len()
            )),
            n => Err(format!("{n} packs damaged, first: {}", failures[0])),
        };
        Ok(BlobsChecked {
            present,
            sample,
            bad_packs,
        })
    }

    /// The blobs read from `packs` (where `index` finds them).
    pub async fn blobs_in(&self, packs: &BTreeSet<String>) -> Result<HashSet<String>> {
        Ok(self
            .index()
            .await?
            .into_iter()
            .filter(|(_, place)| packs.contains(&place.pack.name))
            .map(|(id, _)| id)
            .collect())
    }

    /// Reads the part of a pack the blobs `held` in it span, with one request, and proves
    /// them; returns the bytes read.
    async fn read_back(&self, held: &[(&str, &BlobPlace)]) -> Result<u64> {
        let mut blobs: Vec<BlobRecord> = held.iter().map(|(_, p)| p.blob.clone()).collect();
        blobs.sort_by_key(|b| b.offset);
        let run = Run {
            pack: held[0].1.pack.clone(),
            start: blobs.first().map_or(0, |b| b.offset),
            end: blobs.iter().map(|b| b.offset + b.length).max().unwrap_or(0),
            blobs,
        };
        let bytes = run.end - run.start;
        self.read_run(run).await?;
        Ok(bytes)
    }
}

/// Packs condemned by a cleanup, with when (RFC 3339).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Condemned {
    packs: BTreeMap<String, String>,
    /// Packs a verification found missing or damaged, with when: their blobs are not used
    /// again (the next backup stores them anew), yet the pack stays indexed, so the backups
    /// it broke are named and what is left of it can be read by hand.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    damaged: BTreeMap<String, String>,
}

impl Condemned {
    /// A pack whose blobs a backup must not take: a later cleanup may delete it, or it is
    /// damaged.
    fn shunned(&self, pack: &str) -> bool {
        self.packs.contains_key(pack) || self.damaged.contains_key(pack)
    }
}

/// What a cleanup of a repository did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ReclaimReport {
    /// Packs no backup used, condemned now: deleted by a cleanup after the grace period.
    pub condemned: u32,
    /// Packs deleted, condemned long enough ago and still unused.
    pub deleted: u32,
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
    /// Blobs used without being stored again: if a cleanup condemns one of their packs while
    /// the backup runs, the backup must not commit.
    reused: Arc<Mutex<HashSet<String>>>,
    level: i32,
    runtime: tokio::runtime::Handle,
    pack: Option<PackSealer>,
    written: Vec<PackRecord>,
    uploads: std::collections::VecDeque<tokio::task::JoinHandle<Result<()>>>,
}

impl PackWriter {
    pub fn new(
        chunks: Chunks,
        known: Arc<Mutex<HashSet<String>>>,
        reused: Arc<Mutex<HashSet<String>>>,
        level: i32,
    ) -> Self {
        Self {
            chunks,
            known,
            reused,
            level,
            runtime: tokio::runtime::Handle::current(),
            pack: None,
            written: Vec::new(),
            uploads: std::collections::VecDeque::new(),
        }
    }

    fn upload(&mut self) -> std::io::Result<()> {
        let Some(sealer) = self.pack.take() else {
            return Ok(());
        };
        let (body, record) = sealer.finish()?;
        let (storage, key) = (self.chunks.storage.clone(), pack_key(&record.name));
        self.uploads.push_back(
            self.runtime
                .spawn(async move { storage.put(&key, body).await }),
        );
        while self.uploads.len() > UPLOADS_IN_FLIGHT {
            self.settle_one()?;
        }
        self.written.push(record);
        Ok(())
    }

    /// Waits for the oldest upload still in flight.
    fn settle_one(&mut self) -> std::io::Result<()> {
        let Some(upload) = self.uploads.pop_front() else {
            return Ok(());
        };
        match self.runtime.block_on(upload) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(std::io::Error::other(e.message)),
            Err(e) => Err(std::io::Error::other(e)),
        }
    }

    /// Uploads the last pack and waits for every upload; returns every pack written.
    pub fn finish(mut self) -> std::io::Result<Vec<PackRecord>> {
        self.upload()?;
        while !self.uploads.is_empty() {
            self.settle_one()?;
        }
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
            self.reused
                .lock()
                .expect("not poisoned")
                .insert(id.to_owned());
            return Ok(());
        }
        let sealer = match &mut self.pack {
            Some(sealer) => sealer,
            None => self
                .pack
                .insert(PackSealer::new(&self.chunks.recipient, self.level)?),
        };
        sealer.add(id, plaintext)?;
        if sealer.len() >= PACK_BYTES {
            self.upload()?;
        }
        Ok(())
    }
}

/// Blobs that lie one after another in a pack, read with one request.
struct Run {
    pack: Arc<PackRecord>,
    /// The span of the pack's plaintext the blobs lie in.
    start: u64,
    end: u64,
    /// Each blob's place, and its plaintext size as the tree gives it.
    blobs: Vec<BlobRecord>,
}

/// The tree's blobs as runs (`Run`), numbered in the order the tree first needs them, and for
/// each blob piece in tree order, its run and its place in that run. A run takes the later
/// blobs of its pack up to `RUN_BYTES` (sealed and plain), reading through gaps of up to `RUN_GAP`, and stays
/// open while the tree goes to up to `OPEN_RUNS - 1` other packs and back: after a few edits
/// a tree alternates between the old pack of the unchanged files and the new one of the
/// edited, and a run per switch cost a request per edited file. A blob the index does not
/// know is a run of its own that fails.
struct Planned {
    runs: Vec<std::result::Result<Run, String>>,
    order: Vec<(usize, usize)>,
}

fn plan(places: &HashMap<String, BlobPlace>, tree: &Tree) -> Planned {
    let mut runs: Vec<std::result::Result<Run, String>> = Vec::new();
    let mut order = Vec::new();
    let mut open = std::collections::VecDeque::new();
    // Each run's plaintext so far, by number.
    let mut plain: Vec<u64> = Vec::new();
    for (id, size) in tree.pieces.iter().filter_map(|p| match p {
        chunked::Piece::Blob { id, size } => Some((id, *size)),
        chunked::Piece::Bytes { .. } => None,
    }) {
        let Some(place) = places.get(id) else {
            runs.push(Err(id.clone()));
            plain.push(0);
            order.push((runs.len() - 1, 0));
            continue;
        };
        let blob = BlobRecord {
            size,
            ..place.blob.clone()
        };
        let joins = |r: usize| {
            runs[r].as_ref().is_ok_and(|run| {
                run.pack.name == place.pack.name
                    && blob.offset >= run.end
                    && blob.offset - run.end <= RUN_GAP
                    && blob.offset + blob.length - run.start <= RUN_BYTES
                    && plain[r] + blob.size <= RUN_BYTES
            })
        };
        let index = match open.iter().copied().find(|&r| joins(r)) {
            Some(r) => r,
            None => {
                runs.push(Ok(Run {
                    pack: place.pack.clone(),
                    start: blob.offset,
                    end: blob.offset,
                    blobs: Vec::new(),
                }));
                plain.push(0);
                open.push_back(runs.len() - 1);
                if open.len() > OPEN_RUNS {
                    open.pop_front();
                }
                runs.len() - 1
            }
        };
        if let Ok(run) = &mut runs[index] {
            plain[index] += blob.size;
            run.end = blob.offset + blob.length;
            order.push((index, run.blobs.len()));
            run.blobs.push(blob);
        }
    }
    Planned { runs, order }
}

/// Runs received and not yet wholly taken, by number.
#[derive(Default)]
struct Held {
    runs: HashMap<usize, HeldRun>,
    received: usize,
}

struct HeldRun {
    blobs: Vec<Option<Vec<u8>>>,
    left: usize,
}

impl Held {
    fn receive(&mut self, blobs: Vec<Vec<u8>>) {
        let run = HeldRun {
            left: blobs.len(),
            blobs: blobs.into_iter().map(Some).collect(),
        };
        self.runs.insert(self.received, run);
        self.received += 1;
    }

    fn take(&mut self, run: usize, blob: usize) -> Option<Vec<u8>> {
        let held = self.runs.get_mut(&run)?;
        let plain = held.blobs.get_mut(blob)?.take()?;
        held.left -= 1;
        if held.left == 0 {
            self.runs.remove(&run);
        }
        Some(plain)
    }
}

/// The plaintext `tree` describes, read run by run with the next few fetched meanwhile.
pub(crate) fn reader(
    chunks: &Chunks,
    places: Arc<HashMap<String, BlobPlace>>,
    tree: Tree,
    progress: Arc<std::sync::atomic::AtomicU64>,
) -> impl std::io::Read + Send + 'static {
    use futures_util::StreamExt;
    let Planned { runs, order } = plan(&places, &tree);
    tracing::debug!(runs = runs.len(), "reading an artifact back");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Vec<u8>>>>(IN_FLIGHT);
    let this = chunks.clone();
    let fetching = tokio::runtime::Handle::current().spawn(async move {
        let fetches = runs.into_iter().map(|run| {
            let (this, progress) = (this.clone(), progress.clone());
            async move {
                let run = run.map_err(|id| {
                    Error::new(
                        ErrorCode::ArtifactCorrupt,
                        format!("Blob {id} is in no index of the repository: the backup cannot be read back whole."),
                    )
                })?;
                let bytes = run.end - run.start;
                let plain = this.read_run(run).await?;
                progress.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
                Ok(plain)
            }
        });
        // The first run is fetched alone: a reader that wants only the start (pg_restore
        // reading a table of contents) then costs one request, not RUNS_IN_FLIGHT; a whole
        // read gives up the overlap of its first request only.
        let mut fetches = futures_util::stream::iter(fetches);
        if let Some(first) = fetches.next().await {
            if tx.send(first.await).await.is_err() {
                return;
            }
        }
        let mut fetches = fetches.buffered(RUNS_IN_FLIGHT);
        while let Some(run) = fetches.next().await {
            if tx.send(run).await.is_err() {
                return;
            }
        }
    });
    // Whole runs cross from the fetching task, not blobs one by one: a handoff per small
    // file cost more than reading it. Runs arrive in the order the tree first needs them, so
    // the run of the next blob has arrived or is the next to.
    let mut held = Held::default();
    let mut pieces = order.into_iter();
    let reader = chunked::PiecesReader::new(tree, move |id, _size| {
        let unread = || std::io::Error::other(format!("blob {id} was not read"));
        let (run, blob) = pieces.next().ok_or_else(unread)?;
        while held.received <= run {
            match rx.blocking_recv() {
                Some(Ok(blobs)) => held.receive(blobs),
                Some(Err(e)) => return Err(std::io::Error::other(e.message)),
                None => return Err(unread()),
            }
        }
        held.take(run, blob).ok_or_else(unread)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Blobs `(id, pack, offset, length)`, placed, and a tree of them in the order given.
    fn placed(blobs: &[(&str, &str, u64, u64)]) -> (HashMap<String, BlobPlace>, Tree) {
        let mut places = HashMap::new();
        let mut pieces = Vec::new();
        for &(id, pack, offset, length) in blobs {
            let blob = BlobRecord {
                id: id.into(),
                offset,
                length,
                size: length,
            };
            let pack = Arc::new(PackRecord {
                name: pack.into(),
                bytes: 8 << 20,
                header: String::new(),
                blobs: Vec::new(),
            });
            places.insert(id.into(), BlobPlace { pack, blob });
            pieces.push(chunked::Piece::Blob {
                id: id.into(),
                size: length,
            });
        }
        let tree = Tree {
            format: 2,
            pieces,
            files: Vec::new(),
        };
        (places, tree)
    }

    #[test]
    fn a_tree_that_alternates_between_packs_is_read_in_a_run_per_pack() {
        // Unchanged files in an old pack, with the edited files' new content in a new one, and
        // a gap where an edited file's old content lies.
        let (places, tree) = placed(&[
            ("a0", "old", 0, 100),
            ("b0", "new", 0, 50),
            ("a1", "old", 100, 100),
            ("b1", "new", 50, 50),
            ("a2", "old", 300, 100),
            ("a3", "old", 400 + RUN_GAP + 1, 100),
        ]);
        let Planned { runs, order } = plan(&places, &tree);
        let spans: Vec<(String, u64, u64, usize)> = runs
            .into_iter()
            .map(|r| {
                let r = r.unwrap();
                (r.pack.name.clone(), r.start, r.end, r.blobs.len())
            })
            .collect();
        assert_eq!(
            spans,
            vec![
                ("old".into(), 0, 400, 3),
                ("new".into(), 0, 100, 2),
                // Past the gap a run reads through: a request of its own.
                ("old".into(), 400 + RUN_GAP + 1, 500 + RUN_GAP + 1, 1),
            ]
        );
        assert_eq!(order, vec![(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (2, 0)]);
    }

    #[test]
    fn a_run_ends_where_its_plaintext_would_outgrow_the_limit_however_well_it_compressed() {
        // Four blobs of a dump, each a tenth of a run sealed and half a run plain.
        let sealed = RUN_BYTES / 10;
        let (places, mut tree) = placed(&[
            ("d0", "p", 0, sealed),
            ("d1", "p", sealed, sealed),
            ("d2", "p", 2 * sealed, sealed),
            ("d3", "p", 3 * sealed, sealed),
        ]);
        for piece in &mut tree.pieces {
            if let chunked::Piece::Blob { size, .. } = piece {
                *size = RUN_BYTES / 2;
            }
        }
        let Planned { runs, .. } = plan(&places, &tree);
        let blobs: Vec<usize> = runs
            .iter()
            .map(|r| r.as_ref().unwrap().blobs.len())
            .collect();
        assert_eq!(blobs, vec![2, 2]);
    }

    #[test]
    fn a_blob_the_index_does_not_know_is_a_failing_run_in_its_place() {
        let (mut places, tree) = placed(&[("a", "p", 0, 10), ("gone", "p", 10, 10)]);
        places.remove("gone");
        let Planned { runs, order } = plan(&places, &tree);
        assert!(matches!(&runs[1], Err(id) if id == "gone"));
        assert_eq!(order, vec![(0, 0), (1, 0)]);
    }
}
