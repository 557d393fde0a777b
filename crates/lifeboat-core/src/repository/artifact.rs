//! One stored artifact on its way to storage: the format's writer (plaintext → zstd → age, both
//! sides hashed) runs on a blocking thread fed by pg_dump or the tar writer, and hands
//! fixed-size chunks through a small bounded channel to the async uploader, so memory stays
//! bounded whatever the size of the data.

use std::io::{self, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use bytes::BytesMut;
pub use lifeboat_format::artifact::ArtifactInfo;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::storage::Chunk;

const CHUNK: usize = 1 << 20;
/// Chunks waiting for the uploader; with the uploader's own part buffers this bounds memory.
pub const CHANNEL_DEPTH: usize = 4;

/// Cuts the encrypted stream into chunks for the uploader.
pub struct ChannelWriter {
    buffer: BytesMut,
    tx: mpsc::Sender<Chunk>,
    cancel: CancellationToken,
}

impl ChannelWriter {
    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        if self.cancel.is_cancelled() {
            return Err(lifeboat_format::stopped_io());
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

/// The writing end of one artifact on its way to the uploader.
pub struct ArtifactWriter(lifeboat_format::artifact::ArtifactWriter<ChannelWriter>);

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
        lifeboat_format::artifact::ArtifactWriter::new(name, recipient, zstd_level, sink, progress)
            .map(Self)
    }

    /// Flushes every layer and tells the uploader the artifact is complete.
    pub fn finish(self) -> io::Result<ArtifactInfo> {
        let (info, sink) = self.0.finish()?;
        sink.end()?;
        Ok(info)
    }
}

impl Write for ArtifactWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

pub fn channel() -> (mpsc::Sender<Chunk>, mpsc::Receiver<Chunk>) {
    mpsc::channel(CHANNEL_DEPTH)
}
