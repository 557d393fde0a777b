//! Rebuilding the catalog from storage: every `manifest.json` under a target becomes a backup
//! entry again, with the applications and environments it names, so a new machine pointed at
//! the same bucket (with the recovery key) sees and restores everything.

use serde::Serialize;
use ts_rs::TS;

use crate::backup::{BackupRecord, BackupRequest};
use crate::catalog::new_id;
use crate::context::Context;
use crate::environments::{Environment, EnvironmentInput};
use crate::error::{ErrorCode, Result};
use crate::jobs::JobRequest;
use lifeboat_format::layout::{backup_dirs, object_key, MANIFEST_FILE};
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
            let body = storage.get(&object_key(&dir, MANIFEST_FILE)).await?;
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
            let env = self
                .environment_for(&manifest, target_id, &mut report)
                .await?;
            let mut manifest = manifest;
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
            });
            let record = BackupRecord::new(manifest, Some(new_id()), target_id, &dir);
            self.catalog()
                .import_backup(&record, &env.id, &request)
                .await?;
            report.imported.push(record.id);
        }
        Ok(report)
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
