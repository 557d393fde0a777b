//! An environment's media source: a directory of user-uploaded files, on this machine or on
//! the environment's server (read there by `find` and `tar`, over SSH).

use std::path::Path;

use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, ErrorCode, Result};
use crate::ssh::{quote, SshSession};

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

/// A media directory on the environment's server, as the user gave it: a relative path is
/// relative to the SSH user's home, as with scp.
pub struct ServerDir<'a> {
    pub session: &'a SshSession,
    pub dir: &'a str,
}

/// Exit codes of `ServerDir::script` for a directory that is missing or is not one.
const MISSING: i32 = 3;
const NOT_A_DIRECTORY: i32 = 4;

impl ServerDir<'_> {
    /// `then` run on the server with `$d` set to the directory, once it is known to be one.
    fn script(&self, then: &str) -> String {
        // A name starting with "-" would be read as an option by find and tar.
        let dir = if self.dir.starts_with('-') {
            format!("./{}", self.dir)
        } else {
            self.dir.to_owned()
        };
        format!(
            "d={}; [ -e \"$d\" ] || exit {MISSING}; [ -d \"$d\" ] || exit {NOT_A_DIRECTORY}; {then}",
            quote(&dir)
        )
    }

    /// The error for a script that exited with `code`, having said `stderr`.
    pub fn failure(&self, code: Option<i32>, stderr: &str) -> Error {
        Self::failure_at(self.session.server(), self.dir, code, stderr)
    }

    /// `failure`, for where no session is at hand (a blocking thread given only the command).
    pub fn failure_at(server: &str, dir: &str, code: Option<i32>, stderr: &str) -> Error {
        let at = format!("{dir} on {server}");
        match code {
            Some(MISSING) => {
                Error::new(ErrorCode::MediaDirMissing, format!("{at} does not exist."))
            }
            Some(NOT_A_DIRECTORY) => Error::new(
                ErrorCode::MediaNotADirectory,
                format!("{at} is not a directory."),
            ),
            _ => {
                let mut e = Error::new(
                    ErrorCode::MediaUnreadable,
                    format!(
                        "Cannot read all of {at}: {}",
                        crate::postgres::client::last_lines(stderr)
                    ),
                );
                e.detail = Some(stderr.to_owned()).filter(|s| !s.is_empty());
                e
            }
        }
    }

    /// Counts the files and bytes as `stats` does, by `find` on the server.
    pub async fn stats(&self) -> Result<MediaStats> {
        let script = self.script(
            "find \"$d\" -mindepth 1 \\( -type f -printf 'f %s\\n' \\) -o \\( -type l -printf 'l 0\\n' \\)",
        );
        let output = tokio::process::Command::from(self.session.command(&script))
            .stdin(std::process::Stdio::null())
            .output()
            .await?;
        if !output.status.success() {
            return Err(self.failure(
                output.status.code(),
                &String::from_utf8_lossy(&output.stderr),
            ));
        }
        let mut stats = MediaStats {
            file_count: 0,
            total_bytes: 0,
        };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            stats.file_count += 1;
            stats.total_bytes += line
                .split_once(' ')
                .and_then(|(_, size)| size.parse::<u64>().ok())
                .unwrap_or(0);
        }
        Ok(stats)
    }

    /// `tar` on the server writing the tree to its standard output, in name order, hard links
    /// as the files they are (the archive holds files, directories and symlinks only).
    pub fn tar(&self) -> std::process::Command {
        self.session
            .command(&self.script("exec tar -cf - --sort=name --hard-dereference -C \"$d\" ."))
    }

    /// `find` on the server listing the tree (`lifeboat_format::media::LISTING`), so a
    /// deduplicated backup sees which files changed before any is sent.
    pub fn list(&self) -> std::process::Command {
        self.session.command(&self.script(&format!(
            "exec find \"$d\" -mindepth 1 -printf '{}'",
            lifeboat_format::media::LISTING
        )))
    }

    /// `tar` on the server writing just the files named on its standard input (each ended by
    /// a NUL, relative to the directory), in that order, as `tar` writes them.
    pub fn tar_named(&self) -> std::process::Command {
        self.session.command(&self.script(
            "cd \"$d\" && exec tar -cf - --hard-dereference --no-recursion --null --verbatim-files-from -T -",
        ))
    }
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
