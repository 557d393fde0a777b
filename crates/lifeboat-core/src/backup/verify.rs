//! Verification: read every artifact of a backup back from storage, decrypt and decompress it,
//! and check it against the manifest — SHA-256s and sizes, the dump's table of contents
//! (`pg_restore --list`), and every media file against the media manifest. The read path here
//! is the one restores and downloads build on.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use super::artifact::ArtifactInfo;
use super::manifest::BackupManifest;
use super::media::{MediaEntryKind, MediaManifest, MANIFEST_NAME, MEDIA_DIR};
use super::BackupRecord;
use crate::error::{Error, ErrorCode, Result};
use crate::lifeboat::Lifeboat;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VerifyCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VerifyReport {
    pub backup_id: String,
    pub ok: bool,
    pub verified_at: String,
    pub checks: Vec<VerifyCheck>,
}

impl Lifeboat {
    /// Verifies a backup and records the outcome on it.
    pub async fn verify_backup(&self, backup_id: &str) -> Result<VerifyReport> {
        let record = self.catalog().backup(backup_id).await?;
        let target = self.catalog().target(&record.target_id).await?;
        let storage = self.target_storage(&target).await?;
        let identity = self
            .recovery_identity_for(&record.manifest.encryption.recipient)
            .await?;
        let mut checks = Vec::new();
        if let Some(db) = &record.manifest.database {
            let pg_restore = pg_restore_for(self, &record.manifest).await;
            let (size, source) = storage.reader(&artifact_key(&record, &db.artifact)).await?;
            let info = db.artifact.clone();
            let identity = identity.clone();
            checks.extend(
                blocking(move || {
                    let source = tokio_util::io::SyncIoBridge::new(source);
                    check_artifact("database", source, size, &info, &identity, |plain| {
                        list_dump(plain, pg_restore.as_deref())
                    })
                })
                .await?,
            );
        }
        if let Some(media) = &record.manifest.media {
            let (size, source) = storage
                .reader(&artifact_key(&record, &media.artifact))
                .await?;
            let info = media.artifact.clone();
            let identity = identity.clone();
            checks.extend(
                blocking(move || {
                    let source = tokio_util::io::SyncIoBridge::new(source);
                    check_artifact("media", source, size, &info, &identity, check_media_archive)
                })
                .await?,
            );
        }
        let report = VerifyReport {
            backup_id: record.id.clone(),
            ok: checks.iter().all(|c| c.ok),
            verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            checks,
        };
        self.catalog().set_verification(&record.id, &report).await?;
        Ok(report)
    }
}

fn artifact_key(record: &BackupRecord, artifact: &ArtifactInfo) -> String {
    format!("{}/{}", record.storage_dir, artifact.name)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        Error::new(
            ErrorCode::Internal,
            format!("The verification worker failed: {e}"),
        )
    })
}

/// A pg_restore at least as new as the pg_dump that made the dump.
async fn pg_restore_for(
    lifeboat: &Lifeboat,
    manifest: &BackupManifest,
) -> Option<std::path::PathBuf> {
    let needed: u32 = manifest
        .database
        .as_ref()?
        .pg_dump_version
        .split('.')
        .next()?
        .parse()
        .ok()?;
    let configured = lifeboat.settings().await.ok()?.pg_bin_dir;
    let tools = crate::postgres::tools::find_pg_dumps(configured.as_deref().map(Path::new)).await;
    let tool = crate::postgres::tools::choose_pg_dump(&tools, needed)?;
    Some(Path::new(&tool.path).with_file_name("pg_restore"))
}

/// Counts bytes and hashes them as they are read.
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<(Sha256, u64)>>);

impl Tally {
    fn finish(&self) -> (String, u64) {
        let (hasher, bytes) = &*self.0.lock().unwrap();
        (format!("{:x}", hasher.clone().finalize()), *bytes)
    }
}

struct Tallied<R> {
    inner: R,
    tally: Tally,
}

impl<R: Read> Read for Tallied<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut t = self.tally.0.lock().unwrap();
        t.0.update(&buf[..n]);
        t.1 += n as u64;
        Ok(n)
    }
}

/// Decrypts and decompresses a stored artifact, hands the plaintext to `inspect`, and checks
/// both checksums. Returns the checks for the report.
fn check_artifact(
    label: &str,
    source: impl Read,
    stored_size: u64,
    info: &ArtifactInfo,
    identity: &age::x25519::Identity,
    inspect: impl FnOnce(&mut dyn Read) -> std::result::Result<String, String>,
) -> Vec<VerifyCheck> {
    let stored = Tally::default();
    let plain = Tally::default();
    let opened = (|| {
        let reader = BufReader::new(Tallied {
            inner: source,
            tally: stored.clone(),
        });
        let decryptor =
            age::Decryptor::new_buffered(reader).map_err(|e| format!("not an age file ({e})"))?;
        let decrypted = decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .map_err(|e| format!("cannot decrypt ({e})"))?;
        let decoder = zstd::Decoder::new(decrypted).map_err(|e| format!("not zstd ({e})"))?;
        let mut reader = Tallied {
            inner: decoder,
            tally: plain.clone(),
        };
        let inspected = inspect(&mut reader);
        // Whatever `inspect` left unread still counts for the checksums.
        io::copy(&mut reader, &mut io::sink())
            .map_err(|e| format!("the stream is damaged ({e})"))?;
        inspected
    })();
    let (stored_sha, stored_bytes) = stored.finish();
    let (plain_sha, plain_bytes) = plain.finish();
    let checksum_ok = stored_size == info.stored_bytes
        && stored_sha == info.stored_sha256
        && plain_sha == info.plaintext_sha256
        && plain_bytes == info.plaintext_bytes;
    let checksum = VerifyCheck {
        name: format!("{label} checksums"),
        ok: checksum_ok,
        detail: if checksum_ok {
            format!(
                "{} stored, {} plaintext bytes match the manifest",
                stored_bytes, plain_bytes
            )
        } else {
            format!(
                "stored {stored_bytes} bytes sha256 {stored_sha} (manifest: {} bytes {}); plaintext {plain_bytes} bytes sha256 {plain_sha} (manifest: {} bytes {})",
                info.stored_bytes, info.stored_sha256, info.plaintext_bytes, info.plaintext_sha256
            )
        },
    };
    let content = match opened {
        Ok(detail) => VerifyCheck {
            name: format!("{label} contents"),
            ok: true,
            detail,
        },
        Err(detail) => VerifyCheck {
            name: format!("{label} contents"),
            ok: false,
            detail,
        },
    };
    vec![checksum, content]
}

/// Feeds the dump to `pg_restore --list` and reports how many entries it read.
fn list_dump(
    plain: &mut dyn Read,
    pg_restore: Option<&Path>,
) -> std::result::Result<String, String> {
    let pg_restore = pg_restore.ok_or("no pg_restore new enough for this dump is installed")?;
    let mut child = Command::new(pg_restore)
        .arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", pg_restore.display()))?;
    let mut stdin = child.stdin.take();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = plain
            .read(&mut buf)
            .map_err(|e| format!("the stream is damaged ({e})"))?;
        if n == 0 {
            break;
        }
        // pg_restore --list stops reading once it has the table of contents.
        if stdin
            .as_mut()
            .is_some_and(|s| s.write_all(&buf[..n]).is_err())
        {
            stdin = None;
        }
    }
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "pg_restore --list failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let entries = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(';'))
        .count();
    Ok(format!("pg_restore --list read {entries} entries"))
}

/// Walks the media tar: every path stays inside the archive's root, and every file's SHA-256
/// matches the media manifest stored at the end of the same archive (and vice versa).
fn check_media_archive(plain: &mut dyn Read) -> std::result::Result<String, String> {
    let mut archive = tar::Archive::new(plain);
    let mut seen: BTreeMap<String, (MediaEntryKind, Option<String>)> = BTreeMap::new();
    let mut listing: Option<MediaManifest> = None;
    for entry in archive
        .entries()
        .map_err(|e| format!("not a tar archive ({e})"))?
    {
        let mut entry = entry.map_err(|e| format!("damaged tar entry ({e})"))?;
        let path = entry
            .path()
            .map_err(|e| format!("unreadable entry name ({e})"))?
            .into_owned();
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!("unsafe entry path {}", path.display()));
        }
        let name = path.to_string_lossy().into_owned();
        if name == MANIFEST_NAME {
            let mut text = Vec::new();
            entry.read_to_end(&mut text).map_err(|e| e.to_string())?;
            listing = Some(
                serde_json::from_slice(&text)
                    .map_err(|e| format!("unreadable media manifest ({e})"))?,
            );
            continue;
        }
        let relative = name
            .strip_prefix(&format!("{MEDIA_DIR}/"))
            .ok_or_else(|| format!("entry {name} is outside {MEDIA_DIR}/"))?
            .trim_end_matches('/')
            .to_owned();
        let kind = entry.header().entry_type();
        let value = if kind.is_file() {
            let mut hasher = Sha256::new();
            io::copy(&mut entry, &mut HashWriter(&mut hasher)).map_err(|e| e.to_string())?;
            (
                MediaEntryKind::File,
                Some(format!("{:x}", hasher.finalize())),
            )
        } else if kind.is_dir() {
            (MediaEntryKind::Directory, None)
        } else if kind.is_symlink() {
            (MediaEntryKind::Symlink, None)
        } else {
            return Err(format!("unexpected entry type for {relative}"));
        };
        seen.insert(relative, value);
    }
    let listing = listing.ok_or("the archive has no media manifest")?;
    let listed: BTreeMap<String, (MediaEntryKind, Option<String>)> = listing
        .entries
        .into_iter()
        .map(|e| (e.path, (e.kind, e.sha256)))
        .collect();
    if let Some((path, _)) = listed
        .iter()
        .find(|(path, want)| seen.get(*path) != Some(want))
    {
        return Err(format!("{path} does not match the media manifest"));
    }
    if let Some(path) = seen.keys().find(|p| !listed.contains_key(*p)) {
        return Err(format!(
            "{path} is in the archive but not in the media manifest"
        ));
    }
    let files = listed
        .values()
        .filter(|(k, _)| *k == MediaEntryKind::File)
        .count();
    Ok(format!(
        "{} entries, {files} files match the media manifest",
        listed.len()
    ))
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
