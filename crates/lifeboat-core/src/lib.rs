//! Lifeboat's domain logic, free of any UI: the desktop app and the CLI are thin shells over it.

pub mod applications;
pub mod backup;
pub mod catalog;
pub mod catalog_sync;
pub mod connection;
pub mod credentials;
pub mod disk;
pub mod download;
pub mod drill;
pub mod environments;
pub mod error;
pub mod home;
pub mod jobs;
pub mod keys;
mod leftovers;
pub mod lifeboat;
pub mod lookup;
pub mod media;
pub mod model;
pub mod notices;
pub mod postgres;
pub mod prune;
pub mod restore;
pub mod retention;
mod running;
pub mod schedule;
pub mod scheduler;
pub mod storage;
pub mod targets;
pub mod validation;

pub use error::{Error, ErrorCode, Result};
pub use home::Home;
pub use lifeboat::Lifeboat;
/// The storage format, for the shells and tests that read or forge what is stored.
pub use lifeboat_format as format;
