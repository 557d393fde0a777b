//! The read path every consumer of a stored backup shares (verify, restore, download): the
//! stored bytes → age → zstd → plaintext, hashing both sides as they stream, and the final
//! comparison with the manifest. Nothing is buffered beyond the decoders' own windows.

use std::io::{self, BufReader, Read};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::artifact::ArtifactInfo;

/// Counts bytes and, unless only counting, hashes them as they are read.
#[derive(Clone)]
struct Tally(Arc<Mutex<(Option<Sha256>, u64)>>);

impl Tally {
    fn hashing() -> Self {
        Self(Arc::new(Mutex::new((Some(Sha256::new()), 0))))
    }

    fn counting() -> Self {
        Self(Arc::new(Mutex::new((None, 0))))
    }

    fn finish(&self) -> (Option<String>, u64) {
        let (hasher, bytes) = &*self.0.lock().unwrap();
        let sha = hasher
            .as_ref()
            .map(|h| format!("{:x}", h.clone().finalize()));
        (sha, *bytes)
    }

    fn bytes(&self) -> u64 {
        self.0.lock().unwrap().1
    }
}

struct Tallied<R> {
    inner: R,
    tally: Tally,
}

impl<R: Read> Read for Tallied<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut t = self.tally.0.lock().unwrap();
        if let Some(hasher) = &mut t.0 {
            hasher.update(&buf[..n]);
        }
        t.1 += n as u64;
        Ok(n)
    }
}

/// Why an artifact could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The recovery key in hand is not the one the artifact was encrypted to.
    WrongKey,
    /// Not an age file, or not zstd inside.
    Foreign(String),
    /// The stored object is not the size the manifest gives: replaced or cut off.
    WrongSize { stored: u64, manifest: u64 },
    /// The thread that reads it could not be started.
    NoThread(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WrongKey => f.write_str("the recovery key does not open it"),
            Self::Foreign(detail) => f.write_str(detail),
            Self::WrongSize { stored, manifest } => write!(
                f,
                "it is {stored} bytes in storage but its manifest says {manifest}"
            ),
            Self::NoThread(why) => write!(f, "no thread could be started to read it ({why})"),
        }
    }
}

/// `plain` read ahead on a thread of its own, so its decoding and hashing run beside what
/// consumes it.
fn threaded(
    plain: impl Read + Send + 'static,
) -> Result<crate::threaded::ThreadedReader, OpenError> {
    crate::threaded::ThreadedReader::new(plain).map_err(|e| OpenError::NoThread(e.to_string()))
}

/// Fails once more than `left` bytes come out.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed is enough to know the stream is too long.
        let room = usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the plaintext is longer than its manifest says",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The plaintext of one stored artifact, hashed as it is read.
pub struct ArtifactReader {
    /// The plaintext, counted and hashed into `tally` by the thread that reads it.
    plain: crate::threaded::ThreadedReader,
    tally: Tally,
    stored: Tally,
    stored_size: u64,
    /// For a deduplicated artifact: its tree object's stored totals, proven when it was read.
    tree: Option<Totals>,
}

impl ArtifactReader {
    /// Opens the stored bytes of the artifact `info` describes. Nothing past the manifest's
    /// sizes is read: a longer stored object or a plaintext that inflates beyond what the
    /// manifest says (a decompression bomb) ends in an error, not in unbounded work.
    pub fn open(
        source: impl Read + Send + 'static,
        stored_size: u64,
        info: &ArtifactInfo,
        identity: &age::x25519::Identity,
    ) -> Result<Self, OpenError> {
        if stored_size != info.stored_bytes {
            return Err(OpenError::WrongSize {
                stored: stored_size,
                manifest: info.stored_bytes,
            });
        }
        let stored = Tally::hashing();
        let reader = BufReader::new(Tallied {
            inner: source.take(info.stored_bytes),
            tally: stored.clone(),
        });
        let decryptor = age::Decryptor::new_buffered(reader)
            .map_err(|e| OpenError::Foreign(format!("not an age file ({e})")))?;
        let decrypted = decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => OpenError::WrongKey,
                other => OpenError::Foreign(format!("cannot decrypt ({other})")),
            })?;
        let decoder = zstd::Decoder::new(decrypted)
            .map_err(|e| OpenError::Foreign(format!("not zstd ({e})")))?;
        let capped = Capped {
            inner: decoder,
            left: info.plaintext_bytes,
        };
        let tally = Tally::hashing();
        let plain = threaded(Tallied {
            inner: capped,
            tally: tally.clone(),
        })?;
        Ok(Self {
            plain,
            tally,
            stored,
            stored_size,
            tree: None,
        })
    }

    /// A deduplicated artifact's plaintext as `plain` rebuilds it from the tree whose object
    /// was read and proven (`tree`, what its reader's `finish` returned), each blob proven by
    /// its keyed id as it was read: that proves every byte. `finish` then holds the rebuilt
    /// plaintext's size to `info.chunked`, and its hash too when `hashed` (a verification, or a
    /// download that lists it in SHA256SUMS) and the manifest records one. A restore does not
    /// hash it: a second pass over every byte that proves nothing more.
    pub fn rebuilt(
        plain: impl Read + Send + 'static,
        tree: Totals,
        info: &ArtifactInfo,
        hashed: bool,
    ) -> Result<Self, OpenError> {
        let left = info.chunked.as_ref().map_or(0, |c| c.plaintext_bytes);
        let tally = match hashed {
            true => Tally::hashing(),
            false => Tally::counting(),
        };
        let plain = threaded(Tallied {
            inner: Capped { inner: plain, left },
            tally: tally.clone(),
        })?;
        Ok(Self {
            plain,
            tally,
            stored: Tally::counting(),
            stored_size: tree.stored_bytes,
            tree: Some(tree),
        })
    }

    /// Whether what it reads is rebuilt from blobs each proven by its keyed id as it is read,
    /// rather than proven only as a whole by `finish`.
    pub fn proves_blobs(&self) -> bool {
        self.tree.is_some()
    }

    /// Stored bytes read so far, for progress.
    pub fn stored_progress(&self) -> StoredProgress {
        StoredProgress(self.stored.clone())
    }

    /// Reads whatever is left and compares sizes and SHA-256s with the manifest's.
    pub fn finish(mut self, info: &ArtifactInfo) -> Result<Totals, FinishError> {
        io::copy(&mut self.plain, &mut io::sink()).map_err(FinishError::Damaged)?;
        let (stored_sha256, stored_bytes) = match &self.tree {
            Some(tree) => (tree.stored_sha256.clone(), tree.stored_bytes),
            None => match self.stored.finish() {
                (Some(sha), bytes) => (sha, bytes),
                (None, _) => unreachable!("a stored object's bytes are always hashed"),
            },
        };
        let (plaintext_sha256, plaintext_bytes) = self.tally.finish();
        let totals = Totals {
            stored_sha256,
            stored_bytes,
            plaintext_sha256,
            plaintext_bytes,
        };
        let (want_bytes, want_sha256) = match (&self.tree, &info.chunked) {
            (Some(_), Some(c)) => (c.plaintext_bytes, c.plaintext_sha256.as_deref()),
            _ => (info.plaintext_bytes, Some(info.plaintext_sha256.as_str())),
        };
        let matches = self.stored_size == info.stored_bytes
            && totals.stored_bytes == info.stored_bytes
            && totals.stored_sha256 == info.stored_sha256
            && totals.plaintext_bytes == want_bytes
            && want_sha256
                .zip(totals.plaintext_sha256.as_deref())
                .is_none_or(|(want, got)| want == got);
        if matches {
            Ok(totals)
        } else {
            Err(FinishError::Mismatch(totals.describe_against(info)))
        }
    }
}

impl Read for ArtifactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.plain.read(buf)
    }
}

#[derive(Clone)]
pub struct StoredProgress(Tally);

impl StoredProgress {
    pub fn bytes(&self) -> u64 {
        self.0.bytes()
    }
}

#[derive(Debug, Clone)]
pub struct Totals {
    pub stored_sha256: String,
    pub stored_bytes: u64,
    /// None for a deduplicated plaintext whose manifest records no hash (see `rebuilt`).
    pub plaintext_sha256: Option<String>,
    pub plaintext_bytes: u64,
}

impl Totals {
    fn describe_against(&self, info: &ArtifactInfo) -> String {
        format!(
            "stored {} bytes sha256 {} (manifest: {} bytes {}); plaintext {} bytes sha256 {} (manifest: {} bytes {})",
            self.stored_bytes,
            self.stored_sha256,
            info.stored_bytes,
            info.stored_sha256,
            self.plaintext_bytes,
            self.plaintext_sha256.as_deref().unwrap_or("(not hashed)"),
            info.plaintext_bytes,
            info.plaintext_sha256
        )
    }
}

#[derive(Debug)]
pub enum FinishError {
    /// Decryption or decompression failed part-way: the stored object is damaged or truncated.
    Damaged(io::Error),
    Mismatch(String),
}

impl std::fmt::Display for FinishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Damaged(e) => write!(f, "the stream is damaged ({e})"),
            Self::Mismatch(detail) => f.write_str(detail),
        }
    }
}
