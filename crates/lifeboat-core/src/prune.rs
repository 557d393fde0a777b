//! Applying an environment's retention policy: `retention::decide` says what goes, this deletes
//! it from storage and the catalog.
//!
//! A backup leaves in three steps: hidden in the catalog (`deleting`), its objects deleted
//! (manifest first, so storage never shows a commit marker beside missing artifacts), then its
//! catalog row deleted. A prune cut off between the steps is finished by the next one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use ts_rs::TS;

use crate::backup::{BackupKind, BackupRecord};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::activity::PruneRecord;
use crate::repository::chunks::ReclaimReport;
use crate::retention::{self, Action, Candidate, Label, RetentionPolicy};
use crate::storage::Storage;

/// How long a pack no backup uses stays condemned before a cleanup deletes it: longer than any
/// backup runs, so one that started before the pack was condemned and relied on it has
/// committed (and is then seen to use it) well before.
pub const RECLAIM_GRACE_HOURS: i64 = 24;
use lifeboat_format::layout::{object_key, MANIFEST_FILE};

/// What retention does with one backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RetentionDecision {
    pub backup_id: String,
    pub created_at: String,
    pub kind: BackupKind,
    pub pinned: bool,
    #[ts(type = "number")]
    pub stored_bytes: u64,
    /// The tier a scheduled backup is kept as (daily, weekly, monthly).
    pub label: Option<Label>,
    pub delete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PruneReport {
    pub environment_id: String,
    pub dry_run: bool,
    /// Every backup of the environment, newest first, with what retention does with it.
    pub decisions: Vec<RetentionDecision>,
    /// Deletions an earlier, interrupted prune had begun and this one finished.
    pub finished_earlier: u32,
    /// Backups storage would not delete (each on its own: the others still go). One refused
    /// before anything of it was deleted stays listed, with the reason.
    pub failures: Vec<PruneFailure>,
    /// What the cleanup of deduplicated storage after the deletions did, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reclaimed: Option<ReclaimReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PruneFailure {
    pub backup_id: String,
    pub reason: String,
}

impl PruneReport {
    /// The backups this prune deleted.
    pub fn deleted(&self) -> impl Iterator<Item = &RetentionDecision> {
        self.decisions
            .iter()
            .filter(|d| d.delete && !self.failures.iter().any(|f| f.backup_id == d.backup_id))
    }
}

impl Context {
    pub async fn retention_preview(
        &self,
        environment_id: &str,
        policy: &RetentionPolicy,
    ) -> Result<Vec<RetentionDecision>> {
        let records = self.catalog().backups_of(environment_id).await?;
        self.decide(policy, &records, Utc::now()).await
    }

    pub async fn set_retention(
        &self,
        environment_id: &str,
        policy: &RetentionPolicy,
    ) -> Result<crate::environments::Environment> {
        validate(policy)?;
        self.catalog().set_retention(environment_id, policy).await
    }

    pub async fn set_pinned(&self, backup_id: &str, pinned: bool) -> Result<()> {
        self.catalog().set_pinned(backup_id, pinned).await
    }

    pub async fn prune(&self, environment_id: &str, dry_run: bool) -> Result<PruneReport> {
        self.prune_as_of(environment_id, dry_run, Utc::now()).await
    }

    /// `prune` as if it were `now` (tests, and a scheduler with its own clock).
    pub async fn prune_as_of(
        &self,
        environment_id: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<PruneReport> {
        let env = self.catalog().environment(environment_id).await?;
        let mut storages = Storages::default();
        let mut failures = Vec::new();
        let finished_earlier = if dry_run {
            0
        } else {
            self.finish_deletions(environment_id, &mut storages, &mut failures)
                .await?
        };
        let records = self.catalog().backups_of(environment_id).await?;
        let decisions = self.decide(&env.retention, &records, now).await?;
        let mut report = PruneReport {
            environment_id: environment_id.to_owned(),
            dry_run,
            decisions,
            finished_earlier,
            failures: Vec::new(),
            reclaimed: None,
        };
        if !dry_run {
            for (decision, record) in report.decisions.iter_mut().zip(&records) {
                if decision.delete {
                    match self.delete_backup(record, &mut storages).await {
                        Ok(true) => {}
                        // Pinned, or a restore or download began reading it, since the
                        // decision: it stays, and the report says so.
                        Ok(false) => decision.delete = false,
                        Err(e) => {
                            tracing::warn!(
                                backup_id = record.id,
                                "retention could not delete it: {}",
                                e.message
                            );
                            failures.push(PruneFailure {
                                backup_id: record.id.clone(),
                                reason: e.message,
                            });
                        }
                    }
                    continue;
                }
                if let Some(label) = decision.label.filter(|l| record.label != Some(*l)) {
                    self.catalog().set_label(&record.id, label).await?;
                }
                if record.deletion_refused.is_some() {
                    self.catalog()
                        .set_deletion_refused(&record.id, None)
                        .await?;
                }
            }
            report.failures = failures;
            let deleted: Vec<_> = report.deleted().collect();
            if !deleted.is_empty() {
                let prune = PruneRecord {
                    at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    deleted: u32::try_from(deleted.len()).unwrap_or(u32::MAX),
                    freed_bytes: deleted.iter().map(|d| d.stored_bytes).sum(),
                };
                self.catalog().record_prune(environment_id, &prune).await?;
                let targets: HashSet<&str> = records
                    .iter()
                    .filter(|r| deleted.iter().any(|d| d.backup_id == r.id))
                    .map(|r| r.target_id.as_str())
                    .collect();
                let grace = chrono::Duration::hours(RECLAIM_GRACE_HOURS);
                for target_id in targets {
                    // The deletions stand either way; what is not freed now is the next time.
                    match self.reclaim_storage(target_id, grace).await {
                        Ok(done) => {
                            let sum = report.reclaimed.get_or_insert_with(Default::default);
                            sum.condemned += done.condemned;
                            sum.deleted += done.deleted;
                        }
                        Err(e) => tracing::warn!(
                            target_id,
                            "the cleanup of deduplicated storage did not finish: {}",
                            e.message
                        ),
                    }
                }
            }
        }
        Ok(report)
    }

    async fn decide(
        &self,
        policy: &RetentionPolicy,
        records: &[BackupRecord],
        now: DateTime<Utc>,
    ) -> Result<Vec<RetentionDecision>> {
        // A backup a restore or download is reading stays until that job is done.
        let in_use: HashSet<String> = self.catalog().backups_in_use().await?.into_iter().collect();
        let candidates: Vec<Candidate> = records
            .iter()
            .map(|r| Candidate {
                id: r.id.clone(),
                created_at: DateTime::parse_from_rfc3339(&r.manifest.created_at)
                    .map_or(now, |t| t.with_timezone(&Utc)),
                kind: r.manifest.kind,
                label: r.label,
                pinned: r.pinned || in_use.contains(&r.id),
            })
            .collect();
        let actions = retention::decide(policy, &candidates, now);
        Ok(records
            .iter()
            .zip(actions)
            .map(|(r, (_, action))| RetentionDecision {
                backup_id: r.id.clone(),
                created_at: r.manifest.created_at.clone(),
                kind: r.manifest.kind,
                pinned: r.pinned,
                stored_bytes: r.stored_bytes,
                label: match action {
                    Action::Relabel(label) => Some(label),
                    _ => r.label,
                },
                delete: action == Action::Delete,
            })
            .collect())
    }

    /// Frees the target's packs no backup uses any more (storage format 2): condemned first,
    /// deleted once still unused `grace` later (`Chunks::reclaim`).
    pub async fn reclaim_storage(
        &self,
        target_id: &str,
        grace: chrono::Duration,
    ) -> Result<ReclaimReport> {
        let (chunks, referenced) = self.referenced_blobs(target_id).await?;
        chunks.reclaim(&referenced, grace, Utc::now()).await
    }

    /// Deletes one backup; false when it may not go after all.
    async fn delete_backup(&self, record: &BackupRecord, storages: &mut Storages) -> Result<bool> {
        let storage = storages.get(self, &record.target_id).await?;
        if !self.catalog().mark_deleting(&record.id).await? {
            return Ok(false);
        }
        // The manifest first: until it goes the backup is whole, so storage refusing it (Object
        // Lock, a key that may not delete) leaves a backup to show again, with why.
        let manifest = object_key(&record.storage_dir, MANIFEST_FILE);
        if let Err(e) = storage.delete(&manifest).await {
            self.catalog()
                .set_deletion_refused(&record.id, Some(&e.message))
                .await?;
            return Err(e);
        }
        // From here it is no backup any more: what is left is finished by the next prune.
        storage.delete_dir(&record.storage_dir).await?;
        self.catalog().delete_backup(&record.id).await?;
        Ok(true)
    }

    async fn finish_deletions(
        &self,
        environment_id: &str,
        storages: &mut Storages,
        failures: &mut Vec<PruneFailure>,
    ) -> Result<u32> {
        let pending = self.catalog().backups_being_deleted(environment_id).await?;
        let mut finished = 0;
        for (id, target_id, dir) in &pending {
            let deleted = match storages.get(self, target_id).await {
                Ok(storage) => storage.delete_dir(dir).await,
                Err(e) => Err(e),
            };
            match deleted {
                Ok(()) => {
                    self.catalog().delete_backup(id).await?;
                    finished += 1;
                }
                Err(e) => failures.push(PruneFailure {
                    backup_id: id.clone(),
                    reason: e.message,
                }),
            }
        }
        Ok(finished)
    }
}

/// One storage client per target, made when first needed.
#[derive(Default)]
struct Storages(HashMap<String, Storage>);

impl Storages {
    async fn get(&mut self, lifeboat: &Context, target_id: &str) -> Result<&Storage> {
        if !self.0.contains_key(target_id) {
            let storage = lifeboat.storage_of(target_id).await?;
            self.0.insert(target_id.to_owned(), storage);
        }
        Ok(&self.0[target_id])
    }
}

const MAX_KEPT: u32 = 10_000;

fn validate(policy: &RetentionPolicy) -> Result<()> {
    let fields = [
        ("onDemandKeepRecent", policy.on_demand_keep_recent, 1),
        ("onDemandMaxAgeDays", policy.on_demand_max_age_days, 0),
        ("daily", policy.daily, 0),
        ("weekly", policy.weekly, 0),
        ("monthly", policy.monthly, 0),
    ];
    for (field, value, least) in fields {
        if value < least || value > MAX_KEPT {
            return Err(Error::validation(
                field,
                format!("Enter a number from {least} to {MAX_KEPT}."),
            ));
        }
    }
    Ok(())
}
