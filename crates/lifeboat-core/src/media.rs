//! An environment's media source: a local directory of user-uploaded files.

use std::path::Path;

use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, ErrorCode, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaStats {
    /// Regular files and symlinks (a symlink is recorded, never followed).
    #[ts(type = "number")]
    pub file_count: u64,
    #[ts(type = "number")]
    pub total_bytes: u64,
}

pub fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::new(
            ErrorCode::MediaNotADirectory,
            format!("{} is not a directory.", dir.display()),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::new(
            ErrorCode::MediaDirMissing,
            format!("{} does not exist.", dir.display()),
        )),
        Err(e) => Err(Error::new(
            ErrorCode::MediaUnreadable,
            format!("Cannot read {}: {e}", dir.display()),
        )),
    }
}

/// Walks the tree without following symlinks; an unreadable entry fails with its path named.
pub async fn stats(dir: &Path) -> Result<MediaStats> {
    check_dir(dir)?;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stats = MediaStats {
            file_count: 0,
            total_bytes: 0,
        };
        for entry in walkdir::WalkDir::new(&dir).follow_links(false) {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&dir).display().to_string();
                Error::new(
                    ErrorCode::MediaUnreadable,
                    format!("Cannot read {path}: {e}"),
                )
            })?;
            let kind = entry.file_type();
            if kind.is_file() || kind.is_symlink() {
                stats.file_count += 1;
            }
            if kind.is_file() {
                stats.total_bytes += entry
                    .metadata()
                    .map_err(|e| {
                        Error::new(
                            ErrorCode::MediaUnreadable,
                            format!("Cannot read {}: {e}", entry.path().display()),
                        )
                    })?
                    .len();
            }
        }
        Ok(stats)
    })
    .await
    .map_err(|e| Error::new(ErrorCode::Internal, format!("Media scan failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn counts_files_and_bytes_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/empty")).unwrap();
        std::fs::write(root.join("a/one.txt"), b"hello").unwrap();
        std::fs::write(root.join("zero"), b"").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        let s = stats(root).await.unwrap();
        assert_eq!((s.file_count, s.total_bytes), (3, 5));
    }

    #[tokio::test]
    async fn missing_and_non_directories_have_their_own_codes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(
            stats(&dir.path().join("nope")).await.unwrap_err().code,
            ErrorCode::MediaDirMissing
        );
        assert_eq!(
            stats(&file).await.unwrap_err().code,
            ErrorCode::MediaNotADirectory
        );
    }
}
