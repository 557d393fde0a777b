//! Streaming an artifact into storage. On S3 this drives the multipart API itself instead of
//! object_store's buffered writer, so the upload's id is known before the first byte is sent:
//! the caller records it, and when the process dies mid-upload the next start aborts it (S3
//! keeps, and bills, the parts of an upload nobody completes or aborts, and S3-compatible
//! servers need not offer a way to list them).

use std::sync::Arc;

use object_store::aws::AmazonS3;
use object_store::buffered::BufWriter;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{MultipartId, PutMultipartOptions, PutPayload, PutPayloadMut};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{map_store_error, map_store_io_error, Chunk, Storage};
use crate::error::{Error, ErrorCode, Result};

/// S3 multipart part size and how many parts upload at once: with the producer's channel this
/// bounds an upload's memory to roughly (parts in flight + 1) × part size.
const MIN_PART_SIZE: usize = 8 << 20;
const PARTS_IN_FLIGHT: usize = 2;
/// S3 allows 10 000 parts; a margin covers a size estimate that falls short.
const MAX_PARTS: u64 = 8_000;

/// Parts grow with the expected size so a large artifact never runs out of part numbers.
fn part_size(size_hint: u64) -> usize {
    let needed = size_hint.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
    MIN_PART_SIZE.max(usize::try_from(needed).unwrap_or(usize::MAX))
}

/// An upload begun and not yet completed or aborted.
pub struct Upload {
    name: String,
    way: Way,
}

enum Way {
    Multipart {
        store: Arc<AmazonS3>,
        key: Path,
        id: MultipartId,
        part_size: usize,
    },
    /// A local folder: a temporary file renamed on completion.
    Buffered(BufWriter),
}

impl Storage {
    /// Begins an upload of `name`; nothing is visible under that name until it completes.
    pub async fn begin_upload(&self, name: &str, size_hint: u64) -> Result<Upload> {
        let key = self.key(name);
        let way = match &self.multipart {
            Some(store) => {
                let options = PutMultipartOptions {
                    attributes: self.attributes.clone(),
                    ..PutMultipartOptions::default()
                };
                let id = store
                    .create_multipart_opts(&key, options)
                    .await
                    .map_err(|e| map_store_error(e, &format!("starting the upload of {name}")))?;
                Way::Multipart {
                    store: store.clone(),
                    key,
                    id,
                    part_size: part_size(size_hint),
                }
            }
            None => Way::Buffered(
                BufWriter::with_capacity(self.store.clone(), key, part_size(size_hint))
                    .with_max_concurrency(PARTS_IN_FLIGHT)
                    .with_attributes(self.attributes.clone()),
            ),
        };
        Ok(Upload {
            name: name.to_owned(),
            way,
        })
    }

    /// Aborts an upload a crashed run left open; one already gone is already aborted.
    pub async fn abort_upload(&self, name: &str, id: &str) -> Result<()> {
        let Some(store) = &self.multipart else {
            return Ok(());
        };
        match store.abort_multipart(&self.key(name), &id.to_owned()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_store_error(
                e,
                &format!("aborting the unfinished upload of {name}"),
            )),
        }
    }
}

impl Upload {
    /// The id under which S3 keeps the parts until the upload completes or is aborted.
    pub fn multipart_id(&self) -> Option<&str> {
        match &self.way {
            Way::Multipart { id, .. } => Some(id),
            Way::Buffered(_) => None,
        }
    }

    /// Streams the producer's chunks and completes the upload once it sends `Chunk::End`.
    /// On an error the upload stays open: the caller aborts it.
    pub async fn send(&mut self, rx: Receiver<Chunk>, cancel: &CancellationToken) -> Result<()> {
        match &mut self.way {
            Way::Multipart {
                store,
                key,
                id,
                part_size,
            } => {
                let parts = Parts {
                    store: store.clone(),
                    key: key.clone(),
                    id: id.clone(),
                    size: *part_size,
                };
                parts.send(rx, cancel).await
            }
            Way::Buffered(writer) => send_buffered(writer, rx, cancel).await,
        }
    }

    pub async fn abort(self) -> Result<()> {
        let aborted = match self.way {
            Way::Multipart { store, key, id, .. } => store.abort_multipart(&key, &id).await,
            Way::Buffered(mut writer) => writer.abort().await,
        };
        aborted.map_err(|e| map_store_error(e, &format!("aborting the upload of {}", self.name)))
    }
}

/// Waits for the producer's next chunk, or fails at once on cancel.
async fn next_chunk(rx: &mut Receiver<Chunk>, cancel: &CancellationToken) -> Result<Chunk> {
    tokio::select! {
        _ = cancel.cancelled() => Err(Error::cancelled()),
        chunk = rx.recv() => chunk.ok_or_else(|| {
            Error::new(ErrorCode::Internal, "The data source stopped.")
        }),
    }
}

async fn send_buffered(
    writer: &mut BufWriter,
    mut rx: Receiver<Chunk>,
    cancel: &CancellationToken,
) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    loop {
        match next_chunk(&mut rx, cancel).await? {
            // put waits for room among the writes in flight, which a slow disk makes long.
            Chunk::Data(bytes) => tokio::select! {
                _ = cancel.cancelled() => return Err(Error::cancelled()),
                put = writer.put(bytes) => put.map_err(|e| map_store_error(e, "writing"))?,
            },
            Chunk::End => {
                return writer
                    .shutdown()
                    .await
                    .map_err(|e| map_store_io_error(e, "completing the write"))
            }
        }
    }
}

struct Parts {
    store: Arc<dyn MultipartStore>,
    key: Path,
    id: MultipartId,
    size: usize,
}

impl Parts {
    async fn send(self, rx: Receiver<Chunk>, cancel: &CancellationToken) -> Result<()> {
        let mut in_flight = JoinSet::new();
        let sent = self.send_parts(&mut in_flight, rx, cancel).await;
        if sent.is_err() {
            // Parts still uploading when the upload is aborted may be kept (and billed): stop
            // them, and wait until they have stopped, before the caller aborts.
            in_flight.shutdown().await;
        }
        sent
    }

    async fn send_parts(
        &self,
        in_flight: &mut JoinSet<Result<(usize, PartId)>>,
        mut rx: Receiver<Chunk>,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let mut done: Vec<(usize, PartId)> = Vec::new();
        let mut part = PutPayloadMut::new();
        let mut count = 0;
        loop {
            match next_chunk(&mut rx, cancel).await? {
                // Every part but the last is exactly the part size (some servers insist), so a
                // chunk may be split between two parts; splitting `Bytes` copies nothing.
                Chunk::Data(mut bytes) => {
                    while !bytes.is_empty() {
                        let room = self.size - part.content_length();
                        part.push(bytes.split_to(room.min(bytes.len())));
                        if part.content_length() == self.size {
                            let full = std::mem::take(&mut part).freeze();
                            self.start_part(in_flight, &mut done, count, full, cancel)
                                .await?;
                            count += 1;
                        }
                    }
                }
                Chunk::End => {
                    // The last part may be short; an upload needs at least one.
                    if !part.is_empty() || count == 0 {
                        self.start_part(in_flight, &mut done, count, part.freeze(), cancel)
                            .await?;
                    }
                    while !in_flight.is_empty() {
                        done.push(self.next_done(in_flight, cancel).await?);
                    }
                    done.sort_by_key(|(index, _)| *index);
                    let parts = done.into_iter().map(|(_, part)| part).collect();
                    let completed = tokio::select! {
                        _ = cancel.cancelled() => return Err(Error::cancelled()),
                        completed = self.store.complete_multipart(&self.key, &self.id, parts) => completed,
                    };
                    return completed
                        .map(drop)
                        .map_err(|e| map_store_error(e, "completing the upload"));
                }
            }
        }
    }

    /// Starts uploading a part once fewer than `PARTS_IN_FLIGHT` are.
    async fn start_part(
        &self,
        in_flight: &mut JoinSet<Result<(usize, PartId)>>,
        done: &mut Vec<(usize, PartId)>,
        index: usize,
        payload: PutPayload,
        cancel: &CancellationToken,
    ) -> Result<()> {
        if in_flight.len() == PARTS_IN_FLIGHT {
            done.push(self.next_done(in_flight, cancel).await?);
        }
        in_flight.spawn(self.put(index, payload));
        Ok(())
    }

    fn put(
        &self,
        index: usize,
        payload: PutPayload,
    ) -> impl std::future::Future<Output = Result<(usize, PartId)>> + Send + 'static {
        let (store, key, id) = (self.store.clone(), self.key.clone(), self.id.clone());
        async move {
            store
                .put_part(&key, &id, index, payload)
                .await
                .map(|part| (index, part))
                .map_err(|e| map_store_error(e, "uploading"))
        }
    }

    /// The next part to finish uploading (a slow server can make the wait long).
    async fn next_done(
        &self,
        in_flight: &mut JoinSet<Result<(usize, PartId)>>,
        cancel: &CancellationToken,
    ) -> Result<(usize, PartId)> {
        let joined = tokio::select! {
            _ = cancel.cancelled() => return Err(Error::cancelled()),
            joined = in_flight.join_next() => joined.expect("a part is in flight"),
        };
        joined
            .map_err(|e| Error::new(ErrorCode::Internal, format!("An upload task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutResult};

    use super::*;

    /// A real in-memory store that also notes the size of every part it is given.
    #[derive(Default)]
    struct Noting {
        store: InMemory,
        parts: Mutex<Vec<(usize, usize)>>,
    }

    #[async_trait::async_trait]
    impl MultipartStore for Noting {
        async fn create_multipart(&self, path: &Path) -> object_store::Result<MultipartId> {
            self.store.create_multipart(path).await
        }

        async fn put_part(
            &self,
            path: &Path,
            id: &MultipartId,
            index: usize,
            data: PutPayload,
        ) -> object_store::Result<PartId> {
            self.parts
                .lock()
                .unwrap()
                .push((index, data.content_length()));
            self.store.put_part(path, id, index, data).await
        }

        async fn complete_multipart(
            &self,
            path: &Path,
            id: &MultipartId,
            parts: Vec<PartId>,
        ) -> object_store::Result<PutResult> {
            self.store.complete_multipart(path, id, parts).await
        }

        async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> object_store::Result<()> {
            self.store.abort_multipart(path, id).await
        }
    }

    #[tokio::test]
    async fn parts_are_all_the_part_size_but_the_last_and_assemble_in_order() {
        let noting = Arc::new(Noting::default());
        let key = Path::from("a/b");
        let id = noting.create_multipart(&key).await.unwrap();
        let parts = Parts {
            store: noting.clone(),
            key: key.clone(),
            id,
            size: 10,
        };
        let data: Vec<u8> = (0..73).collect();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        for piece in data.chunks(7) {
            tx.send(Chunk::Data(Bytes::copy_from_slice(piece)))
                .await
                .unwrap();
        }
        tx.send(Chunk::End).await.unwrap();
        parts.send(rx, &CancellationToken::new()).await.unwrap();

        let mut sizes = noting.parts.lock().unwrap().clone();
        sizes.sort();
        assert_eq!(
            sizes,
            (0..8)
                .map(|i| (i, if i < 7 { 10 } else { 3 }))
                .collect::<Vec<_>>()
        );
        let stored = noting.store.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(stored, data);
    }
}
