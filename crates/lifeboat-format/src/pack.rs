//! Pack objects (format 2, docs/storage-format.md): each pack is one age file to the recovery
//! key whose plaintext is its blobs one after another, each compressed on its own with zstd.
//! One age header per pack, not per blob, because a header costs an X25519 agreement to write
//! and another to open: per blob that was most of the CPU of a backup or a restore of many
//! small files. A blob is still read alone: age encrypts in 64 KiB chunks, each authenticated
//! on its own, so a reader fetches the pack's header (kept in the index) and only the chunks
//! its blobs lie in. By hand, `age -d` of a pack and a slice of the result give a blob.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;

use base64::Engine;

use crate::chunked::{BlobRecord, ChunkKey, PackRecord};

/// age's payload chunk: 64 KiB of plaintext, sealed with a 16-byte tag (age's STREAM).
const CHUNK: u64 = 64 << 10;
const SEALED_CHUNK: u64 = CHUNK + 16;
/// The payload nonce that follows age's header.
const NONCE: usize = 16;

/// Fills a pack: blobs compressed one by one into one age stream.
pub struct PackSealer {
    writer: age::stream::StreamWriter<Vec<u8>>,
    compressor: zstd::bulk::Compressor<'static>,
    blobs: Vec<BlobRecord>,
    plaintext: u64,
}

impl PackSealer {
    pub fn new(recipient: &age::x25519::Recipient, level: i32) -> io::Result<Self> {
        let writer =
            age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
                .map_err(io::Error::other)?
                .wrap_output(Vec::with_capacity(9 << 20))?;
        Ok(Self {
            writer,
            compressor: zstd::bulk::Compressor::new(level)?,
            blobs: Vec::new(),
            plaintext: 0,
        })
    }

    /// Adds a blob named `id`.
    pub fn add(&mut self, id: &str, plaintext: &[u8]) -> io::Result<()> {
        let compressed = self.compressor.compress(plaintext)?;
        self.writer.write_all(&compressed)?;
        self.blobs.push(BlobRecord {
            id: id.to_owned(),
            offset: self.plaintext,
            length: compressed.len() as u64,
            size: plaintext.len() as u64,
        });
        self.plaintext += compressed.len() as u64;
        Ok(())
    }

    /// The pack's plaintext so far (compressed blobs), about its size in storage.
    pub fn len(&self) -> u64 {
        self.plaintext
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// The pack's bytes and its index record (named by the SHA-256 of the bytes).
    pub fn finish(self) -> io::Result<(Vec<u8>, PackRecord)> {
        let bytes = self.writer.finish()?;
        let header =
            header_length(&bytes).ok_or_else(|| io::Error::other("age wrote no header"))? + NONCE;
        let name = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes));
        let record = PackRecord {
            name,
            bytes: bytes.len() as u64,
            header: base64::engine::general_purpose::STANDARD.encode(&bytes[..header]),
            blobs: self.blobs,
        };
        Ok((bytes, record))
    }
}

/// Where age's header ends: after the line that starts with "---".
fn header_length(bytes: &[u8]) -> Option<usize> {
    let mac = bytes.windows(5).position(|w| w == b"\n--- ")?;
    let end = bytes[mac + 1..].iter().position(|&b| b == b'\n')?;
    Some(mac + 1 + end + 1)
}

/// The stored bytes of `pack` that hold its plaintext `from..to` (blobs one after another):
/// the sealed chunks they lie in, and the one before when `from` starts a chunk (a reader that
/// seeks to a chunk's start would need the pack's last chunk; `open_run` seeks a byte short).
pub fn stored_range(pack: &PackRecord, from: u64, to: u64) -> io::Result<Range<u64>> {
    let payload = header_bytes(pack)?.len() as u64;
    let first = from.saturating_sub(1) / CHUNK;
    let last = to.saturating_sub(1).max(from) / CHUNK;
    Ok(payload + first * SEALED_CHUNK..(payload + (last + 1) * SEALED_CHUNK).min(pack.bytes))
}

/// The fewest stored bytes a pack holding plaintext up to `end` can have.
pub fn least_bytes(pack: &PackRecord, end: u64) -> io::Result<u64> {
    let payload = header_bytes(pack)?.len() as u64;
    Ok(payload + end + end.div_ceil(CHUNK).max(1) * 16)
}

fn header_bytes(pack: &PackRecord) -> io::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(&pack.header)
        .map_err(|e| io::Error::other(format!("pack {}'s header is not base64 ({e})", pack.name)))
}

/// Opens the blobs `wanted` (ids of `pack`'s, in the order they lie) out of `stored`, the bytes
/// `stored_range` names for their span, and proves each is what its id names. One X25519
/// agreement for the lot; a zstd context reused.
pub fn open_run(
    pack: &PackRecord,
    stored: &[u8],
    stored_at: u64,
    wanted: &[&BlobRecord],
    identity: &age::x25519::Identity,
    key: &ChunkKey,
) -> Result<Vec<Vec<u8>>, String> {
    let name = &pack.name;
    let header = header_bytes(pack).map_err(|e| e.to_string())?;
    let window = Window {
        header,
        stored,
        stored_at,
        total: pack.bytes,
        position: 0,
    };
    let mut reader = age::Decryptor::new(window)
        .map_err(|e| format!("pack {name} is not an age file ({e})"))?
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| format!("pack {name} does not open with the recovery key ({e})"))?;
    let mut decompressor = zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?;
    let mut position = u64::MAX;
    let mut compressed = Vec::new();
    let mut blobs = Vec::with_capacity(wanted.len());
    for blob in wanted {
        let id = &blob.id;
        let damaged = |e: io::Error| format!("blob {id} in pack {name} is damaged ({e})");
        if position != blob.offset {
            // A byte short of a chunk's start, then that byte: see `stored_range`.
            let short = u64::from(blob.offset > 0 && blob.offset % CHUNK == 0);
            reader
                .seek(SeekFrom::Start(blob.offset - short))
                .map_err(damaged)?;
            let mut skipped = [0u8; 1];
            reader
                .read_exact(&mut skipped[..short as usize])
                .map_err(damaged)?;
        }
        let length = usize::try_from(blob.length).map_err(|_| format!("blob {id} is too large"))?;
        compressed.resize(length, 0);
        reader.read_exact(&mut compressed).map_err(damaged)?;
        position = blob.offset + blob.length;
        let capacity = usize::try_from(blob.size).map_err(|_| format!("blob {id} is too large"))?;
        let plain = decompressor
            .decompress(&compressed, capacity)
            .map_err(damaged)?;
        if plain.len() as u64 != blob.size || key.id(&plain) != *id {
            return Err(format!("blob {id} does not hold what its id names"));
        }
        blobs.push(plain);
    }
    Ok(blobs)
}

/// A pack as age's reader sees it, of which only the header and one span were fetched.
struct Window<'a> {
    /// age's header and the payload nonce.
    header: Vec<u8>,
    stored: &'a [u8],
    stored_at: u64,
    total: u64,
    position: u64,
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.position;
        let from: &[u8] = if at < self.header.len() as u64 {
            &self.header[at as usize..]
        } else if at >= self.total {
            &[]
        } else if at >= self.stored_at && at - self.stored_at < self.stored.len() as u64 {
            &self.stored[(at - self.stored_at) as usize..]
        } else {
            return Err(io::Error::other(
                "a read outside the part of the pack fetched",
            ));
        };
        let n = from.len().min(buf.len());
        buf[..n].copy_from_slice(&from[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.position = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(by) => self.total.checked_add_signed(by),
            SeekFrom::Current(by) => self.position.checked_add_signed(by),
        }
        .ok_or_else(|| io::Error::other("a seek before the pack's start"))?;
        Ok(self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blobs of every size around age's chunk boundaries, read back alone and in runs.
    #[test]
    fn blobs_read_back_alone_and_in_runs_from_the_chunks_they_lie_in() {
        let identity = age::x25519::Identity::generate();
        let key = ChunkKey::from_identity(&identity);
        let mut sealer = PackSealer::new(&identity.to_public(), 3).unwrap();
        // Incompressible bytes, so a blob's stored length is known and lands where wanted.
        let noise = |seed: u64, n: usize| -> Vec<u8> {
            let mut state = seed;
            (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (state >> 33) as u8
                })
                .collect()
        };
        let mut plains: Vec<Vec<u8>> = [0, 1, 200_000, 3]
            .iter()
            .enumerate()
            .map(|(i, &n)| noise(i as u64, n))
            .collect();
        for plain in &plains {
            sealer.add(&key.id(plain), plain).unwrap();
        }
        // One blob ends where a chunk ends, so the next starts one, and the last fills its
        // chunk: the cases where age's reader needs care.
        for seed in 10..12 {
            let to_boundary = (CHUNK - sealer.len() % CHUNK) as usize;
            let framing = zstd::bulk::compress(&noise(seed, to_boundary), 3)
                .unwrap()
                .len()
                - to_boundary;
            let plain = noise(seed, to_boundary - framing);
            sealer.add(&key.id(&plain), &plain).unwrap();
            plains.push(plain);
            assert_eq!(sealer.len() % CHUNK, 0);
        }
        let (bytes, pack) = sealer.finish().unwrap();
        assert!(
            least_bytes(&pack, pack.blobs.last().map_or(0, |b| b.offset + b.length)).unwrap()
                <= bytes.len() as u64
        );
        let by_hand = {
            let mut plain = Vec::new();
            age::Decryptor::new(&bytes[..])
                .unwrap()
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .unwrap()
                .read_to_end(&mut plain)
                .unwrap();
            plain
        };
        let read = |wanted: &[&BlobRecord]| {
            let from = wanted[0].offset;
            let to = wanted.last().map(|b| b.offset + b.length).unwrap();
            let range = stored_range(&pack, from, to).unwrap();
            let stored = &bytes[range.start as usize..range.end as usize];
            open_run(&pack, stored, range.start, wanted, &identity, &key)
        };
        for (blob, plain) in pack.blobs.iter().zip(&plains) {
            let slice = &by_hand[blob.offset as usize..(blob.offset + blob.length) as usize];
            assert_eq!(&zstd::decode_all(slice).unwrap(), plain, "by hand");
            assert_eq!(read(&[blob]).unwrap(), vec![plain.clone()], "alone");
        }
        let all: Vec<&BlobRecord> = pack.blobs.iter().collect();
        assert_eq!(read(&all).unwrap(), plains);
        // A damaged byte, or a blob the pack does not hold, is refused.
        let mut forged = pack.blobs[4].clone();
        forged.id = key.id(b"something else");
        assert!(read(&[&forged]).is_err());
        let range = stored_range(&pack, 0, bytes.len() as u64).unwrap();
        let mut damaged = bytes[range.start as usize..range.end as usize].to_vec();
        damaged[100] ^= 1;
        assert!(open_run(&pack, &damaged, range.start, &all[..1], &identity, &key).is_err());
        // Another recovery key derives other ids: a bucket's holder cannot test for a file.
        assert_ne!(
            ChunkKey::from_identity(&age::x25519::Identity::generate()).id(&plains[1]),
            key.id(&plains[1])
        );
    }
}
