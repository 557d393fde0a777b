//! Prepared downloads: a backup's dump and media tar, decrypted and decompressed into a local
//! folder, with a `SHA256SUMS` beside them so stock `sha256sum -c` checks them. Files are
//! written as `<name>.part` (mode 0600: they hold user data) and take their final name only
//! once their checksum matched the manifest; a failed or cancelled download leaves nothing.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::disk::{ensure_space, write_error};
use crate::error::{Error, ErrorCode, Result};
use crate::jobs::{Job, JobOutcome, JobRequest, Lane};
use crate::model::backup::BackupRecord;
pub use crate::model::download::DownloadRequest;
pub use crate::model::download::DownloadSummary;
pub use crate::model::download::DownloadedFile;
use crate::repository::Plaintext;
use crate::running::{blocking, finished, produced, JobSpec};
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::read::ArtifactReader;

pub const SUMS_FILE: &str = "SHA256SUMS";

/// One artifact to write: where it comes from and the name it gets.
struct Planned {
    artifact: ArtifactInfo,
    name: String,
}

impl Context {
    pub async fn start_download(&self, request: &DownloadRequest) -> Result<Job> {
        Ok(self.spawn_download(request).await?.0)
    }

    pub async fn download(&self, request: &DownloadRequest) -> Result<DownloadSummary> {
        finished(self.spawn_download(request).await?.1).await
    }

    pub async fn list_downloads(&self) -> Result<Vec<Job>> {
        self.catalog().jobs_of_kind("download").await
    }

    async fn spawn_download(
        &self,
        request: &DownloadRequest,
    ) -> Result<(Job, tokio::task::JoinHandle<Result<DownloadSummary>>)> {
        let record = self.catalog().backup(&request.backup_id).await?;
        let planned = plan(&record, request)?;
        let dir = PathBuf::from(&request.directory);
        if !dir.is_dir() {
            return Err(Error::validation(
                "directory",
                format!("{} is not a folder.", dir.display()),
            ));
        }
        let needed = planned.iter().map(|p| p.artifact.plaintext_bytes).sum();
        ensure_space(&dir, needed)?;
        let spec: JobSpec<DownloadSummary> = JobSpec {
            environment_id: record.manifest.environment.id.clone(),
            // Downloads never block backups or restores, nor each other.
            lane: Lane::Own,
            request: JobRequest::Download(request.clone()),
            record: |outcome| produced(outcome, JobOutcome::Download),
        };
        self.start_job(spec, move |this, job_id, cancel| async move {
            // Progress counts stored bytes read, so the total is in stored bytes too.
            let stored = planned.iter().map(|p| p.artifact.stored_bytes).sum();
            this.run_download(&job_id, &record, &dir, planned, stored, &cancel)
                .await
        })
        .await
    }

    /// A download cut off by a crash: its `.part` files removed.
    pub(crate) async fn repair_interrupted_download(&self, local: &str) -> Result<()> {
        let local = local.to_owned();
        blocking(move || {
            remove_partials(&local);
            Ok(())
        })
        .await
    }

    async fn run_download(
        &self,
        job_id: &str,
        record: &BackupRecord,
        dir: &Path,
        planned: Vec<Planned>,
        bytes_total: u64,
        cancel: &CancellationToken,
    ) -> Result<DownloadSummary> {
        let backup = self.open_backup(&record.id).await?;
        let names = free_names(dir, &planned)?;
        // Recorded so a crash's `.part` files are removed at the next start.
        let partials: Vec<String> = names
            .iter()
            .chain(std::iter::once(&names.sums))
            .map(|n| part_path(dir, n).display().to_string())
            .collect();
        self.catalog()
            .set_job_local_dir(
                job_id,
                Some(&serde_json::to_string(&partials).unwrap_or_default()),
            )
            .await?;
        self.set_phase(job_id, "downloading", bytes_total, true)
            .await?;
        let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let ticker = self.report_progress(job_id, bytes_total, progress.clone());
        let mut written = Written::default();
        let mut outcome = Ok(());
        for (plan, name) in planned.iter().zip(names.iter()) {
            let reader = match backup
                .open(&plan.artifact, &progress, cancel, Plaintext::Hashed)
                .await
            {
                Ok(reader) => reader,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            let (info, path, cancel) = (plan.artifact.clone(), dir.join(name), cancel.clone());
            let result = blocking(move || write_artifact(reader, &info, &path, &cancel)).await;
            match result {
                Ok(file) => written.files.push(file),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        drop(ticker);
        let finished = match outcome {
            Ok(()) => {
                let sums = dir.join(&names.sums);
                let files = written.files.clone();
                blocking(move || write_sums(&sums, &files)).await
            }
            Err(e) => Err(e),
        };
        let summary = match finished {
            Ok(sums) => {
                written.files.push(sums);
                Ok(DownloadSummary {
                    backup_id: record.id.clone(),
                    directory: dir.display().to_string(),
                    files: written.files.clone(),
                })
            }
            Err(e) => {
                written.remove();
                Err(e)
            }
        };
        self.catalog().set_job_local_dir(job_id, None).await?;
        summary
    }
}

fn plan(record: &BackupRecord, request: &DownloadRequest) -> Result<Vec<Planned>> {
    if !request.database && !request.media {
        return Err(Error::validation(
            "what",
            "Choose the database, the media or both.",
        ));
    }
    let manifest = &record.manifest;
    let stamp = chrono::DateTime::parse_from_rfc3339(&manifest.created_at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| manifest.backup_id.clone());
    let stem = format!(
        "{}-{}-{stamp}",
        manifest.application.name, manifest.environment.name
    );
    let mut planned = Vec::new();
    if request.database {
        let part = manifest
            .database
            .as_ref()
            .ok_or_else(|| Error::validation("database", "This backup has no database."))?;
        planned.push(Planned {
            artifact: part.artifact.clone(),
            name: format!("{stem}.dump"),
        });
        // The roles go with the dump: a new, empty server needs them to take its owners.
        if let Some(globals) = &manifest.globals {
            planned.push(Planned {
                artifact: globals.artifact.clone(),
                name: format!("{stem}-roles.sql"),
            });
        }
    }
    if request.media {
        let part = manifest
            .media
            .as_ref()
            .ok_or_else(|| Error::validation("media", "This backup has no media."))?;
        planned.push(Planned {
            artifact: part.artifact.clone(),
            name: format!("{stem}-media.tar"),
        });
    }
    Ok(planned)
}

/// The names files will get: the planned ones, or with `-2`, `-3`… when any of them (or its
/// SHA256SUMS) exists already, so an earlier download is never overwritten.
struct Names {
    files: Vec<String>,
    sums: String,
}

impl Names {
    fn iter(&self) -> impl Iterator<Item = &String> {
        self.files.iter()
    }
}

fn free_names(dir: &Path, planned: &[Planned]) -> Result<Names> {
    for n in 1..1000 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let files: Vec<String> = planned
            .iter()
            .map(|p| with_suffix(&p.name, &suffix))
            .collect();
        let sums = format!("{SUMS_FILE}{suffix}");
        let taken = files
            .iter()
            .chain(std::iter::once(&sums))
            .any(|name| dir.join(name).exists() || part_path(dir, name).exists());
        if !taken {
            return Ok(Names { files, sums });
        }
    }
    Err(Error::new(
        ErrorCode::Conflict,
        format!(
            "{} already holds too many downloads of this backup.",
            dir.display()
        ),
    ))
}

/// `shop-production-….dump` + `-2` → `shop-production-…-2.dump`.
fn with_suffix(name: &str, suffix: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}{suffix}.{ext}"),
        None => format!("{name}{suffix}"),
    }
}

fn part_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.part"))
}

/// Files of this download so far, removed together if it fails.
#[derive(Default)]
struct Written {
    files: Vec<DownloadedFile>,
}

impl Written {
    fn remove(&self) {
        for file in &self.files {
            if let Err(e) = fs::remove_file(&file.path) {
                tracing::warn!("could not remove {}: {e}", file.path);
            }
        }
    }
}

/// A `.part` file that removes itself unless it was renamed to its final name.
struct PartFile {
    part: PathBuf,
    file: Option<File>,
}

impl PartFile {
    fn create(path: &Path) -> Result<Self> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let part = part_path(path.parent().unwrap_or(Path::new(".")), &name);
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&part).map_err(|e| {
            Error::new(
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    ErrorCode::DiskFull
                } else {
                    ErrorCode::Io
                },
                format!(
                    "Cannot write into {}: {e}",
                    part.parent().unwrap_or(&part).display()
                ),
            )
        })?;
        Ok(Self {
            part,
            file: Some(file),
        })
    }

    fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("open until committed")
    }

    fn commit(mut self, to: &Path) -> Result<()> {
        let file = self.file.take().expect("open until committed");
        file.sync_all()
            .map_err(|e| write_error(&e, &to.display().to_string()))?;
        drop(file);
        fs::rename(&self.part, to).map_err(|e| write_error(&e, &to.display().to_string()))?;
        self.part = PathBuf::new();
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.part.as_os_str().is_empty() {
            fs::remove_file(&self.part).ok();
        }
    }
}

fn write_artifact(
    mut reader: ArtifactReader,
    info: &ArtifactInfo,
    path: &Path,
    cancel: &CancellationToken,
) -> Result<DownloadedFile> {
    let shown = path.display().to_string();
    let mut part = PartFile::create(path)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        let read = reader.read(&mut buf);
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::new(
                    ErrorCode::ArtifactCorrupt,
                    format!("{} is damaged in storage ({e}).", info.name),
                ))
            }
        };
        part.file()
            .write_all(&buf[..n])
            .map_err(|e| write_error(&e, &shown))?;
    }
    let totals = reader.finish(info).map_err(|e| {
        Error::new(
            ErrorCode::ChecksumMismatch,
            format!("{} does not match its manifest: {e}", info.name),
        )
    })?;
    part.commit(path)?;
    Ok(DownloadedFile {
        path: shown,
        bytes: totals.plaintext_bytes,
        // Opened with `Plaintext::Hashed`: every plaintext is hashed, recorded or not.
        sha256: totals
            .plaintext_sha256
            .expect("a download's plaintext is hashed"),
    })
}

/// `<sha256>  <file name>` lines, the format `sha256sum -c` reads.
fn write_sums(path: &Path, files: &[DownloadedFile]) -> Result<DownloadedFile> {
    let text: String = files
        .iter()
        .map(|f| {
            let name = Path::new(&f.path)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            format!("{}  {name}\n", f.sha256)
        })
        .collect();
    let mut part = PartFile::create(path)?;
    part.file()
        .write_all(text.as_bytes())
        .map_err(|e| write_error(&e, &path.display().to_string()))?;
    part.commit(path)?;
    Ok(DownloadedFile {
        path: path.display().to_string(),
        bytes: text.len() as u64,
        sha256: format!("{:x}", Sha256::digest(text.as_bytes())),
    })
}

/// Removes the `.part` files of a download that was cut off (`local_dir` holds their paths).
pub(crate) fn remove_partials(recorded: &str) {
    let paths: Vec<String> = serde_json::from_str(recorded).unwrap_or_default();
    for path in paths {
        fs::remove_file(&path).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_go_before_the_extension() {
        assert_eq!(with_suffix("a-b-1.dump", "-2"), "a-b-1-2.dump");
        assert_eq!(with_suffix("a-b-1-media.tar", "-3"), "a-b-1-media-3.tar");
        assert_eq!(with_suffix("SHA256SUMS", "-2"), "SHA256SUMS-2");
    }
}
