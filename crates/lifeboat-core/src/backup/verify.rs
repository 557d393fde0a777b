//! Verification: read every artifact of a backup back from storage, decrypt and decompress it,
//! and check it against the manifest — SHA-256s and sizes, the dump's table of contents
//! (`pg_restore --list`), and every media file against the media manifest. The read path here
//! is the one restores and downloads build on.

use std::io::Read;
use std::path::Path;

use super::artifact::ArtifactInfo;
use super::BackupRecord;
use crate::error::Result;
use crate::lifeboat::Lifeboat;
pub use crate::model::verify::VerifyCheck;
pub use crate::model::verify::VerifyReport;
use crate::running::blocking;
use lifeboat_format::media::MediaEntryKind;
use lifeboat_format::media_reader;
use lifeboat_format::read::{ArtifactReader, FinishError};

impl Lifeboat {
    /// Verifies a backup and records the outcome on it.
    pub async fn verify_backup(&self, backup_id: &str) -> Result<VerifyReport> {
        let crate::restore::Source {
            record,
            storage,
            identity,
        } = self.source(backup_id).await?;
        let (storage, record, identity) = (&storage, &record, &identity);
        let mut checks = Vec::new();
        if let Some(db) = &record.manifest.database {
            let needed = crate::restore::major_of(&db.pg_dump_version);
            let pg_restore = pg_restore_for(self, needed).await;
            checks.extend(
                check_stored(
                    storage,
                    record,
                    identity,
                    "database",
                    &db.artifact,
                    Box::new(move |plain| list_dump(plain, pg_restore.as_deref())),
                )
                .await?,
            );
        }
        if let Some(globals) = &record.manifest.globals {
            let expected = globals.roles;
            checks.extend(
                check_stored(
                    storage,
                    record,
                    identity,
                    "roles",
                    &globals.artifact,
                    Box::new(move |plain| check_globals(plain, expected)),
                )
                .await?,
            );
        }
        if let Some(media) = &record.manifest.media {
            checks.extend(
                check_stored(
                    storage,
                    record,
                    identity,
                    "media",
                    &media.artifact,
                    Box::new(check_media_archive),
                )
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
    lifeboat_format::layout::object_key(&record.storage_dir, &artifact.name)
}

/// What looks inside an artifact's plaintext while its checksums are checked.
type Inspect = Box<dyn FnOnce(&mut dyn Read) -> std::result::Result<String, String> + Send>;

/// Reads one stored artifact to the end and returns its checks.
async fn check_stored(
    storage: &crate::storage::Storage,
    record: &BackupRecord,
    identity: &age::x25519::Identity,
    label: &'static str,
    artifact: &ArtifactInfo,
    inspect: Inspect,
) -> Result<Vec<VerifyCheck>> {
    // Verifying is not a cancellable job (yet): its reads run to the end.
    let never = tokio_util::sync::CancellationToken::new();
    // An artifact that cannot be read is a failed verification, recorded as one: the backup
    // must not keep looking verified.
    let (size, source) = match storage
        .reader(&artifact_key(record, artifact), &never)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            return Ok(vec![VerifyCheck {
                name: format!("{label} read"),
                ok: false,
                detail: format!("{} cannot be read: {}", artifact.name, e.message),
            }])
        }
    };
    let (info, identity) = (artifact.clone(), identity.clone());
    blocking(move || {
        let source = tokio_util::io::SyncIoBridge::new(source);
        Ok(check_artifact(
            label, source, size, &info, &identity, inspect,
        ))
    })
    .await
}

/// A pg_restore at least as new as the pg_dump that made the dump (major `needed`).
pub(crate) async fn pg_restore_for(lifeboat: &Lifeboat, needed: u32) -> Option<std::path::PathBuf> {
    let configured = lifeboat.settings().await.ok()?.pg_bin_dir;
    let tools = crate::postgres::tools::find_pg_dumps(configured.as_deref().map(Path::new)).await;
    let tool = crate::postgres::tools::choose_pg_dump(&tools, needed)?;
    Some(Path::new(&tool.path).with_file_name("pg_restore"))
}

/// Decrypts and decompresses a stored artifact, hands the plaintext to `inspect`, and checks
/// both checksums. Returns the checks for the report.
fn check_artifact(
    label: &str,
    source: impl Read + Send + 'static,
    stored_size: u64,
    info: &ArtifactInfo,
    identity: &age::x25519::Identity,
    inspect: impl FnOnce(&mut dyn Read) -> std::result::Result<String, String>,
) -> Vec<VerifyCheck> {
    let (content, checksum) = match ArtifactReader::open(source, stored_size, identity) {
        Err(e) => (Err(e.to_string()), Err(format!("not checked: {e}"))),
        Ok(mut reader) => {
            let inspected = inspect(&mut reader);
            match reader.finish(info) {
                Ok(totals) => (
                    inspected,
                    Ok(format!(
                        "{} stored, {} plaintext bytes match the manifest",
                        totals.stored_bytes, totals.plaintext_bytes
                    )),
                ),
                Err(e @ FinishError::Damaged(_)) => {
                    (inspected.and(Err(e.to_string())), Err(e.to_string()))
                }
                Err(e) => (inspected, Err(e.to_string())),
            }
        }
    };
    let check = |name: &str, outcome: std::result::Result<String, String>| {
        let ok = outcome.is_ok();
        VerifyCheck {
            name: format!("{label} {name}"),
            ok,
            detail: outcome.unwrap_or_else(|e| e),
        }
    };
    vec![check("checksums", checksum), check("contents", content)]
}

/// Feeds the whole dump to `pg_restore --list` and reports how many entries it read.
fn list_dump(
    plain: &mut dyn Read,
    pg_restore: Option<&Path>,
) -> std::result::Result<String, String> {
    let pg_restore = pg_restore.ok_or("no pg_restore new enough for this dump is installed")?;
    let never = tokio_util::sync::CancellationToken::new();
    let listing =
        crate::restore::toc::list(pg_restore, plain, true, &never).map_err(|e| e.to_string())?;
    let entries = crate::restore::toc::Toc::parse(&listing).entries.len();
    Ok(format!("pg_restore --list read {entries} entries"))
}

/// The roles artifact is the SQL the manifest counted roles in.
fn check_globals(plain: &mut dyn Read, expected: u64) -> std::result::Result<String, String> {
    let mut sql = Vec::new();
    plain
        .take(super::database::GLOBALS_LIMIT + 1)
        .read_to_end(&mut sql)
        .map_err(|e| format!("the stream is damaged ({e})"))?;
    if sql.len() as u64 > super::database::GLOBALS_LIMIT {
        return Err("larger than a roles artifact can be".into());
    }
    let roles = super::database::count_roles(&sql);
    if roles != expected {
        return Err(format!("{roles} roles, but the manifest says {expected}"));
    }
    Ok(format!("{roles} roles"))
}

/// Walks the media tar: every path stays inside the archive's root, and every file's SHA-256
/// matches the media manifest stored at the end of the same archive (and vice versa).
fn check_media_archive(plain: &mut dyn Read) -> std::result::Result<String, String> {
    let listing = media_reader::walk(plain, |entry| match entry.kind {
        MediaEntryKind::File => media_reader::hash(entry.body).map(Some),
        _ => Ok(None),
    })?;
    let files = listing
        .entries
        .iter()
        .filter(|e| e.kind == MediaEntryKind::File)
        .count();
    Ok(format!(
        "{} entries, {files} files match the media manifest",
        listing.entries.len()
    ))
}
