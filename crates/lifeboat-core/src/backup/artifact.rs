//! One stored artifact, streamed: plaintext → SHA-256 → zstd → age → SHA-256 → upload.
//! The synchronous half (`ArtifactWriter`) runs on a blocking thread fed by pg_dump or the tar
//! writer; it hands fixed-size chunks through a small bounded channel to the async uploader, so
//! memory stays bounded whatever the size of the data.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use super::threaded::ThreadedWriter;
use crate::storage::Chunk;

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
}

const CHUNK: usize = 1 << 20;
/// Chunks waiting for the uploader; with the uploader's own part buffers this bounds memory.
pub const CHANNEL_DEPTH: usize = 4;

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

/// Cuts the encrypted stream into chunks for the uploader.
pub struct ChannelWriter {
    buffer: BytesMut,
    tx: mpsc::Sender<Chunk>,
    cancel: CancellationToken,
}

impl ChannelWriter {
    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        if self.cancel.is_cancelled() {
            return Err(super::cancelled_io());
        }
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped"))
    }

    fn end(mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            let data = self.buffer.split().freeze();
            self.send(Chunk::Data(data))?;
        }
        self.send(Chunk::End)
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let n = buf.len().min(room);
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == CHUNK {
            let data = self.buffer.split().freeze();
            self.send(Chunk::Data(data))?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Encrypted = age::stream::StreamWriter<Hashing<ChannelWriter>>;

/// The writing end of one artifact: the producer's thread hashes the plaintext, a second
/// thread compresses, encrypts and hashes what is stored.
pub struct ArtifactWriter {
    name: String,
    plain: Hashing<ThreadedWriter<zstd::Encoder<'static, Encrypted>>>,
}

impl ArtifactWriter {
    pub fn new(
        name: &str,
        recipient: &age::x25519::Recipient,
        zstd_level: i32,
        tx: mpsc::Sender<Chunk>,
        progress: Arc<AtomicU64>,
        cancel: CancellationToken,
    ) -> io::Result<Self> {
        let sink = ChannelWriter {
            buffer: BytesMut::with_capacity(CHUNK),
            tx,
            cancel,
        };
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

    /// Flushes every layer and tells the uploader the artifact is complete.
    pub fn finish(self) -> io::Result<ArtifactInfo> {
        let (encoder, plaintext_bytes, plaintext_sha256) = self.plain.finish();
        let encrypted = encoder.finish()?.finish()?;
        let stored = encrypted.finish()?;
        let (sink, stored_bytes, stored_sha256) = stored.finish();
        sink.end()?;
        Ok(ArtifactInfo {
            name: self.name,
            plaintext_bytes,
            plaintext_sha256,
            stored_bytes,
            stored_sha256,
        })
    }
}

impl Write for ArtifactWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.plain.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.plain.flush()
    }
}

pub fn channel() -> (mpsc::Sender<Chunk>, mpsc::Receiver<Chunk>) {
    mpsc::channel(CHANNEL_DEPTH)
}
