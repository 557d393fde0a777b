//! Pruning and catalog sync against the real S3-compatible server, PostgreSQL and keyring.
//! Backups are real; their creation times are then moved into the past in the catalog, which
//! is what retention reads.

mod common;

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use common::fixture::{fixture, s3, Fixture, Target};
use common::s3_proxy::S3Proxy;
use lifeboat_core::format::layout::MANIFEST_FILE;
use lifeboat_core::format::manifest::BackupKind;
use lifeboat_core::{BackupRequest, ErrorCode, JobStatus, Label, RetentionPolicy};

/// Real backups recorded as made some time before today's noon (UTC; fixed times of day keep
/// "the same day" the same day whenever the test runs). The times are moved into the past only
/// once all are made: every backup applies retention as it ends, which must not see them yet.
struct Aged<'a> {
    f: &'a Fixture,
    ages: Vec<(String, Duration)>,
}

impl<'a> Aged<'a> {
    fn new(f: &'a Fixture) -> Self {
        Self {
            f,
            ages: Vec::new(),
        }
    }

    async fn backup(&mut self, kind: BackupKind, age: Duration) -> String {
        let backup = self
            .f
            .lb
            .backup(&BackupRequest {
                environment_id: self.f.env_id.clone(),
                database: true,
                media: false,
                note: None,
                kind,
                full_rescan: false,
            })
            .await
            .unwrap();
        self.ages.push((backup.backup_id.clone(), age));
        backup.backup_id
    }

    async fn forge(self) {
        let noon = Utc::now()
            .date_naive()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc();
        for (id, age) in self.ages {
            let created = (noon - age).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            sqlx::query(
                "UPDATE backups SET created_at = ?1, manifest = json_set(manifest, '$.createdAt', ?1)
                 WHERE id = ?2",
            )
            .bind(created)
            .bind(&id)
            .execute(self.f.lb.catalog().pool())
            .await
            .unwrap();
        }
    }
}

/// Backup directories in storage that hold a manifest, by backup id.
async fn committed_in_storage(f: &Fixture) -> BTreeSet<String> {
    f.stored_objects()
        .await
        .iter()
        .filter_map(|name| name.strip_suffix(&format!("/{MANIFEST_FILE}")))
        .map(str::to_owned)
        .collect()
}

async fn in_catalog(f: &Fixture) -> BTreeSet<String> {
    let records = f.lb.catalog().backups_of(&f.env_id).await.unwrap();
    records.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn prune_deletes_exactly_what_the_policy_says_from_storage_and_catalog() {
    let f = fixture(s3()).await;
    let days = Duration::days;
    let mut aged = Aged::new(&f);
    let old_pinned = aged.backup(BackupKind::OnDemand, days(90)).await;
    let old = aged.backup(BackupKind::OnDemand, days(60)).await;
    let older_than_30 = aged.backup(BackupKind::OnDemand, days(45)).await;
    let recent = [
        aged.backup(BackupKind::OnDemand, days(40)).await,
        aged.backup(BackupKind::OnDemand, days(2)).await,
        aged.backup(BackupKind::OnDemand, days(1)).await,
    ];
    let same_day_first = aged
        .backup(BackupKind::Scheduled, days(3) + Duration::hours(2))
        .await;
    let same_day_later = aged
        .backup(BackupKind::Scheduled, days(3) + Duration::hours(1))
        .await;
    let newest_scheduled = aged.backup(BackupKind::Scheduled, days(1)).await;
    aged.forge().await;
    f.lb.set_pinned(&old_pinned, true).await.unwrap();
    f.lb.set_retention(
        &f.env_id,
        &RetentionPolicy {
            daily: 2,
            weekly: 0,
            monthly: 0,
            ..RetentionPolicy::default()
        },
    )
    .await
    .unwrap();

    let dry = f.lb.prune(&f.env_id, true).await.unwrap();
    let doomed: BTreeSet<String> = dry.deleted().map(|d| d.backup_id.clone()).collect();
    let expected: BTreeSet<String> = [&old, &older_than_30, &same_day_later]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(doomed, expected);
    assert_eq!(in_catalog(&f).await.len(), 9, "a dry run deletes nothing");
    assert_eq!(committed_in_storage(&f).await.len(), 9);

    let report = f.lb.prune(&f.env_id, false).await.unwrap();
    assert_eq!(
        report
            .deleted()
            .map(|d| d.backup_id.clone())
            .collect::<BTreeSet<_>>(),
        expected
    );
    let kept: BTreeSet<String> = [&old_pinned, &same_day_first, &newest_scheduled]
        .into_iter()
        .chain(&recent)
        .cloned()
        .collect();
    assert_eq!(in_catalog(&f).await, kept);
    assert_eq!(
        committed_in_storage(&f).await,
        kept,
        "catalog and storage agree"
    );
    let objects = f.stored_objects().await;
    for gone in &expected {
        assert!(
            !objects.iter().any(|o| o.starts_with(gone.as_str())),
            "artifacts of {gone} left behind"
        );
    }
    let labels: Vec<(String, Option<Label>)> =
        f.lb.catalog()
            .backups_of(&f.env_id)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.manifest.kind == BackupKind::Scheduled)
            .map(|r| (r.id, r.label))
            .collect();
    assert_eq!(
        labels,
        vec![
            (newest_scheduled, Some(Label::Daily)),
            (same_day_first, Some(Label::Daily))
        ]
    );

    let again = f.lb.prune(&f.env_id, false).await.unwrap();
    assert_eq!(again.deleted().count(), 0, "pruning twice changes nothing");
    let listed = f.lb.list_backups(&f.env_id).await.unwrap();
    assert_eq!(listed.len(), kept.len(), "deleted backups leave the list");

    // The environment's activity keeps the prune that deleted (not the dry run, nor the one
    // that deleted nothing).
    let prunes: Vec<_> =
        f.lb.activity(&f.env_id)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|a| a.prune)
            .collect();
    assert_eq!(prunes.len(), 1, "{prunes:?}");
    assert_eq!(prunes[0].deleted, 3);
    let freed: u64 = report.deleted().map(|d| d.stored_bytes).sum();
    assert_eq!(prunes[0].freed_bytes, freed);
}

#[tokio::test]
async fn a_prune_cut_off_after_deleting_from_storage_is_finished_by_the_next() {
    let f = fixture(s3()).await;
    let mut aged = Aged::new(&f);
    let doomed = aged.backup(BackupKind::OnDemand, Duration::days(60)).await;
    for _ in 0..3 {
        aged.backup(BackupKind::OnDemand, Duration::hours(1)).await;
    }
    aged.forge().await;
    // The state a prune killed mid-way leaves (stand-in for killing one): the backup hidden in
    // the catalog and its manifest, the first object deleted, gone from storage.
    assert!(f.lb.catalog().mark_deleting(&doomed).await.unwrap());
    let record_dir = format!("shop/production/{doomed}");
    f.storage()
        .await
        .delete(&format!("{record_dir}/{MANIFEST_FILE}"))
        .await
        .unwrap();
    assert!(!in_catalog(&f).await.contains(&doomed), "hidden at once");
    assert!(f
        .stored_objects()
        .await
        .iter()
        .any(|o| o.starts_with(&doomed)));

    let report = f.lb.prune(&f.env_id, false).await.unwrap();
    assert_eq!(report.finished_earlier, 1);
    assert!(!f
        .stored_objects()
        .await
        .iter()
        .any(|o| o.starts_with(&doomed)));
    assert!(f
        .lb
        .catalog()
        .backups_being_deleted(&f.env_id)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_backup_storage_refuses_to_delete_stays_listed_and_the_others_still_go() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let mut settings = common::s3_settings();
    settings.endpoint = Some(proxy.endpoint.clone());
    let f = fixture(Target::S3(settings, common::s3_secret())).await;
    let mut aged = Aged::new(&f);
    let locked = aged.backup(BackupKind::OnDemand, Duration::days(60)).await;
    let expired = aged.backup(BackupKind::OnDemand, Duration::days(50)).await;
    for _ in 0..3 {
        aged.backup(BackupKind::OnDemand, Duration::hours(1)).await;
    }
    aged.forge().await;
    // Object Lock on one backup: storage answers every DELETE of its objects 403.
    proxy.refuse_deletes_of(&locked);

    let report = f.lb.prune(&f.env_id, false).await.unwrap();
    assert_eq!(
        report
            .deleted()
            .map(|d| d.backup_id.clone())
            .collect::<Vec<_>>(),
        vec![expired.clone()]
    );
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert_eq!(report.failures[0].backup_id, locked);
    let objects = f.stored_objects().await;
    assert!(!objects.iter().any(|o| o.starts_with(expired.as_str())));
    assert!(
        committed_in_storage(&f).await.contains(&locked),
        "nothing of the refused backup was deleted"
    );
    let record = f.lb.backup_record(&locked).await.unwrap();
    let why = record.deletion_refused.expect("the reason is kept");
    assert!(why.contains("may not") && why.contains("delete"), "{why}");
    assert!(in_catalog(&f).await.contains(&locked), "it stays listed");

    // The next prune still runs, tries again, and finishes once storage allows it.
    let again = f.lb.prune(&f.env_id, false).await.unwrap();
    assert_eq!(again.failures.len(), 1);
    proxy.allow_deletes();
    let finally = f.lb.prune(&f.env_id, false).await.unwrap();
    assert!(finally.failures.is_empty(), "{:?}", finally.failures);
    assert_eq!(
        finally
            .deleted()
            .map(|d| d.backup_id.clone())
            .collect::<Vec<_>>(),
        vec![locked.clone()]
    );
    assert!(!in_catalog(&f).await.contains(&locked));
}

#[tokio::test]
async fn a_bad_policy_is_refused_with_the_field_named() {
    let f = fixture(Target::Local).await;
    let e =
        f.lb.set_retention(
            &f.env_id,
            &RetentionPolicy {
                on_demand_keep_recent: 0,
                ..RetentionPolicy::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Validation);
    assert_eq!(e.field.as_deref(), Some("onDemandKeepRecent"));
}

#[tokio::test]
async fn catalog_sync_rebuilds_a_lost_catalog_from_storage() {
    let f = fixture(s3()).await;
    let first =
        f.lb.backup(&common::fixture::both(&f.env_id, "one"))
            .await
            .unwrap();
    let mut aged = Aged::new(&f);
    let second = aged.backup(BackupKind::Scheduled, Duration::hours(1)).await;
    aged.forge().await;
    // Matched by id: `forge` moved the catalog's dates but not the stored manifests', so the
    // two lists need not come in the same order.
    let mut originals = f.lb.catalog().backups_of(&f.env_id).await.unwrap();
    originals.sort_by(|a, b| a.id.cmp(&b.id));
    // A backup cut off before its manifest: reported, never imported.
    f.storage()
        .await
        .put(
            "shop/production/unfinished/database.dump.zst.age",
            b"partial".to_vec(),
        )
        .await
        .unwrap();

    // A new machine: an empty catalog, the same bucket, the same keyring.
    let (_home, fresh, target) = f.elsewhere().await;
    let report = fresh.sync_catalog(&target.id).await.unwrap();
    assert_eq!(report.imported.len(), 2);
    assert_eq!(report.environments_created, vec!["shop/production"]);
    assert_eq!(report.incomplete, vec!["shop/production/unfinished"]);

    let env = fresh.environment_named("shop", "production").await.unwrap();
    let mut synced = fresh.catalog().backups_of(&env.id).await.unwrap();
    synced.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(synced.len(), 2);
    for (original, synced) in originals.iter().zip(&synced) {
        assert_eq!(synced.id, original.id);
        assert_eq!(synced.stored_bytes, original.stored_bytes);
        assert_eq!(synced.manifest.database, original.manifest.database);
        assert_eq!(synced.manifest.media, original.manifest.media);
        assert_eq!(synced.manifest.environment.id, env.id);
    }
    assert!(synced.iter().any(|b| b.id == first.backup_id));
    assert!(synced.iter().any(|b| b.id == second));

    let listed = fresh.list_backups(&env.id).await.unwrap();
    assert_eq!(listed.len(), 2, "synced backups are listed like any other");

    let again = fresh.sync_catalog(&target.id).await.unwrap();
    assert!(again.imported.is_empty());
    assert_eq!(again.already_known, 2);

    // A restore from a synced entry, into a database the new machine points the environment at.
    let restored = common::create_database("synced").await;
    fresh
        .update_environment(
            &env.id,
            &lifeboat_core::EnvironmentInput {
                application_id: env.application_id.clone(),
                name: env.name.clone(),
                connection: Some(common::pg_input(&restored)),
                media_dir: None,
                target_id: Some(target.id.clone()),
            },
        )
        .await
        .unwrap();
    fresh
        .restore(&common::fixture::restore_database(
            &first.backup_id,
            &env.id,
            "production",
            false,
        ))
        .await
        .unwrap();
    assert_eq!(
        common::fingerprint(&restored).await,
        common::fingerprint(&f.database).await
    );
}

#[tokio::test]
async fn every_backup_applies_retention_as_it_ends() {
    let f = fixture(Target::Local).await;
    f.lb.set_retention(
        &f.env_id,
        &RetentionPolicy {
            on_demand_keep_recent: 1,
            on_demand_max_age_days: 0,
            ..RetentionPolicy::default()
        },
    )
    .await
    .unwrap();
    let mut aged = Aged::new(&f);
    aged.backup(BackupKind::OnDemand, Duration::zero()).await;
    let second = aged.backup(BackupKind::OnDemand, Duration::zero()).await;
    assert_eq!(in_catalog(&f).await, BTreeSet::from([second]));
}

#[tokio::test]
async fn a_backup_a_job_began_reading_after_the_decision_is_not_marked_for_deletion() {
    let f = fixture(Target::Local).await;
    let backup =
        f.lb.backup(&common::fixture::both(&f.env_id, ""))
            .await
            .unwrap();
    // What a download records before it opens the backup, landing between retention's
    // decision and its marking.
    let reader = lifeboat_core::JobRequest::Download(lifeboat_core::DownloadRequest {
        backup_id: backup.backup_id.clone(),
        directory: "/tmp".into(),
        database: true,
        media: true,
    });
    f.lb.catalog()
        .insert_job("reader", &f.env_id, &reader)
        .await
        .unwrap();
    assert!(!f
        .lb
        .catalog()
        .mark_deleting(&backup.backup_id)
        .await
        .unwrap());
    assert!(
        f.lb.backup_record(&backup.backup_id).await.is_ok(),
        "still listed"
    );

    f.lb.catalog()
        .finish_job("reader", JobStatus::Succeeded, None, None)
        .await
        .unwrap();
    assert!(f
        .lb
        .catalog()
        .mark_deleting(&backup.backup_id)
        .await
        .unwrap());
}
