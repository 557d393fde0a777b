//! A writer whose inner writer runs on a thread of its own, and a reader whose inner reader
//! does. An artifact's stages (hashing, compression, encryption, and back) are all CPU-bound:
//! chained on one thread, a backup or a restore keeps one core busy while the other waits;
//! split at this boundary, both ends run at once. Buffers circulate through a fixed pool, so
//! memory stays bounded and nothing is allocated per chunk.

use std::io::{self, Read, Write};
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

pub struct ThreadedReader {
    full: Receiver<io::Result<Vec<u8>>>,
    empty: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    taken: usize,
    ended: bool,
}

impl ThreadedReader {
    /// Reads `inner` on a thread of its own, a few buffers ahead of the consumer. Dropped
    /// early, the thread ends at its next buffer.
    pub fn new<R: Read + Send + 'static>(inner: R) -> io::Result<Self> {
        let (full_tx, full_rx) = sync_channel(BUFFERS);
        let (empty_tx, empty_rx) = sync_channel(BUFFERS + 1);
        for _ in 0..BUFFERS {
            empty_tx
                .send(Vec::with_capacity(BUFFER))
                .expect("the pool has room");
        }
        std::thread::Builder::new()
            .name("lifeboat-decode".into())
            .spawn(move || read_all_into(inner, &full_tx, &empty_rx))?;
        Ok(Self {
            full: full_rx,
            empty: empty_tx,
            current: Vec::new(),
            taken: 0,
            ended: false,
        })
    }
}

fn read_all_into<R: Read>(
    mut inner: R,
    full: &SyncSender<io::Result<Vec<u8>>>,
    empty: &Receiver<Vec<u8>>,
) {
    for mut chunk in empty {
        chunk.resize(BUFFER, 0);
        let mut filled = 0;
        let read = loop {
            match inner.read(&mut chunk[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == BUFFER {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        chunk.truncate(filled);
        // The consumer may have gone: then so does this thread. An empty buffer is the end.
        let ended = filled < BUFFER;
        if filled > 0 && full.send(Ok(chunk)).is_err() {
            return;
        }
        match read {
            Err(e) => {
                let _ = full.send(Err(e));
                return;
            }
            Ok(()) if ended => {
                let _ = full.send(Ok(Vec::new()));
                return;
            }
            Ok(()) => {}
        }
    }
}

impl Read for ThreadedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.taken == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            let next = match self.full.recv() {
                Ok(next) => next?,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the decoder stopped",
                    ))
                }
            };
            self.ended = next.is_empty();
            let used = std::mem::replace(&mut self.current, next);
            self.taken = 0;
            // The thread may have finished; a buffer nobody takes is just dropped.
            let _ = self.empty.try_send(used);
        }
        let n = buf.len().min(self.current.len() - self.taken);
        buf[..n].copy_from_slice(&self.current[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threaded_reader_passes_every_byte_in_order_then_the_error() {
        let data: Vec<u8> = (0..3 * BUFFER + 12_345).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        ThreadedReader::new(io::Cursor::new(data.clone()))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        let failing = io::Cursor::new(data.clone()).chain(FailsToRead);
        let mut reader = ThreadedReader::new(failing).unwrap();
        let mut out = Vec::new();
        let error = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(out, data, "what came before the error is all there");
    }

    struct FailsToRead;

    impl Read for FailsToRead {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::InvalidData, "damaged"))
        }
    }

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
