//! A stored backup, read and written one way. Reading opens a backup (record, storage, key)
//! and hands out each artifact as a checked plaintext stream; writing follows the crash-safe
//! protocol (location first, journaled uploads, manifest last, discard on failure, leftovers
//! retried at the next start). The operations never touch storage objects of a backup
//! themselves.

pub(crate) mod artifact;
pub(crate) mod chunks;
mod read;
mod write;

pub(crate) use read::{Plaintext, ProvenArtifact, StoredBackup};
pub(crate) use write::{Encoding, NewBackup, Place};
