//! Rebuilding the catalog from storage: every `manifest.json` under a target that the recovery
//! key vouches for becomes a backup entry again, with the applications and environments it
//! names, so a new machine pointed at the same bucket (with the recovery key) sees and restores
//! everything. Whoever can write to the bucket can put a manifest there too: one the key does
//! not vouch for is quarantined, never matched to an environment, until the user trusts it.

use serde::Serialize;
use ts_rs::TS;

use crate::backup::{BackupRecord, BackupRequest};
use crate::catalog::new_id;
use crate::context::Context;
use crate::environments::{Environment, EnvironmentInput};
use crate::error::{ErrorCode, Result};
use crate::jobs::JobRequest;
use crate::model::backup::QuarantinedBackup;
use lifeboat_format::layout::{backup_dir, backup_dirs, object_key, MANIFEST_FILE};
use lifeboat_format::manifest::{self, BackupManifest};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SyncReport {
    /// Ids of the backups added to the catalog.
    pub imported: Vec<String>,
    pub already_known: u32,
    /// "application/environment" of each environment created for imported backups.
    pub environments_created: Vec<String>,
    /// Backup directories without a manifest (cut off while running, or being deleted): not
    /// backups, so not imported.
    pub incomplete: Vec<String>,
    /// Directories whose manifest could not be used, with the reason.
    pub unreadable: Vec<SyncProblem>,
    /// Backups whose manifest could not be authenticated: kept apart until trusted.
    pub quarantined: Vec<QuarantinedBackup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SyncProblem {
    pub directory: String,
    pub reason: String,
}

impl Context {
    pub async fn sync_catalog(&self, target_id: &str) -> Result<SyncReport> {
        let storage = self.storage_of(target_id).await?;
        let known = self.catalog().backup_ids().await?;
        let mut report = SyncReport::default();
        for (dir, has_manifest) in backup_dirs(storage.list("").await?) {
            if !has_manifest {
                report.incomplete.push(dir);
                continue;
            }
            let body = match storage.get(&object_key(&dir, MANIFEST_FILE)).await {
                Ok(body) => body,
                Err(e) => {
                    report.unreadable.push(SyncProblem {
                        directory: dir,
                        reason: e.message,
                    });
                    continue;
                }
            };
            let manifest = match manifest::parse(&body) {
                Ok(manifest) => manifest,
                Err(reason) => {
                    report.unreadable.push(SyncProblem {
                        directory: dir,
                        reason,
                    });
                    continue;
                }
            };
            if known.contains(&manifest.backup_id) {
                report.already_known += 1;
                continue;
            }
            match self.distrust(&manifest, &body, &dir).await? {
                None => {
                    let id = self
                        .import_found(manifest, target_id, &dir, &mut report)
                        .await?;
                    report.imported.push(id);
                }
                Some(reason) => {
                    let found = self
                        .catalog()
                        .quarantine(target_id, &dir, &manifest, &reason)
                        .await?;
                    report.quarantined.push(found);
                }
            }
        }
        Ok(report)
    }

    /// Why a manifest found in `dir` is not to be trusted, if it is not: its MAC must be one
    /// only the holder of the recovery key it names could have made, and it must sit where it
    /// says it belongs.
    async fn distrust(
        &self,
        manifest: &BackupManifest,
        body: &[u8],
        dir: &str,
    ) -> Result<Option<String>> {
        let recipient = &manifest.encryption.recipient;
        let key = match self.keys().manifest_key(recipient).await {
            Ok(key) => key,
            Err(e) if e.code == ErrorCode::RecoveryKeyMissing => {
                return Ok(Some(format!(
                    "it is sealed for a recovery key this machine does not hold ({recipient}), so who wrote it cannot be checked"
                )))
            }
            Err(e) => return Err(e),
        };
        if let Err(why) = key.check(body) {
            return Ok(Some(why.to_string()));
        }
        let claimed = backup_dir(
            &manifest.application.name,
            &manifest.environment.name,
            &manifest.backup_id,
        );
        if claimed != dir {
            return Ok(Some(format!(
                "it was found in {dir} but its manifest says it belongs in {claimed}"
            )));
        }
        Ok(None)
    }

    /// Adds a found backup to the catalog under the local environment of the same names
    /// (created when missing), with a finished backup job standing for the run that made it.
    async fn import_found(
        &self,
        mut manifest: BackupManifest,
        target_id: &str,
        dir: &str,
        report: &mut SyncReport,
    ) -> Result<String> {
        let env = self.environment_for(&manifest, target_id, report).await?;
        // The catalog's copy names the local application and environment; the manifest in
        // storage keeps the ids of the machine that made the backup.
        manifest.application.id.clone_from(&env.application_id);
        manifest.environment.id.clone_from(&env.id);
        let request = JobRequest::Backup(BackupRequest {
            environment_id: env.id.clone(),
            database: manifest.database.is_some(),
            media: manifest.media.is_some(),
            note: manifest.note.clone(),
            kind: manifest.kind,
            full_rescan: false,
        });
        let record = BackupRecord::new(manifest, Some(new_id()), target_id, dir);
        self.catalog()
            .import_backup(&record, &env.id, &request)
            .await?;
        Ok(record.id)
    }

    pub async fn quarantined_backups(&self) -> Result<Vec<QuarantinedBackup>> {
        self.catalog().quarantined().await
    }

    /// The user's word that a quarantined backup is theirs: it joins the catalog as the manifest
    /// they were shown claims, and from then on is read like any other backup (its artifacts
    /// are still checked against that manifest).
    pub async fn trust_backup(&self, quarantined_id: &str) -> Result<SyncReport> {
        let found = self.catalog().quarantined_backup(quarantined_id).await?;
        let mut report = SyncReport::default();
        if self
            .catalog()
            .backup_ids()
            .await?
            .contains(&found.manifest.backup_id)
        {
            report.already_known = 1;
        } else {
            let id = self
                .import_found(
                    found.manifest,
                    &found.target_id,
                    &found.storage_dir,
                    &mut report,
                )
                .await?;
            report.imported.push(id);
        }
        self.catalog().release_quarantined(quarantined_id).await?;
        Ok(report)
    }

    /// Forgets a quarantined backup (storage is left as it is; a later sync finds it again).
    pub async fn dismiss_quarantined(&self, quarantined_id: &str) -> Result<()> {
        self.catalog().quarantined_backup(quarantined_id).await?;
        self.catalog().release_quarantined(quarantined_id).await
    }

    /// The environment a found backup belongs to, by name, created when missing.
    async fn environment_for(
        &self,
        manifest: &BackupManifest,
        target_id: &str,
        report: &mut SyncReport,
    ) -> Result<Environment> {
        let (app_name, env_name) = (&manifest.application.name, &manifest.environment.name);
        let (app_id, environments) = match self.application_named(app_name).await {
            Ok(app) => (app.id, app.environments),
            Err(e) if e.code == ErrorCode::NotFound => {
                (self.create_application(app_name).await?.id, Vec::new())
            }
            Err(e) => return Err(e),
        };
        if let Some(env) = environments
            .into_iter()
            .find(|e| e.name.eq_ignore_ascii_case(env_name))
        {
            return Ok(env);
        }
        let env = self
            .create_environment(&EnvironmentInput {
                application_id: app_id,
                name: env_name.clone(),
                connection: None,
                media_dir: None,
                target_id: Some(target_id.to_owned()),
            })
            .await?;
        report
            .environments_created
            .push(format!("{app_name}/{env_name}"));
        Ok(env)
    }
}
