//! Restoring a media archive without ever leaving the destination half-restored: extract into a
//! staging directory beside it (same filesystem), check every file against the manifest, flush
//! it to disk, then swap with two renames. The directory it replaces is kept until the swap has
//! succeeded.
//!
//! Names beside the destination `<parent>/<name>`, for job `<job>`:
//! `.<name>.lifeboat-restore-<job>` (staging) and `.<name>.lifeboat-replaced-<job>` (the old
//! directory during the swap). `recover` puts either right after a crash.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::disk::write_error;
use crate::error::{Error, ErrorCode, Result};
pub use crate::model::restore::MediaRestoreSummary;
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::media::MediaEntryKind;
use lifeboat_format::media_reader::{self, FileHashes};
use lifeboat_format::read::ArtifactReader;

struct Paths {
    dest: PathBuf,
    staging: PathBuf,
    replaced: PathBuf,
}

impl Paths {
    fn new(dest: &Path, job_id: &str) -> Result<Self> {
        // A destination that is a symlink is swapped where it points, keeping the link.
        let dest = fs::canonicalize(dest).unwrap_or_else(|_| dest.to_path_buf());
        let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(Error::validation(
                "media",
                format!("{} cannot be restored into.", dest.display()),
            ));
        };
        let name = name.to_string_lossy();
        Ok(Self {
            staging: parent.join(format!(".{name}.lifeboat-restore-{job_id}")),
            replaced: parent.join(format!(".{name}.lifeboat-replaced-{job_id}")),
            dest,
        })
    }
}

/// A fully extracted and checked media tree waiting to be swapped in; dropping it removes it.
pub struct StagedMedia {
    paths: Paths,
    files: u64,
    bytes: u64,
    swapped: bool,
}

pub fn stage(
    mut plain: ArtifactReader,
    info: &ArtifactInfo,
    dest: &Path,
    job_id: &str,
    cancel: &CancellationToken,
) -> Result<StagedMedia> {
    let paths = Paths::new(dest, job_id)?;
    let parent = paths.staging.parent().expect("staging has a parent");
    fs::create_dir_all(parent).map_err(|e| write_error(&e, &parent.display().to_string()))?;
    fs::create_dir(&paths.staging).map_err(|e| write_error(&e, "the staging directory"))?;
    let mut staged = StagedMedia {
        paths,
        files: 0,
        bytes: 0,
        swapped: false,
    };
    let root = staged.paths.staging.clone();
    let mut links = Vec::new();
    let mut dirs = Vec::new();
    let mut failure: Option<Error> = None;
    let hashes = FileHashes::of(&plain);
    let walked = media_reader::walk(&mut plain, hashes, |entry| {
        if cancel.is_cancelled() {
            failure = Some(Error::cancelled());
            return Err("cancelled".into());
        }
        let path = root.join(&entry.relative);
        let written = match entry.kind {
            MediaEntryKind::Directory => fs::create_dir_all(&path)
                .map(|_| None)
                .map_err(|e| write_error(&e, &path.display().to_string())),
            MediaEntryKind::Symlink => {
                // Links are made last, so nothing is ever written through one.
                links.push((
                    path,
                    entry.link_target.clone().expect("symlinks have targets"),
                ));
                return Ok(None);
            }
            MediaEntryKind::File => write_file(&path, entry.body, entry.mode, entry.mtime, hashes)
                .map(|(sha, size)| {
                    staged.files += 1;
                    staged.bytes += size;
                    sha
                }),
        };
        if entry.kind == MediaEntryKind::Directory {
            dirs.push((path, entry.mode, entry.mtime));
        }
        written.map_err(|e| {
            let message = e.to_string();
            failure = Some(e);
            message
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    walked.map_err(|detail| refused(&detail))?;
    plain.finish(info).map_err(|e| {
        Error::new(
            ErrorCode::ChecksumMismatch,
            format!("The media artifact does not match its manifest, so nothing was restored: {e}"),
        )
    })?;
    for (path, target) in links {
        std::os::unix::fs::symlink(&target, &path)
            .map_err(|e| write_error(&e, &path.display().to_string()))?;
    }
    // Deepest first, so setting a directory's time is not undone by filling it.
    dirs.sort_by_key(|(path, _, _)| std::cmp::Reverse(path.components().count()));
    for (path, mode, mtime) in dirs {
        set_mode_and_time(&path, mode, mtime);
    }
    set_mode_and_time(&staged.paths.staging, 0o755, now_secs());
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    Ok(staged)
}

/// The error for an archive `media_reader::walk` refused: unsafe, or damaged.
pub(super) fn refused(detail: &str) -> Error {
    let code = if detail.starts_with("unsafe entry")
        || detail.contains("outside")
        || detail.starts_with("unexpected entry type")
    {
        ErrorCode::UnsafeArchive
    } else {
        ErrorCode::ArtifactCorrupt
    };
    Error::new(
        code,
        format!("The media archive was refused, so nothing was restored: {detail}."),
    )
}

fn write_file(
    path: &Path,
    body: &mut dyn std::io::Read,
    mode: u32,
    mtime: u64,
    hashes: FileHashes,
) -> Result<(Option<String>, u64)> {
    let shown = path.display().to_string();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    // Its directory is usually there already (an archive lists directories before their
    // files): made only when missing, not checked once per file.
    let opened = match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| write_error(&e, &shown))?;
            }
            options.open(path)
        }
        opened => opened,
    };
    let mut file = opened.map_err(|e| write_error(&e, &shown))?;
    let mut counted = CountingWriter {
        inner: &mut file,
        bytes: 0,
    };
    let sha = media_reader::copy(body, &mut counted, hashes).map_err(|detail| {
        Error::new(
            ErrorCode::ArtifactCorrupt,
            format!("Restoring {shown} failed: {detail}"),
        )
    })?;
    let size = counted.bytes;
    file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
        .ok();
    file.set_permissions(permission_bits(mode)).ok();
    Ok((sha, size))
}

struct CountingWriter<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: std::io::Write> std::io::Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Permission bits only: a restore never recreates setuid or setgid files.
fn permission_bits(mode: u32) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(mode & 0o777)
}

fn set_mode_and_time(path: &Path, mode: u32, mtime: u64) {
    fs::set_permissions(path, permission_bits(mode | 0o700)).ok();
    if let Ok(dir) = fs::File::open(path) {
        dir.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
            .ok();
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl StagedMedia {
    pub fn files(&self) -> u64 {
        self.files
    }

    /// Writes the staged tree to disk, as it must be before the swap makes it the media: one
    /// flush (`syncfs`) for every file staged, not one per file.
    pub fn flush(&self) -> Result<()> {
        crate::disk::sync_filesystem(&self.paths.staging)
            .map_err(|e| write_error(&e, &self.paths.staging.display().to_string()))
    }

    /// The point of no return for media: the staged tree takes the destination's name. The
    /// replaced directory is removed, or kept as `<dir>.before-restore-<time>`.
    pub fn swap(mut self, keep_replaced: bool) -> Result<MediaRestoreSummary> {
        let Paths {
            dest,
            staging,
            replaced,
        } = &self.paths;
        let had_dest = dest.exists();
        if had_dest {
            fs::rename(dest, replaced).map_err(|e| {
                Error::new(
                    ErrorCode::Io,
                    format!(
                        "Cannot move {} aside to swap in the restored media: {e}",
                        dest.display()
                    ),
                )
            })?;
        }
        if let Err(e) = fs::rename(staging, dest) {
            if had_dest {
                fs::rename(replaced, dest).ok();
            }
            return Err(Error::new(
                ErrorCode::Io,
                format!(
                    "Cannot swap in the restored media at {}: {e}",
                    dest.display()
                ),
            ));
        }
        self.swapped = true;
        // The renames on disk before the replaced tree is removed: a crash then finds either
        // tree in place, never neither.
        if let Some(parent) = dest.parent() {
            if let Err(e) = fs::File::open(parent).and_then(|dir| dir.sync_all()) {
                tracing::warn!("could not flush {}: {e}", parent.display());
            }
        }
        let mut kept_copy = None;
        if had_dest {
            if keep_replaced {
                let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
                let kept = PathBuf::from(format!("{}.before-restore-{stamp}", dest.display()));
                match fs::rename(replaced, &kept) {
                    Ok(()) => kept_copy = Some(kept.display().to_string()),
                    Err(e) => {
                        tracing::warn!("the replaced media stays at {}: {e}", replaced.display())
                    }
                }
            } else if let Err(e) = fs::remove_dir_all(replaced) {
                tracing::warn!(
                    "could not remove the replaced media {}: {e}",
                    replaced.display()
                );
            }
        }
        Ok(MediaRestoreSummary {
            directory: dest.display().to_string(),
            files: self.files,
            bytes: self.bytes,
            kept_copy,
            written: None,
            deleted: None,
        })
    }
}

impl Drop for StagedMedia {
    fn drop(&mut self) {
        if !self.swapped {
            if let Err(e) = fs::remove_dir_all(&self.paths.staging) {
                tracing::warn!(
                    "could not remove the staging directory {}: {e}",
                    self.paths.staging.display()
                );
            }
        }
    }
}

/// Puts a destination right after a restore that was cut off: removes its staging directory,
/// and if the swap was interrupted between its two renames, moves the old directory back.
pub fn recover(dest: &Path, job_id: &str) -> Result<()> {
    let paths = Paths::new(dest, job_id)?;
    if paths.staging.exists() {
        fs::remove_dir_all(&paths.staging)?;
    }
    if paths.replaced.exists() {
        if paths.dest.exists() {
            fs::remove_dir_all(&paths.replaced)?;
        } else {
            fs::rename(&paths.replaced, &paths.dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_cut_off_between_its_renames_is_put_back_at_the_next_start() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("media");
        let replaced = parent.path().join(".media.lifeboat-replaced-job1");
        let staging = parent.path().join(".media.lifeboat-restore-job1");
        std::fs::create_dir(&replaced).unwrap();
        std::fs::write(replaced.join("kept.txt"), b"the original").unwrap();
        std::fs::create_dir(&staging).unwrap();

        recover(&dest, "job1").unwrap();
        assert_eq!(
            std::fs::read(dest.join("kept.txt")).unwrap(),
            b"the original"
        );
        assert!(!replaced.exists() && !staging.exists());
    }
}
