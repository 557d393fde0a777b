//! One artifact, written: plaintext → SHA-256 → zstd → age → SHA-256 → a sink. The producer's
//! thread hashes the plaintext; a second thread compresses, encrypts and hashes what is
//! stored, so both cores work. The sink (an upload, a file) sees only the stored bytes.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::threaded::ThreadedWriter;

/// What the manifest records of each artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ArtifactInfo {
    /// File name inside the backup's prefix.
    pub name: String,
    #[ts(type = "number")]
    pub plaintext_bytes: u64,
    pub plaintext_sha256: String,
    #[ts(type = "number")]
    pub stored_bytes: u64,
    pub stored_sha256: String,
    /// Set for a deduplicated artifact (format 2): the object `name` then holds its tree (the
    /// fields above describe that object), and this is the artifact's own plaintext, rebuilt
    /// from the tree's pieces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub chunked: Option<ChunkedPlaintext>,
}

/// The plaintext a tree rebuilds: the bytes a single-object artifact of the same data holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ChunkedPlaintext {
    #[ts(type = "number")]
    pub plaintext_bytes: u64,
    /// Absent when the backup took unchanged files' content from an earlier backup without
    /// reading it: the blobs' keyed ids and the media manifest's per-file SHA-256s prove it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub plaintext_sha256: Option<String>,
}

/// Counts and hashes what passes through, and adds it to `progress` when given.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
    progress: Option<Arc<AtomicU64>>,
}

impl<W> Hashing<W> {
    fn new(inner: W, progress: Option<Arc<AtomicU64>>) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            progress,
        }
    }

    fn finish(self) -> (W, u64, String) {
        (
            self.inner,
            self.bytes,
            format!("{:x}", self.hasher.finalize()),
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(p) = &self.progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type Encrypted<S> = age::stream::StreamWriter<Hashing<S>>;

/// The writing end of one artifact, storing into `S`.
pub struct ArtifactWriter<S: Write + Send + 'static> {
    name: String,
    plain: Hashing<ThreadedWriter<zstd::Encoder<'static, Encrypted<S>>>>,
}

impl<S: Write + Send + 'static> ArtifactWriter<S> {
    /// `progress` counts plaintext bytes written.
    pub fn new(
        name: &str,
        recipient: &age::x25519::Recipient,
        zstd_level: i32,
        sink: S,
        progress: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
                .map_err(io::Error::other)?;
        let encrypted = encryptor.wrap_output(Hashing::new(sink, None))?;
        let mut compressor = zstd::Encoder::new(encrypted, zstd_level)?;
        // Lets a reader check the stream's integrity without the manifest (zstd -t).
        compressor.include_checksum(true)?;
        Ok(Self {
            name: name.to_owned(),
            plain: Hashing::new(ThreadedWriter::new(compressor)?, Some(progress)),
        })
    }

    /// Flushes every layer; returns what the manifest records and the sink, all written.
    pub fn finish(self) -> io::Result<(ArtifactInfo, S)> {
        let (encoder, plaintext_bytes, plaintext_sha256) = self.plain.finish();
        let encrypted = encoder.finish()?.finish()?;
        let stored = encrypted.finish()?;
        let (sink, stored_bytes, stored_sha256) = stored.finish();
        Ok((
            ArtifactInfo {
                name: self.name,
                plaintext_bytes,
                plaintext_sha256,
                stored_bytes,
                stored_sha256,
                chunked: None,
            },
            sink,
        ))
    }
}

impl<S: Write + Send + 'static> Write for ArtifactWriter<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.plain.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.plain.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::ArtifactReader;

    #[test]
    fn what_is_written_reads_back_and_matches_its_info() {
        let identity = age::x25519::Identity::generate();
        let progress = Arc::new(AtomicU64::new(0));
        let mut writer = ArtifactWriter::new(
            "a.zst.age",
            &identity.to_public(),
            3,
            Vec::new(),
            progress.clone(),
        )
        .unwrap();
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&plain).unwrap();
        let (info, stored) = writer.finish().unwrap();
        assert_eq!(progress.load(Ordering::Relaxed), plain.len() as u64);
        assert_eq!(info.plaintext_bytes, plain.len() as u64);
        assert_eq!(info.stored_bytes, stored.len() as u64);

        let size = stored.len() as u64;
        let mut reader =
            ArtifactReader::open(std::io::Cursor::new(stored), size, &info, &identity).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut reader, &mut back).unwrap();
        assert_eq!(back, plain);
        reader.finish(&info).unwrap();
    }

    #[test]
    fn a_plaintext_beyond_the_manifest_or_a_stored_object_of_another_size_is_refused() {
        let identity = age::x25519::Identity::generate();
        let progress = Arc::new(AtomicU64::new(0));
        let mut writer =
            ArtifactWriter::new("bomb", &identity.to_public(), 3, Vec::new(), progress).unwrap();
        // 64 MiB of zeros are a few KiB stored: a decompression bomb for a manifest that
        // promised one KiB.
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            writer.write_all(&zeros).unwrap();
        }
        let (mut info, stored) = writer.finish().unwrap();
        let size = stored.len() as u64;
        info.plaintext_bytes = 1024;
        let mut reader =
            ArtifactReader::open(std::io::Cursor::new(stored.clone()), size, &info, &identity)
                .unwrap();
        let mut back = Vec::new();
        let e = std::io::Read::read_to_end(&mut reader, &mut back).unwrap_err();
        assert!(e.to_string().contains("longer than its manifest"), "{e}");
        assert!(back.len() <= 1024);

        let e = ArtifactReader::open(std::io::Cursor::new(stored), size + 1, &info, &identity)
            .err()
            .expect("a stored object of another size is refused");
        assert!(matches!(e, crate::read::OpenError::WrongSize { .. }), "{e}");
    }
}
