//! Lifeboat's storage format, as docs/storage-format.md describes it: where a backup's objects
//! go (`layout`), the manifest that commits and describes a backup (`manifest`) and vouches for
//! who wrote it (`authentication`), an artifact written and read back as plaintext → zstd → age
//! with both sides hashed (`artifact`, `read`), and the media archive with its own manifest
//! (`media`, `media_reader`).
//!
//! Synchronous `std::io` throughout: no async runtime, database, object store or keyring, so
//! the format builds and is tested alone, and anything that can hand it bytes can use it.

pub mod artifact;
pub mod authentication;
pub mod chunked;
pub mod layout;
pub mod manifest;
pub mod media;
pub mod media_reader;
pub mod pack;
pub mod read;
mod threaded;

use std::io;

/// Marks an `io::Error` as the caller's request to stop (cancel), carried through code that
/// only speaks io (tar, zstd) so it is not mistaken for a failure.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped")
    }
}

impl std::error::Error for Stopped {}

/// The io::Error a writer or reader returns when asked to stop.
pub fn stopped_io() -> io::Error {
    io::Error::other(Stopped)
}

/// Whether `e` is (or wraps) a request to stop.
pub fn is_stopped(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Stopped>())
}
