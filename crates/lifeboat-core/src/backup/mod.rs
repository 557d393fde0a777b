//! On-demand and scheduled backups of an environment: its database, its media, or both,
//! streamed into the environment's storage target as encrypted artifacts plus a manifest.

pub(crate) mod database;
mod deduplicated;
pub mod media;
mod run;

use std::io;

use crate::error::{Error, ErrorCode};
pub use crate::model::backup::BackupEntry;
pub use crate::model::backup::BackupRecord;
pub use crate::model::backup::BackupRequest;
pub use lifeboat_format::manifest::BackupKind;

/// Maps an error from the artifact writer chain. A broken pipe means the uploader stopped; its
/// own error is the one reported.
fn writer_error(e: io::Error) -> Error {
    if lifeboat_format::is_stopped(&e) {
        return Error::cancelled();
    }
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Error::new(ErrorCode::StorageError, "The upload stopped.");
    }
    Error::new(ErrorCode::Io, format!("Writing the backup failed: {e}"))
}
