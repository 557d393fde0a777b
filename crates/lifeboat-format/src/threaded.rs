//! A writer whose inner writer runs on a thread of its own. An artifact's stages (hashing,
//! compression, encryption) are all CPU-bound: chained on one thread, a backup keeps one core
//! busy while the other waits; split at this boundary, the producer and the encoder run at
//! once. Buffers circulate through a fixed pool, so memory stays bounded and nothing is
//! allocated per chunk.

use std::io::{self, Write};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

const BUFFER: usize = 256 << 10;
const BUFFERS: usize = 4;

pub struct ThreadedWriter<W> {
    buffer: Vec<u8>,
    full: Option<Sender<Vec<u8>>>,
    empty: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> ThreadedWriter<W> {
    pub fn new(inner: W) -> io::Result<Self> {
        let (full_tx, full_rx) = channel::<Vec<u8>>();
        let (empty_tx, empty_rx) = sync_channel(BUFFERS);
        for _ in 1..BUFFERS {
            empty_tx
                .send(Vec::with_capacity(BUFFER))
                .expect("the pool has room");
        }
        let worker = std::thread::Builder::new()
            .name("lifeboat-encode".into())
            .spawn(move || write_all_from(inner, &full_rx, &empty_tx))?;
        Ok(Self {
            buffer: Vec::with_capacity(BUFFER),
            full: Some(full_tx),
            empty: empty_rx,
            worker: Some(worker),
        })
    }

    fn hand_over(&mut self) -> io::Result<()> {
        let Ok(next) = self.empty.recv() else {
            return Err(self.stopped());
        };
        let chunk = std::mem::replace(&mut self.buffer, next);
        let sent = self.full.as_ref().map(|full| full.send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// The worker ended early: its own error says why.
    fn stopped(&mut self) -> io::Error {
        self.full = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::new(io::ErrorKind::BrokenPipe, "the encoder stopped"),
        }
    }

    /// Writes out what is buffered, waits for the worker and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buffer.is_empty() {
            self.hand_over()?;
        }
        self.full = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(_)) => Err(io::Error::other("the encoder thread panicked")),
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the encoder stopped",
            )),
        }
    }
}

fn write_all_from<W: Write>(
    mut inner: W,
    full: &Receiver<Vec<u8>>,
    empty: &SyncSender<Vec<u8>>,
) -> io::Result<W> {
    for mut chunk in full {
        inner.write_all(&chunk)?;
        chunk.clear();
        // The producer may have finished and gone; a buffer nobody takes is just dropped.
        let _ = empty.send(chunk);
    }
    Ok(inner)
}

impl<W: Write + Send + 'static> Write for ThreadedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BUFFER - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == BUFFER {
            self.hand_over()?;
        }
        Ok(n)
    }

    /// The inner writer flushes at `finish`; flushing each stage on demand would only cut
    /// compression blocks short.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_every_byte_in_order() {
        let data: Vec<u8> = (0..3 * BUFFER + 12_345).map(|i| (i % 251) as u8).collect();
        let mut writer = ThreadedWriter::new(Vec::new()).unwrap();
        for piece in data.chunks(10_007) {
            writer.write_all(piece).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), data);
    }

    struct FailsAfter(usize);

    impl Write for FailsAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 < buf.len() {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn reports_the_inner_writers_error() {
        let mut writer = ThreadedWriter::new(FailsAfter(BUFFER)).unwrap();
        let error = (0..BUFFERS * 4)
            .find_map(|_| writer.write_all(&[7; BUFFER]).err())
            .or_else(|| writer.finish().err())
            .expect("the failure reaches the producer");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    }
}
