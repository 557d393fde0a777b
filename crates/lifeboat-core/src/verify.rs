//! Verification: read every artifact of a backup back from storage, decrypt and decompress it,
//! and check it against the manifest — SHA-256s and sizes, the dump's table of contents
//! (`pg_restore --list`), the roles, and every media file against the media manifest. After a
//! deduplicated backup a lighter check runs instead, which costs a sample rather than a full
//! download: its trees read and proven, every pack it needs listed with its size, and the
//! blobs of a rotating sample of those packs read back.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::model::verify::{VerifyCheck, VerifyReport};
use crate::postgres::roles::{count_roles, GLOBALS_LIMIT};
use crate::postgres::toc;
use crate::postgres::tools::{major_of, pg_restore_for};
use crate::repository::chunks::Sample;
use crate::repository::{Plaintext, StoredBackup};
use crate::running::blocking;
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::chunked::Piece;
use lifeboat_format::media::MediaEntryKind;
use lifeboat_format::media_reader::{self, FileHashes};
use lifeboat_format::read::{ArtifactReader, FinishError};

impl Context {
    pub async fn verify_backup(&self, backup_id: &str) -> Result<VerifyReport> {
        self.verify_stored(backup_id, false, &CancellationToken::new())
            .await
    }

    /// Verifies a backup and records the outcome on it. A cancelled verification records
    /// nothing: the backup keeps the outcome it had. With `sample`, deduplicated artifacts get
    /// the light check.
    pub(crate) async fn verify_stored(
        &self,
        backup_id: &str,
        sample: bool,
        cancel: &CancellationToken,
    ) -> Result<VerifyReport> {
        let backup = self.open_backup(backup_id).await?;
        let mut sampled = Sampled::default();
        let manifest = &backup.record.manifest;
        let mut checks = Vec::new();
        // Held while the dump is listed, when it is listed on the environment's server.
        let mut _session = None;
        let database = manifest.database.as_ref();
        if let Some(db) = database.filter(|d| sample && d.artifact.chunked.is_some()) {
            checks.push(sampled.tree(&backup, "database", &db.artifact).await);
        } else if let Some(db) = database {
            let configured = self.settings().await?.pg_bin_dir;
            let needed = major_of(&db.pg_dump_version);
            let here = pg_restore_for(configured.as_deref().map(Path::new), needed).await;
            let lister = match here {
                Some(pg_restore) => {
                    let mut command = std::process::Command::new(pg_restore);
                    command.arg("--list");
                    Some(command)
                }
                None => {
                    let on_server = self
                        .pg_restore_on_server(&manifest.environment.id, needed)
                        .await;
                    on_server.map(|(session, command)| {
                        _session = Some(session);
                        command
                    })
                }
            };
            let stop = cancel.clone();
            let inspect: Inspect = Box::new(move |plain| list_dump(plain, lister, &stop));
            checks.extend(check_stored(&backup, "database", &db.artifact, inspect, cancel).await?);
        }
        if let Some(globals) = &manifest.globals {
            let expected = globals.roles;
            let inspect: Inspect = Box::new(move |plain| check_globals(plain, expected));
            checks
                .extend(check_stored(&backup, "roles", &globals.artifact, inspect, cancel).await?);
        }
        let media = manifest.media.as_ref();
        if let Some(media) = media.filter(|m| sample && m.artifact.chunked.is_some()) {
            checks.push(sampled.tree(&backup, "media", &media.artifact).await);
        } else if let Some(media) = media {
            let inspect: Inspect = Box::new(check_media_archive);
            checks.extend(check_stored(&backup, "media", &media.artifact, inspect, cancel).await?);
        }
        let light = sampled.trees > 0;
        let chunks = backup.chunks();
        let mut bad_packs = std::collections::BTreeSet::new();
        if light {
            let slot = u64::from(chrono::Datelike::ordinal(&chrono::Utc::now()));
            let found = tokio::select! {
                () = cancel.cancelled() => return Err(Error::cancelled()),
                found = chunks.check_blobs(&sampled.blobs, Sample::Slot(slot)) => found?,
            };
            let check = |name: &str, outcome: std::result::Result<String, String>| VerifyCheck {
                name: name.to_owned(),
                ok: outcome.is_ok(),
                detail: outcome.unwrap_or_else(|e| e),
            };
            checks.push(check("packs in storage", found.present));
            checks.push(check("sample read back", found.sample));
            bad_packs = found.bad_packs;
        } else if checks.iter().any(|c| !c.ok) {
            // Which packs broke it, read whole: they may break other backups too.
            let chunked = [
                manifest.database.as_ref().map(|d| &d.artifact),
                manifest.media.as_ref().map(|m| &m.artifact),
            ];
            for artifact in chunked
                .into_iter()
                .flatten()
                .filter(|a| a.chunked.is_some())
            {
                sampled.tree(&backup, "", artifact).await;
            }
            if !sampled.blobs.is_empty() {
                let found = tokio::select! {
                    () = cancel.cancelled() => return Err(Error::cancelled()),
                    found = chunks.check_blobs(&sampled.blobs, Sample::All) => found?,
                };
                bad_packs = found.bad_packs;
            }
        }
        if cancel.is_cancelled() {
            return Err(Error::cancelled());
        }
        if !bad_packs.is_empty() {
            checks.push(self.damage_found(&backup, &chunks, &bad_packs).await?);
        }
        let report = VerifyReport {
            backup_id: backup.record.id.clone(),
            ok: checks.iter().all(|c| c.ok),
            verified_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            checks,
            sampled: light,
        };
        self.catalog()
            .set_verification(&backup.record.id, &report)
            .await?;
        Ok(report)
    }
}

impl Context {
    /// Packs found missing or damaged: no backup takes their blobs again (the next one stores
    /// them anew), and every backup of this catalog they hold data of is marked as failing
    /// verification. Returns the check naming those backups.
    async fn damage_found(
        &self,
        backup: &StoredBackup,
        chunks: &crate::repository::chunks::Chunks,
        bad_packs: &std::collections::BTreeSet<String>,
    ) -> Result<VerifyCheck> {
        chunks.mark_damaged(bad_packs).await?;
        let affected = self
            .backups_in_packs(&backup.record.target_id, bad_packs)
            .await?;
        let packs: Vec<&str> = bad_packs.iter().map(String::as_str).collect();
        let detail = format!(
            "{} missing or damaged pack(s) ({}) hold data of {} backup(s), which cannot be restored whole: {}. The next backup stores that data anew.",
            packs.len(),
            packs.join(", "),
            affected.len(),
            affected.join(", ")
        );
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for id in affected.iter().filter(|id| **id != backup.record.id) {
            // A backup another catalog made is not in this one; it is named all the same.
            if self.catalog().backup(id).await.is_err() {
                continue;
            }
            let report = VerifyReport {
                backup_id: id.clone(),
                ok: false,
                verified_at: now.clone(),
                checks: vec![VerifyCheck {
                    name: "packs in storage".into(),
                    ok: false,
                    detail: format!("Found while verifying {}: {detail}", backup.record.id),
                }],
                sampled: false,
            };
            self.catalog().set_verification(id, &report).await?;
        }
        Ok(VerifyCheck {
            name: "backups affected".into(),
            ok: false,
            detail,
        })
    }

    /// A `pg_restore --list` of major `needed` or newer on the server of the environment a
    /// backup came from, for a dump made there that no pg_restore here can read; `None` when
    /// there is none (the check then says why it could not look).
    async fn pg_restore_on_server(
        &self,
        environment_id: &str,
        needed: u32,
    ) -> Option<(crate::ssh::SshSession, std::process::Command)> {
        let server = self
            .catalog()
            .environment(environment_id)
            .await
            .ok()?
            .server?;
        let session = self.connect_server(&server).await.ok()?;
        let found = crate::postgres::tools::find_on_server(&session).await;
        let tool = crate::postgres::tools::choose_pg_dump(&found, needed)?;
        let beside = Path::new(&tool.path).with_file_name("pg_restore");
        let command = session.command(&format!(
            "exec {} --list",
            crate::ssh::quote(&beside.display().to_string())
        ));
        Some((session, command))
    }
}

/// The blobs of the trees a light check read.
#[derive(Default)]
struct Sampled {
    trees: usize,
    blobs: std::collections::HashSet<String>,
}

impl Sampled {
    /// Reads a deduplicated artifact's tree (proven against the manifest) and keeps its blobs
    /// for the check of the packs.
    async fn tree(
        &mut self,
        backup: &StoredBackup,
        label: &str,
        artifact: &ArtifactInfo,
    ) -> VerifyCheck {
        let name = format!("{label} tree");
        match backup.tree(artifact).await {
            Ok(tree) => {
                self.trees += 1;
                let before = self.blobs.len();
                self.blobs
                    .extend(tree.pieces.into_iter().filter_map(|piece| match piece {
                        Piece::Blob { id, .. } => Some(id),
                        Piece::Bytes { .. } => None,
                    }));
                VerifyCheck {
                    name,
                    ok: true,
                    detail: format!(
                        "matches the manifest; {} blobs not in an earlier tree of this check",
                        self.blobs.len() - before
                    ),
                }
            }
            Err(e) => VerifyCheck {
                name,
                ok: false,
                detail: e.message,
            },
        }
    }
}

/// What looks inside an artifact's plaintext while its checksums are checked.
type Inspect = Box<dyn FnOnce(&mut dyn Read) -> std::result::Result<String, String> + Send>;

/// Reads one stored artifact to the end and returns its checks.
async fn check_stored(
    backup: &StoredBackup,
    label: &'static str,
    artifact: &ArtifactInfo,
    inspect: Inspect,
    cancel: &CancellationToken,
) -> Result<Vec<VerifyCheck>> {
    // An artifact that cannot be read is a failed verification, recorded as one: the backup
    // must not keep looking verified.
    let reader = match backup
        .open(artifact, &Arc::default(), cancel, Plaintext::Hashed)
        .await
    {
        Ok(reader) => reader,
        Err(e) if e.code == ErrorCode::Cancelled => return Err(e),
        Err(e) => {
            return Ok(vec![VerifyCheck {
                name: format!("{label} read"),
                ok: false,
                detail: e.message,
            }])
        }
    };
    let info = artifact.clone();
    blocking(move || Ok(check_artifact(label, reader, &info, inspect))).await
}

/// Reads an artifact's plaintext through `inspect`, then checks both checksums. Returns the
/// checks for the report.
fn check_artifact(
    label: &str,
    mut reader: ArtifactReader,
    info: &ArtifactInfo,
    inspect: impl FnOnce(&mut dyn Read) -> std::result::Result<String, String>,
) -> Vec<VerifyCheck> {
    let inspected = inspect(&mut reader);
    let (content, checksum) = match reader.finish(info) {
        Ok(totals) => (
            inspected,
            Ok(format!(
                "{} stored, {} plaintext bytes match the manifest",
                totals.stored_bytes, totals.plaintext_bytes
            )),
        ),
        Err(e @ FinishError::Damaged(_)) => (inspected.and(Err(e.to_string())), Err(e.to_string())),
        Err(e) => (inspected, Err(e.to_string())),
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
    lister: Option<std::process::Command>,
    cancel: &CancellationToken,
) -> std::result::Result<String, String> {
    let lister = lister.ok_or("no pg_restore new enough for this dump is installed")?;
    let listing = toc::list_with(lister, plain, true, cancel).map_err(|e| e.to_string())?;
    let entries = toc::Toc::parse(&listing).entries.len();
    Ok(format!("pg_restore --list read {entries} entries"))
}

/// The roles artifact is the SQL the manifest counted roles in.
fn check_globals(plain: &mut dyn Read, expected: u64) -> std::result::Result<String, String> {
    let mut sql = Vec::new();
    plain
        .take(GLOBALS_LIMIT + 1)
        .read_to_end(&mut sql)
        .map_err(|e| format!("the stream is damaged ({e})"))?;
    if sql.len() as u64 > GLOBALS_LIMIT {
        return Err("larger than a roles artifact can be".into());
    }
    let roles = count_roles(&sql);
    if roles != expected {
        return Err(format!("{roles} roles, but the manifest says {expected}"));
    }
    Ok(format!("{roles} roles"))
}

/// Walks the media tar: every path stays inside the archive's root, and every file's SHA-256
/// matches the media manifest stored at the end of the same archive (and vice versa).
fn check_media_archive(plain: &mut dyn Read) -> std::result::Result<String, String> {
    let listing = media_reader::walk(plain, FileHashes::Compared, |entry| match entry.kind {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environments::EnvironmentInput;
    use crate::model::backup::BackupRequest;
    use lifeboat_format::manifest::BackupKind;

    #[tokio::test]
    async fn a_cancelled_verification_stops_and_records_nothing() {
        let home = tempfile::tempdir().unwrap();
        let cx = Context::open(crate::Home::at(home.path())).await.unwrap();
        cx.ensure_default_target().await.unwrap();
        let media = tempfile::tempdir().unwrap();
        std::fs::write(media.path().join("photo.jpg"), b"pixels").unwrap();
        let app = cx.create_application("shop").await.unwrap();
        let env = cx
            .create_environment(&EnvironmentInput {
                application_id: app.id,
                name: "production".into(),
                connection: None,
                media_dir: Some(media.path().display().to_string()),
                target_id: None,
            })
            .await
            .unwrap();
        let manifest = cx
            .backup(&BackupRequest {
                environment_id: env.id,
                database: false,
                media: true,
                note: None,
                kind: BackupKind::OnDemand,
                full_rescan: false,
            })
            .await
            .unwrap();
        let recorded = cx.catalog().backup(&manifest.backup_id).await.unwrap();
        assert!(recorded.verification.as_ref().is_some_and(|v| v.ok));

        let cancel = CancellationToken::new();
        cancel.cancel();
        let e = cx
            .verify_stored(&manifest.backup_id, false, &cancel)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Cancelled);
        let after = cx.catalog().backup(&manifest.backup_id).await.unwrap();
        assert_eq!(after.verification, recorded.verification);
    }
}
