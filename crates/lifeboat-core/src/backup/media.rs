//! The media artifact: the media directory archived (`lifeboat_format::media`) into an
//! artifact, with what goes wrong said in Lifeboat's error codes.

use std::path::Path;

use lifeboat_format::media::{self, ArchiveError};
use tokio_util::sync::CancellationToken;

use super::writer_error;
use crate::error::{Error, ErrorCode, Result};
use crate::repository::artifact::{ArtifactInfo, ArtifactWriter};

pub struct MediaOutcome {
    pub artifact: ArtifactInfo,
    pub file_count: u64,
    pub total_bytes: u64,
}

pub fn archive(
    root: &Path,
    out: ArtifactWriter,
    cancel: &CancellationToken,
) -> Result<MediaOutcome> {
    let stop = || cancel.is_cancelled();
    let (out, archived) = media::archive(root, out, &stop).map_err(|e| match e {
        ArchiveError::Unreadable { path, why } => Error::new(
            ErrorCode::MediaUnreadable,
            format!("Cannot back up {path}: {why}"),
        ),
        ArchiveError::UnsafeLink(why) => Error::new(
            ErrorCode::UnsafeArchive,
            format!("The media directory cannot be backed up: {why}. Restores refuse such links, so no backup was made; replace the link with what it points to, or remove it."),
        ),
        ArchiveError::Stopped => Error::cancelled(),
        ArchiveError::Write(e) => writer_error(e),
    })?;
    let artifact = out.finish().map_err(writer_error)?;
    Ok(MediaOutcome {
        artifact,
        file_count: archived.file_count,
        total_bytes: archived.total_bytes,
    })
}
