//! Restores against the real PostgreSQL cluster, the real S3-compatible server and the real
//! keyring. Every fault case ends by proving the destination unchanged: the same row
//! checksums and the same media file hashes as before the attempt.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use common::fixture::{both, fixture, hold_lock, s3, wait_finished, waiting_on_lock, Fixture};
use common::media_hashes;
use lifeboat_core::format::artifact::ArtifactInfo;
use lifeboat_core::format::layout::{DATABASE_FILE, MEDIA_FILE};
use lifeboat_core::format::manifest::{BackupKind, BackupManifest};
use lifeboat_core::format::media::{MediaEntry, MediaEntryKind, MediaManifest};
use lifeboat_core::{
    BackupRecord, EnvironmentInput, ErrorCode, JobOutcome, JobRequest, JobStatus, RestoreRequest,
};
use sha2::{Digest, Sha256};
use sqlx::Executor;

fn restore_request(backup_id: &str, env_id: &str, confirmation: &str) -> RestoreRequest {
    RestoreRequest {
        backup_id: backup_id.to_owned(),
        environment_id: env_id.to_owned(),
        database: true,
        media: true,
        safety_backup: true,
        confirmation: Some(confirmation.to_owned()),
    }
}

/// What a day of use does to production after the backup.
async fn change_production(f: &Fixture) {
    let mut db = common::connect(&f.database).await;
    db.execute(
        "UPDATE shop_order SET total = 0 WHERE id < 100;
         DELETE FROM shop_order WHERE id > 4000;
         INSERT INTO django_migrations (app, name) VALUES ('shop', '0003_refunds');
         SELECT nextval('shop_invoice_number');",
    )
    .await
    .unwrap();
    let media = f.media.path();
    std::fs::write(media.join("uploads/new-upload.png"), b"new").unwrap();
    std::fs::write(media.join("uploads/2026/11/photo.jpg"), b"overwritten").unwrap();
    std::fs::remove_file(media.join("uploads/zero-bytes.txt")).unwrap();
}

/// Staging or replaced directories a restore left beside the media directory (other tests'
/// media directories share the parent).
fn leftovers_beside(dir: &Path) -> Vec<String> {
    let own = format!(".{}.lifeboat-", dir.file_name().unwrap().to_string_lossy());
    std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&own))
        .collect()
}

#[tokio::test]
async fn a_restore_brings_back_the_backup_and_its_safety_backup_undoes_it() {
    let f = fixture(s3()).await;
    let original_db = common::fingerprint(&f.database).await;
    let original_media = media_hashes(f.media.path());
    let good = f.lb.backup(&both(&f.env_id, "good")).await.unwrap();
    change_production(&f).await;
    let changed_db = common::fingerprint(&f.database).await;
    let changed_media = media_hashes(f.media.path());
    assert_ne!(changed_db, original_db);
    assert_ne!(changed_media, original_media);

    let preview =
        f.lb.restore_preview(&good.backup_id, &f.env_id)
            .await
            .unwrap();
    assert!(preview.same_environment);
    assert!(
        preview.requires_typed_confirmation,
        "production needs its name typed"
    );
    let summary =
        f.lb.restore(&restore_request(&good.backup_id, &f.env_id, "production"))
            .await
            .unwrap();

    assert_eq!(common::fingerprint(&f.database).await, original_db);
    assert_eq!(media_hashes(f.media.path()), original_media);
    assert!(summary.checks_passed(), "{summary:#?}");
    let database = summary.database.as_ref().unwrap();
    assert_eq!(database.tables, 3);
    assert!(database.extensions.contains(&"pgcrypto".to_owned()));
    assert!(database
        .latest_migrations
        .iter()
        .any(|m| m.app == "shop" && m.name == "0002_order_note"));
    assert_eq!(summary.media.as_ref().unwrap().files, 5);
    assert_eq!(leftovers_beside(f.media.path()), Vec::<String>::new());

    // The safety backup holds the changed state and is listed with its note.
    let safety = summary.safety_backup_id.clone().expect("a safety backup");
    let listed = f.lb.list_backups(&f.env_id).await.unwrap();
    let safety_record = listed
        .iter()
        .filter_map(|e| e.backup.as_ref())
        .find(|b| b.id == safety)
        .expect("the safety backup is listed");
    assert_eq!(
        safety_record.manifest.note.as_deref(),
        Some(format!("before restore of {}", good.backup_id).as_str())
    );
    // A kind of its own: retention keeps it apart from the user's on-demand backups.
    assert_eq!(safety_record.manifest.kind, BackupKind::Safety);
    // The destination's activity shows the restore and where its backup came from.
    let activity = f.lb.activity(&f.env_id).await.unwrap();
    let restore = activity
        .iter()
        .find(|a| {
            a.job
                .as_ref()
                .is_some_and(|j| j.request.kind() == "restore")
        })
        .expect("the restore is in the activity");
    assert_eq!(restore.restored_from.as_deref(), Some("shop / production"));
    let restore_job =
        f.lb.catalog()
            .jobs_of(&f.env_id)
            .await
            .unwrap()
            .into_iter()
            .find(|j| matches!(j.request, JobRequest::Restore(_)))
            .unwrap();
    assert_eq!(restore_job.status, JobStatus::Succeeded);
    assert_eq!(restore_job.outcome, Some(JobOutcome::Restore(summary)));

    let mut undo = restore_request(&safety, &f.env_id, "production");
    undo.safety_backup = false;
    f.lb.restore(&undo).await.unwrap();
    assert_eq!(common::fingerprint(&f.database).await, changed_db);
    assert_eq!(media_hashes(f.media.path()), changed_media);
}

#[tokio::test]
async fn a_backup_restores_into_another_environment_leaving_its_own_alone() {
    let f = fixture(s3()).await;
    let original_db = common::fingerprint(&f.database).await;
    let original_media = media_hashes(f.media.path());
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();

    let staging_db = common::create_database("staging").await;
    common::connect(&staging_db)
        .await
        .execute("CREATE TABLE shop_order (id int); INSERT INTO shop_order VALUES (1);")
        .await
        .unwrap();
    let staging_media = tempfile::tempdir().unwrap();
    std::fs::write(staging_media.path().join("old.txt"), b"staging only").unwrap();
    let app_id =
        f.lb.catalog()
            .environment(&f.env_id)
            .await
            .unwrap()
            .application_id;
    let staging =
        f.lb.create_environment(&EnvironmentInput {
            application_id: app_id,
            name: "staging".into(),
            connection: Some(common::pg_input(&staging_db)),
            media_dir: Some(staging_media.path().display().to_string()),
            target_id: Some(f.target_id.clone()),
        })
        .await
        .unwrap();

    let preview =
        f.lb.restore_preview(&good.backup_id, &staging.id)
            .await
            .unwrap();
    assert!(!preview.same_environment);
    assert!(preview.requires_typed_confirmation);
    for typed in [None, Some("production".to_owned())] {
        let mut request = restore_request(&good.backup_id, &staging.id, "");
        request.confirmation = typed;
        let e = f.lb.restore(&request).await.unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::Validation, Some("confirmation"))
        );
    }

    let summary =
        f.lb.restore(&restore_request(&good.backup_id, &staging.id, "staging"))
            .await
            .unwrap();
    assert!(summary.checks_passed(), "{summary:#?}");
    assert_eq!(common::fingerprint(&staging_db).await, original_db);
    assert_eq!(media_hashes(staging_media.path()), original_media);
    assert_eq!(common::fingerprint(&f.database).await, original_db);
    assert_eq!(media_hashes(f.media.path()), original_media);
    let safety = summary.safety_backup_id.unwrap();
    let staging_backups = f.lb.list_backups(&staging.id).await.unwrap();
    assert!(staging_backups
        .iter()
        .any(|e| e.backup.as_ref().is_some_and(|b| b.id == safety)));
}

/// Production after `change_production`, to compare with after a failed restore.
struct Before {
    db: Vec<(String, i64, String)>,
    media: BTreeMap<String, String>,
}

async fn changed_state(f: &Fixture) -> Before {
    change_production(f).await;
    Before {
        db: common::fingerprint(&f.database).await,
        media: media_hashes(f.media.path()),
    }
}

async fn assert_unchanged(f: &Fixture, before: &Before) {
    assert_eq!(common::fingerprint(&f.database).await, before.db);
    assert_eq!(media_hashes(f.media.path()), before.media);
    assert_eq!(leftovers_beside(f.media.path()), Vec::<String>::new());
}

async fn stored_key(f: &Fixture, backup: &BackupManifest, name: &str) -> String {
    let record = f.lb.backup_record(&backup.backup_id).await.unwrap();
    format!("{}/{name}", record.storage_dir)
}

fn without_safety_backup(backup_id: &str, env_id: &str) -> RestoreRequest {
    let mut request = restore_request(backup_id, env_id, "production");
    request.safety_backup = false;
    request
}

#[tokio::test]
async fn a_flipped_byte_in_the_dump_is_refused_before_pg_restore_with_nothing_changed() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let before = changed_state(&f).await;
    let key = stored_key(&f, &good, DATABASE_FILE).await;
    let storage = f.storage().await;
    let mut bytes = storage.get(&key).await.unwrap().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    storage.put(&key, bytes).await.unwrap();

    let e =
        f.lb.restore(&without_safety_backup(&good.backup_id, &f.env_id))
            .await
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::ChecksumMismatch, "{e:?}");
    assert_unchanged(&f, &before).await;
}

#[tokio::test]
async fn a_truncated_media_artifact_stops_the_restore_and_the_database_rolls_back() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let before = changed_state(&f).await;
    let key = stored_key(&f, &good, MEDIA_FILE).await;
    let storage = f.storage().await;
    let bytes = storage.get(&key).await.unwrap();
    storage
        .put(&key, bytes[..bytes.len() * 2 / 3].to_vec())
        .await
        .unwrap();

    let e =
        f.lb.restore(&without_safety_backup(&good.backup_id, &f.env_id))
            .await
            .unwrap_err();
    assert!(
        matches!(
            e.code,
            ErrorCode::ArtifactCorrupt | ErrorCode::ChecksumMismatch
        ),
        "{e:?}"
    );
    assert_unchanged(&f, &before).await;
}

#[tokio::test]
async fn pg_restore_failing_part_way_leaves_the_database_as_it_was() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    // An object the dump does not know depends on a table the restore must drop.
    common::connect(&f.database)
        .await
        .execute("CREATE VIEW big_orders AS SELECT * FROM shop_order WHERE total > 50")
        .await
        .unwrap();
    let before = changed_state(&f).await;

    let e =
        f.lb.restore(&without_safety_backup(&good.backup_id, &f.env_id))
            .await
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::PgRestoreFailed, "{e:?}");
    assert!(e.message.contains("big_orders"), "{}", e.message);
    assert_unchanged(&f, &before).await;
}

#[tokio::test]
async fn cancelling_a_restore_leaves_the_destination_as_it_was() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let before = changed_state(&f).await;
    let mut lock = hold_lock(&f.database).await;
    let job =
        f.lb.start_restore(&without_safety_backup(&good.backup_id, &f.env_id))
            .await
            .unwrap();
    waiting_on_lock(&f.database).await;
    assert!(f.lb.catalog().job(&job.id).await.unwrap().cancellable);
    assert!(f.lb.cancel_job(&job.id));
    let finished = wait_finished(&f.lb, &job).await;
    assert_eq!(finished.status, JobStatus::Cancelled);
    lock.execute("ROLLBACK").await.unwrap();
    assert_unchanged(&f, &before).await;
}

#[tokio::test]
async fn a_destination_server_older_than_the_source_is_refused_before_anything_starts() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let before = changed_state(&f).await;
    // The cluster has one version, so the backup's record claims a newer source server.
    let mut record = f.lb.backup_record(&good.backup_id).await.unwrap();
    record.id = "from-the-future".into();
    record.job_id = None;
    record.manifest.backup_id = record.id.clone();
    record.manifest.database.as_mut().unwrap().server_version = "99.1".into();
    f.lb.catalog()
        .insert_backup(&record, &f.env_id)
        .await
        .unwrap();

    let e =
        f.lb.restore(&without_safety_backup(&record.id, &f.env_id))
            .await
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::PgServerTooOld, "{e:?}");
    assert_unchanged(&f, &before).await;
}

/// A media archive with one hostile entry among good ones, with a media manifest and stored
/// checksums that all match, so only the path checks can stop it.
fn hostile_archive(name: &[u8], kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let good = b"fine";
    let mut header = tar::Header::new_gnu();
    header.set_size(good.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "media/ok.txt", &good[..])
        .unwrap();
    let body = b"escaped";
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(if link.is_some() { 0 } else { body.len() as u64 });
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    if let Some(target) = link {
        header.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
    }
    header.set_cksum();
    if link.is_some() {
        tar.append(&header, std::io::empty()).unwrap();
    } else {
        tar.append(&header, &body[..]).unwrap();
    }
    let relative = String::from_utf8_lossy(name)
        .trim_start_matches("media/")
        .to_owned();
    let listing = MediaManifest {
        format: 1,
        entries: vec![
            MediaEntry {
                path: "ok.txt".into(),
                kind: MediaEntryKind::File,
                size: good.len() as u64,
                mtime: 0,
                mode: 0o644,
                sha256: Some(format!("{:x}", Sha256::digest(good))),
                link_target: None,
                object: None,
            },
            MediaEntry {
                path: relative,
                kind: if link.is_some() {
                    MediaEntryKind::Symlink
                } else {
                    MediaEntryKind::File
                },
                size: 0,
                mtime: 0,
                mode: 0o644,
                sha256: link
                    .is_none()
                    .then(|| format!("{:x}", Sha256::digest(body))),
                link_target: link.map(str::to_owned),
                object: None,
            },
        ],
    };
    let listing = serde_json::to_vec(&listing).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(listing.len() as u64);
    header.set_mode(0o644);
    tar.append_data(
        &mut header,
        lifeboat_core::format::media::MANIFEST_NAME,
        listing.as_slice(),
    )
    .unwrap();
    tar.into_inner().unwrap()
}

/// zstd, then age to `recipient`: what Lifeboat stores.
fn seal(plain: &[u8], recipient: &str, name: &str) -> (Vec<u8>, ArtifactInfo) {
    let compressed = zstd::encode_all(plain, 3).unwrap();
    let recipient: age::x25519::Recipient = recipient.parse().unwrap();
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let mut stored = Vec::new();
    let mut writer = encryptor.wrap_output(&mut stored).unwrap();
    writer.write_all(&compressed).unwrap();
    writer.finish().unwrap();
    let info = ArtifactInfo {
        name: name.to_owned(),
        plaintext_bytes: plain.len() as u64,
        plaintext_sha256: format!("{:x}", Sha256::digest(plain)),
        stored_bytes: stored.len() as u64,
        stored_sha256: format!("{:x}", Sha256::digest(&stored)),
        chunked: None,
    };
    (stored, info)
}

#[tokio::test]
async fn media_archives_with_paths_leaving_the_root_are_refused_before_any_file_lands() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let before = changed_state(&f).await;
    let outside = f
        .media
        .path()
        .parent()
        .unwrap()
        .join(format!("lifeboat-escaped-{}.txt", std::process::id()));
    let absolute = format!("/{}", outside.display().to_string().trim_start_matches('/'));
    let cases: Vec<(Vec<u8>, tar::EntryType, Option<&str>)> = vec![
        (
            b"media/../../escaped.txt".to_vec(),
            tar::EntryType::Regular,
            None,
        ),
        (absolute.as_bytes().to_vec(), tar::EntryType::Regular, None),
        (
            b"media/uploads/evil-link".to_vec(),
            tar::EntryType::Symlink,
            Some("../../../etc"),
        ),
    ];
    let original = f.lb.backup_record(&good.backup_id).await.unwrap();
    for (i, (name, kind, link)) in cases.into_iter().enumerate() {
        let plain = hostile_archive(&name, kind, link);
        let (stored, info) = seal(
            &plain,
            &good.encryption.recipient,
            &format!("hostile-{i}.tar.zst.age"),
        );
        f.storage()
            .await
            .put(&format!("{}/{}", original.storage_dir, info.name), stored)
            .await
            .unwrap();
        let mut record: BackupRecord = original.clone();
        record.id = format!("hostile-{i}");
        record.job_id = None;
        record.manifest.backup_id = record.id.clone();
        record.manifest.media.as_mut().unwrap().artifact = info;
        f.lb.catalog()
            .insert_backup(&record, &f.env_id)
            .await
            .unwrap();

        let mut request = without_safety_backup(&record.id, &f.env_id);
        request.database = false;
        let e = f.lb.restore(&request).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsafeArchive, "case {i}: {e:?}");
        assert!(!outside.exists(), "case {i}");
        assert_unchanged(&f, &before).await;
    }
}
