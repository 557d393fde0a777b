//! Deduplicated media backups (storage format 2) against real storage: what a second backup
//! adds, and that a deduplicated backup downloads, verifies and restores exactly as a full one.

mod common;

use common::fixture::{self, Fixture};
use common::s3_proxy::S3Proxy;

async fn deduplicate(s: &Fixture, on: bool) {
    let mut settings = s.lb.settings().await.unwrap();
    settings.deduplicate = on;
    s.lb.update_settings(&settings).await.unwrap();
}

/// The bytes of every pack in the target's repository.
async fn pack_bytes(s: &Fixture) -> u64 {
    let storage = s.storage().await;
    let mut total = 0;
    for name in storage.list("_chunks/packs").await.unwrap() {
        total += storage
            .get(&format!("_chunks/packs/{name}"))
            .await
            .unwrap()
            .len() as u64;
    }
    total
}

/// Forty incompressible files of 200 kB beside the fixture's media.
fn add_uploads(root: &std::path::Path) {
    std::fs::create_dir_all(root.join("gallery")).unwrap();
    for i in 0..40 {
        common::write_incompressible(&root.join(format!("gallery/{i:02}.jpg")), 200_000 + i);
    }
}

#[tokio::test]
async fn a_second_backup_after_a_small_change_stores_only_the_new_content() {
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;

    let first = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    assert_eq!(first.format, 2);
    let after_first = pack_bytes(&s).await;
    assert!(after_first > 8_000_000, "{after_first} bytes of packs");

    // One upload replaced, one added: 2 × 200 kB of new content.
    common::write_incompressible(&s.media.path().join("gallery/07.jpg"), 150_000);
    std::fs::write(s.media.path().join("gallery/new.jpg"), vec![7u8; 60_000]).unwrap();
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let added = pack_bytes(&s).await - after_first;
    assert!(added > 150_000 && added < 300_000, "{added} bytes added");

    // Nothing changed: no new pack at all.
    let before = pack_bytes(&s).await;
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    assert_eq!(pack_bytes(&s).await, before);
}

#[tokio::test]
async fn a_deduplicated_backup_downloads_verifies_and_restores_as_a_full_one() {
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    let full = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    assert_eq!(full.format, 1);
    deduplicate(&s, true).await;
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let deduplicated = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    assert!(deduplicated
        .media
        .as_ref()
        .unwrap()
        .artifact
        .chunked
        .is_some());

    // The same tar, byte for byte.
    let (_a, full_tar) = fixture::downloaded_media_tar(&s.lb, &full.backup_id).await;
    let (_b, dedup_tar) = fixture::downloaded_media_tar(&s.lb, &deduplicated.backup_id).await;
    assert_eq!(
        fixture::sha256sum(&dedup_tar),
        fixture::sha256sum(&full_tar)
    );

    let report = s.lb.verify_backup(&deduplicated.backup_id).await.unwrap();
    assert!(report.ok, "{report:?}");

    // Into another environment's empty folder: the same files.
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().join("media");
    std::fs::create_dir(&dir).unwrap();
    let app = s.lb.environment(&s.env_id).await.unwrap().application_id;
    let staging = fixture::environment(&s.lb, &app, "staging", Some(&dir)).await;
    let request = fixture::restore_media(&deduplicated.backup_id, &staging.id, "staging", false);
    s.lb.restore(&request).await.unwrap();
    assert_eq!(
        common::media_hashes(&dir),
        common::media_hashes(s.media.path())
    );
}

#[tokio::test]
async fn a_missing_pack_is_reported_with_every_backup_it_breaks_and_the_next_backup_stores_it_anew()
{
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    let first = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    // Nothing changed: the second backup's files are all in the first one's packs.
    let second = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let storage = s.storage().await;
    let packs = storage.list("_chunks/packs").await.unwrap();
    storage
        .delete(&format!("_chunks/packs/{}", packs[0]))
        .await
        .unwrap();

    let report = s.lb.verify_backup(&second.backup_id).await.unwrap();
    assert!(!report.ok, "{report:?}");
    let affected = report
        .checks
        .iter()
        .find(|c| c.name == "backups affected")
        .unwrap_or_else(|| panic!("{report:?}"));
    assert!(!affected.ok);
    for id in [&first.backup_id, &second.backup_id] {
        assert!(affected.detail.contains(id.as_str()), "{affected:?}");
    }
    // The other backup the pack broke no longer looks verified.
    let earlier = s.lb.catalog().backup(&first.backup_id).await.unwrap();
    assert!(!earlier.verification.unwrap().ok);

    // The next backup takes nothing from the missing pack: it reads those files again and
    // stores them anew, and is whole.
    let third = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let report = s.lb.verify_backup(&third.backup_id).await.unwrap();
    assert!(report.ok, "{report:?}");
    let unpacked = fixture::downloaded_media(&s.lb, &third.backup_id).await;
    assert_eq!(
        common::media_hashes(&unpacked.path().join("media")),
        common::media_hashes(s.media.path())
    );
}

#[tokio::test]
async fn a_deduplicated_artifact_rebuilds_by_hand_with_the_documented_script() {
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    let backup = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("recovery-key.txt");
    s.lb.export_recovery_key(&key).await.unwrap();
    let target = s.lb.catalog().target(&s.target_id).await.unwrap();
    let lifeboat_core::TargetConfig::Local(local) = target.config else {
        panic!("a local target")
    };
    let record = s.lb.catalog().backup(&backup.backup_id).await.unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rebuild-artifact.py");
    let tar = common::run(
        std::process::Command::new("python3")
            .arg(script)
            .arg(&key)
            .arg(&local.path)
            .arg(&record.storage_dir)
            .arg(lifeboat_core::format::layout::MEDIA_TREE_FILE),
    );
    let chunked = backup.media.unwrap().artifact.chunked.unwrap();
    assert_eq!(tar.len() as u64, chunked.plaintext_bytes);
    let sha = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&tar));
    assert_eq!(Some(sha), chunked.plaintext_sha256);
}

#[tokio::test]
async fn a_deduplicated_dump_stores_only_the_chunks_that_changed_and_restores_exactly() {
    let s = fixture::fixture(fixture::Target::Local).await;
    let mut db = common::connect(&s.database).await;
    sqlx::query(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) || repeat('x', 40) AS payload FROM generate_series(1, 200000) g",
    )
    .execute(&mut db)
    .await
    .unwrap();
    deduplicate(&s, true).await;

    let first =
        s.lb.backup(&fixture::database_only(&s.env_id))
            .await
            .unwrap();
    assert_eq!(first.format, 2);
    assert!(first.database.as_ref().unwrap().artifact.chunked.is_some());
    let after_first = pack_bytes(&s).await;
    let before = common::fingerprint(&s.database).await;

    // A few new rows in another table: the dump changes in one place.
    sqlx::query("CREATE TABLE note AS SELECT g AS id FROM generate_series(1, 1000) g")
        .execute(&mut db)
        .await
        .unwrap();
    s.lb.backup(&fixture::database_only(&s.env_id))
        .await
        .unwrap();
    let added = pack_bytes(&s).await - after_first;
    assert!(
        added * 4 < after_first,
        "{added} bytes added to {after_first}"
    );

    // The first backup, restored over the changed database: exactly what it held.
    drop(db);
    let request = fixture::restore_database(&first.backup_id, &s.env_id, "production", false);
    s.lb.restore(&request).await.unwrap();
    assert_eq!(common::fingerprint(&s.database).await, before);
    let report = s.lb.verify_backup(&first.backup_id).await.unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn a_deduplicated_dump_missing_a_pack_part_way_fails_the_restore_and_changes_nothing() {
    let s = fixture::fixture(fixture::Target::Local).await;
    let mut db = common::connect(&s.database).await;
    // Hex digests compress to about half: some 20 MB of packs, so the dump spans several packs
    // and is read in several runs.
    sqlx::query(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS payload FROM generate_series(1, 400000) g",
    )
    .execute(&mut db)
    .await
    .unwrap();
    deduplicate(&s, true).await;
    let backup =
        s.lb.backup(&fixture::database_only(&s.env_id))
            .await
            .unwrap();
    assert!(packs(&s).await.len() >= 2, "{:?}", packs(&s).await);

    // The pack sealed last holds the end of the dump: pg_restore has read the start of it when
    // the restore finds the pack missing.
    let target = s.lb.catalog().target(&s.target_id).await.unwrap();
    let lifeboat_core::TargetConfig::Local(local) = target.config else {
        panic!("a local target")
    };
    let pack_dir = std::path::Path::new(&local.path).join("_chunks/packs");
    let last = packs(&s)
        .await
        .into_iter()
        .max_by_key(|name| {
            std::fs::metadata(pack_dir.join(name))
                .unwrap()
                .modified()
                .unwrap()
        })
        .unwrap();
    std::fs::remove_file(pack_dir.join(&last)).unwrap();
    sqlx::query("UPDATE big SET payload = 'changed' WHERE id % 10 = 0")
        .execute(&mut db)
        .await
        .unwrap();
    drop(db);
    let before = common::fingerprint(&s.database).await;

    let request = fixture::restore_database(&backup.backup_id, &s.env_id, "production", false);
    let err = s.lb.restore(&request).await.unwrap_err();
    assert!(
        matches!(
            err.code,
            lifeboat_core::ErrorCode::StorageError | lifeboat_core::ErrorCode::ArtifactCorrupt
        ),
        "{err:?}"
    );
    assert_eq!(common::fingerprint(&s.database).await, before);
}

/// The packs in the target's repository.
async fn packs(s: &Fixture) -> Vec<String> {
    s.storage().await.list("_chunks/packs").await.unwrap()
}

/// The downloaded media tar's SHA-256 of a backup.
async fn media_tar_sha(s: &Fixture, backup_id: &str) -> String {
    let unpacked = fixture::downloaded_media(&s.lb, backup_id).await;
    let mut listing: Vec<_> = common::media_hashes(&unpacked.path().join("media"))
        .into_iter()
        .collect();
    listing.sort();
    format!("{listing:?}")
}

/// Deletes a backup the way prune does, by a policy that keeps only the newest `keep`.
async fn keep_newest(s: &Fixture, keep: u32) -> lifeboat_core::PruneReport {
    s.lb.set_retention(
        &s.env_id,
        &lifeboat_core::RetentionPolicy {
            on_demand_keep_recent: keep,
            on_demand_max_age_days: 0,
            daily: 0,
            weekly: 0,
            monthly: 0,
        },
    )
    .await
    .unwrap();
    s.lb.prune(&s.env_id, false).await.unwrap()
}

#[tokio::test]
async fn a_cleanup_frees_packs_only_deleted_backups_used_and_every_kept_backup_stays_whole() {
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    // Uploads that come and go between backups: their pack is used by one backup only.
    std::fs::create_dir_all(s.media.path().join("tmp")).unwrap();
    for i in 0..10 {
        common::write_incompressible(&s.media.path().join(format!("tmp/{i}.bin")), 300_000 + i);
    }
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    std::fs::remove_dir_all(s.media.path().join("tmp")).unwrap();
    common::write_incompressible(&s.media.path().join("gallery/late.jpg"), 100_000);
    let third = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let fourth = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let before = (
        media_tar_sha(&s, &third.backup_id).await,
        media_tar_sha(&s, &fourth.backup_id).await,
    );
    let packs_before = packs(&s).await;

    // Prune keeps the newest two; with a day's grace its cleanup only condemns.
    let pruned = keep_newest(&s, 2).await;
    assert_eq!(pruned.deleted().count(), 2);
    let reclaimed = pruned.reclaimed.expect("a cleanup ran");
    assert_eq!((reclaimed.condemned, reclaimed.deleted), (1, 0));
    assert_eq!(packs(&s).await, packs_before);

    // Once the grace is over, the pack only the deleted backups used goes; nothing else.
    let report =
        s.lb.reclaim_storage(&s.target_id, std::time::Duration::ZERO)
            .await
            .unwrap();
    assert_eq!((report.condemned, report.deleted), (0, 1));
    assert_eq!(packs(&s).await.len(), packs_before.len() - 1);
    for (backup, sha) in [(&third, &before.0), (&fourth, &before.1)] {
        assert_eq!(&media_tar_sha(&s, &backup.backup_id).await, sha);
        assert!(s.lb.verify_backup(&backup.backup_id).await.unwrap().ok);
    }
}

#[tokio::test]
async fn a_backup_never_relies_on_a_pack_a_cleanup_condemned() {
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let tmp = s.media.path().join("tmp");
    let add_tmp = || {
        std::fs::create_dir_all(&tmp).unwrap();
        for i in 0..10 {
            common::write_incompressible(&tmp.join(format!("{i}.bin")), 300_000 + i);
        }
    };
    add_tmp();
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    std::fs::remove_dir_all(&tmp).unwrap();
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    // The two older backups go; the pack only the second one used is condemned.
    let pruned = keep_newest(&s, 1).await;
    assert_eq!(pruned.reclaimed.unwrap().condemned, 1);

    // The same files again: stored anew rather than taken from the condemned pack…
    add_tmp();
    let before = packs(&s).await;
    let after = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    assert_eq!(packs(&s).await.len(), before.len() + 1);
    // …so deleting the condemned pack leaves the new backup whole.
    let report =
        s.lb.reclaim_storage(&s.target_id, std::time::Duration::ZERO)
            .await
            .unwrap();
    assert_eq!(report.deleted, 1);
    assert!(s.lb.verify_backup(&after.backup_id).await.unwrap().ok);
}

#[tokio::test]
async fn a_drill_restores_a_deduplicated_backup_and_checks_it() {
    let s = fixture::fixture(fixture::Target::Local).await;
    deduplicate(&s, true).await;
    let backup = s.lb.backup(&fixture::both(&s.env_id, "")).await.unwrap();
    assert_eq!(backup.format, 2);
    let request = lifeboat_core::DrillRequest {
        environment_id: s.env_id.clone(),
        backup_id: Some(backup.backup_id.clone()),
    };
    let report = s.lb.drill(&request, None).await.unwrap();
    assert!(report.ok, "{:?}", report.checks);
    assert!(report.checks.iter().any(|c| c.name == "media" && c.ok));
}

#[tokio::test]
async fn a_deduplicated_backup_made_elsewhere_is_found_by_catalog_sync_and_downloads_the_same() {
    let s = fixture::fixture(fixture::s3()).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    let backup = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let here = media_tar_sha(&s, &backup.backup_id).await;

    let (_home, other, target) = s.elsewhere().await;
    let report = other.sync_catalog(&target.id).await.unwrap();
    assert!(report.incomplete.is_empty(), "{:?}", report.incomplete);
    assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
    assert!(
        report.imported.iter().any(|id| id == &backup.backup_id),
        "{report:?}"
    );
    let unpacked = fixture::downloaded_media(&other, &backup.backup_id).await;
    let mut listing: Vec<_> = common::media_hashes(&unpacked.path().join("media"))
        .into_iter()
        .collect();
    listing.sort();
    assert_eq!(format!("{listing:?}"), here);
}

/// The SHA-256 a deduplicated media artifact's plaintext was recorded with: absent when the
/// backup took unchanged files' content from the one before without reading it.
fn plaintext_sha(backup: &lifeboat_core::BackupManifest) -> Option<String> {
    let artifact = &backup.media.as_ref().unwrap().artifact;
    artifact.chunked.as_ref().unwrap().plaintext_sha256.clone()
}

#[tokio::test]
async fn unchanged_files_are_taken_unread_and_a_file_rewritten_behind_its_old_mtime_is_read() {
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    let first = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    assert!(
        plaintext_sha(&first).is_some(),
        "a first backup reads every file"
    );

    // Rewritten in place with the same size, and its modification time put back (as
    // `rsync -t` or `touch -r` leave a file): its change time still tells.
    let rewritten = s.media.path().join("gallery/05.jpg");
    let modified = std::fs::metadata(&rewritten).unwrap().modified().unwrap();
    let mut body = std::fs::read(&rewritten).unwrap();
    body.iter_mut().take(1000).for_each(|b| *b = !*b);
    std::fs::write(&rewritten, &body).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&rewritten)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let packs_before = pack_bytes(&s).await;

    let second = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    assert_eq!(
        plaintext_sha(&second),
        None,
        "unchanged files were taken unread"
    );
    let added = pack_bytes(&s).await - packs_before;
    assert!(added > 0 && added < 250_000, "{added} bytes added");
    let unpacked = fixture::downloaded_media(&s.lb, &second.backup_id).await;
    assert_eq!(
        common::media_hashes(&unpacked.path().join("media")),
        common::media_hashes(s.media.path())
    );
    let report = s.lb.verify_backup(&second.backup_id).await.unwrap();
    assert!(report.ok, "{report:?}");

    // A full rescan reads everything, and makes the very same archive.
    let rescanned =
        s.lb.backup(&lifeboat_core::BackupRequest {
            full_rescan: true,
            ..fixture::media_only(&s.env_id)
        })
        .await
        .unwrap();
    assert!(plaintext_sha(&rescanned).is_some());
    let (_a, second_tar) = fixture::downloaded_media_tar(&s.lb, &second.backup_id).await;
    let (_b, rescanned_tar) = fixture::downloaded_media_tar(&s.lb, &rescanned.backup_id).await;
    assert_eq!(
        fixture::sha256sum(&second_tar),
        fixture::sha256sum(&rescanned_tar)
    );
}

/// The GET requests for packs among the requests the S3 server received.
fn pack_reads(proxy: &S3Proxy) -> usize {
    proxy
        .request_heads()
        .iter()
        .filter(|head| head.starts_with("GET ") && head.contains("/_chunks/packs/"))
        .count()
}

#[tokio::test]
async fn the_check_after_a_deduplicated_backup_reads_a_sample_and_catches_a_vanished_pack() {
    let proxy = common::s3_proxy::S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let mut settings = common::s3_settings();
    settings.endpoint = Some(proxy.endpoint.clone());
    let s = fixture::fixture(fixture::Target::S3(settings, common::s3_secret())).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    let storage = s.storage().await;

    let before = pack_reads(&proxy);
    let first = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let record = s.lb.catalog().backup(&first.backup_id).await.unwrap();
    let checked = record.verification.expect("checked after the backup");
    assert!(checked.ok && checked.sampled, "{checked:?}");
    let names: Vec<_> = checked.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["media tree", "packs in storage", "sample read back"]
    );
    // Today's sample of the packs (at least one) read back whole: a request per pack, where a
    // full verification makes one per blob.
    let packs = storage.list("_chunks/packs").await.unwrap();
    let light = pack_reads(&proxy) - before;
    assert!(light >= 1 && light <= packs.len(), "{light} of {packs:?}");

    // A full verification reads from every pack (what its blobs span, a few MiB a request).
    let before = proxy.request_heads().len();
    let full = s.lb.verify_backup(&first.backup_id).await.unwrap();
    assert!(full.ok && !full.sampled, "{full:?}");
    let read: Vec<String> = proxy.request_heads()[before..]
        .iter()
        .filter_map(|head| head.lines().next().map(str::to_owned))
        .collect();
    for pack in &packs {
        let name = pack.rsplit('/').next().unwrap();
        assert!(
            read.iter()
                .any(|line| line.starts_with("GET ") && line.contains(name)),
            "{pack} unread: {read:#?}"
        );
    }

    // A pack vanishes from the bucket; the next backup takes its blobs from the index, and the
    // check after it says so (the backup is kept, marked).
    for pack in &packs {
        storage
            .delete(&format!("_chunks/packs/{pack}"))
            .await
            .unwrap();
    }
    let second = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let record = s.lb.catalog().backup(&second.backup_id).await.unwrap();
    let checked = record.verification.expect("checked after the backup");
    assert!(!checked.ok, "{checked:?}");
    let present = &checked.checks[1];
    assert!(
        !present.ok && present.detail.contains("is missing"),
        "{present:?}"
    );
}

/// Every object of the target, to put back as it was.
async fn snapshot(storage: &lifeboat_core::Storage) -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    for name in storage.list("").await.unwrap() {
        objects.push((name.clone(), storage.get(&name).await.unwrap().to_vec()));
    }
    objects
}

async fn put_back(storage: &lifeboat_core::Storage, objects: &[(String, Vec<u8>)]) {
    for name in storage.list("").await.unwrap() {
        storage.delete(&name).await.unwrap();
    }
    for (name, body) in objects {
        storage.put(name, body.clone()).await.unwrap();
    }
}

#[tokio::test]
async fn a_cleanup_cut_off_at_any_request_loses_nothing_a_kept_backup_needs_and_the_next_finishes()
{
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let mut settings = common::s3_settings();
    settings.endpoint = Some(proxy.endpoint.clone());
    let s = fixture::fixture(fixture::Target::S3(settings, common::s3_secret())).await;
    deduplicate(&s, true).await;
    // Three backups of wholly different uploads: a pack each.
    let gallery = s.media.path().join("gallery");
    let mut kept = None;
    for round in 0..3 {
        let _ = std::fs::remove_dir_all(&gallery);
        std::fs::create_dir_all(&gallery).unwrap();
        for i in 0..6 {
            common::write_incompressible(
                &gallery.join(format!("{i}.jpg")),
                150_000 + round * 100 + i,
            );
        }
        kept = Some(s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap());
    }
    let kept = kept.unwrap();
    let kept_sha = media_tar_sha(&s, &kept.backup_id).await;
    // The two older backups go. The first one's pack also holds the fixture's own media, which
    // the kept backup uses: only the second one's pack is condemned.
    assert_eq!(keep_newest(&s, 1).await.reclaimed.unwrap().condemned, 1);
    let storage = s.storage().await;
    let before = snapshot(&storage).await;

    // An uncut cleanup, to count its requests.
    let heads = proxy.request_heads().len();
    let report =
        s.lb.reclaim_storage(&s.target_id, std::time::Duration::ZERO)
            .await
            .unwrap();
    assert_eq!(report.deleted, 1);
    let steps = proxy.request_heads().len() - heads;
    let whole_packs = packs(&s).await;

    for cut in 0..steps {
        put_back(&storage, &before).await;
        proxy.stop_after(cut);
        let cut_off =
            s.lb.reclaim_storage(&s.target_id, std::time::Duration::ZERO)
                .await;
        proxy.restart();
        assert!(cut_off.is_err(), "cut after {cut} of {steps} requests");
        let verified = s.lb.verify_backup(&kept.backup_id).await.unwrap();
        assert!(verified.ok, "cut after {cut}: {verified:?}");
        // The next cleanup finishes the work.
        s.lb.reclaim_storage(&s.target_id, std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(packs(&s).await, whole_packs, "cut after {cut}");
        assert_eq!(media_tar_sha(&s, &kept.backup_id).await, kept_sha);
    }
}

#[tokio::test]
async fn packs_a_killed_backup_left_unindexed_are_cleaned_up_and_another_keys_are_not() {
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    let kept = s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let storage = s.storage().await;
    let before: std::collections::HashSet<String> =
        storage.list("").await.unwrap().into_iter().collect();
    // A backup of new files, then everything it wrote but its packs taken away: what a backup
    // killed after uploading packs and before writing its index leaves.
    std::fs::create_dir_all(s.media.path().join("new")).unwrap();
    for i in 0..10 {
        common::write_incompressible(&s.media.path().join(format!("new/{i}.bin")), 300_000 + i);
    }
    s.lb.backup(&fixture::media_only(&s.env_id)).await.unwrap();
    let mut left = Vec::new();
    for name in storage.list("").await.unwrap() {
        if before.contains(&name) {
            continue;
        }
        if name.starts_with("_chunks/packs/") {
            left.push(name);
        } else {
            storage.delete(&name).await.unwrap();
        }
    }
    assert!(!left.is_empty());
    // And a pack another catalog's recovery key sealed, whose index this key cannot open.
    let other = age::x25519::Identity::generate().to_public();
    let mut sealer = lifeboat_format::pack::PackSealer::new(&other, 3).unwrap();
    sealer.add("an-id", b"another catalog's upload").unwrap();
    let (body, record) = sealer.finish().unwrap();
    let foreign = format!("_chunks/packs/{}/{}", &record.name[..2], record.name);
    storage.put(&foreign, body).await.unwrap();

    let zero = std::time::Duration::ZERO;
    let first = s.lb.reclaim_storage(&s.target_id, zero).await.unwrap();
    assert_eq!((first.condemned, first.deleted), (left.len() as u32, 0));
    let second = s.lb.reclaim_storage(&s.target_id, zero).await.unwrap();
    assert_eq!(second.deleted, left.len() as u32);
    let now: std::collections::HashSet<String> =
        storage.list("").await.unwrap().into_iter().collect();
    assert!(left.iter().all(|pack| !now.contains(pack)));
    assert!(now.contains(&foreign), "another key's pack was touched");
    assert!(s.lb.verify_backup(&kept.backup_id).await.unwrap().ok);
}

#[tokio::test]
async fn a_restore_whose_media_tree_was_swapped_is_refused_and_changes_nothing() {
    use lifeboat_format::layout::{object_key, MEDIA_TREE_FILE};
    let s = fixture::fixture(fixture::Target::Local).await;
    add_uploads(s.media.path());
    deduplicate(&s, true).await;
    let first =
        s.lb.backup(&fixture::both(&s.env_id, "first"))
            .await
            .unwrap();
    common::write_incompressible(&s.media.path().join("gallery/07.jpg"), 150_000);
    let second =
        s.lb.backup(&fixture::both(&s.env_id, "second"))
            .await
            .unwrap();

    // Whoever can write to the storage puts the second backup's media tree in the first's
    // place: a tree Lifeboat wrote with this key, but not the one the first's manifest names.
    let storage = s.storage().await;
    let first_dir =
        s.lb.backup_record(&first.backup_id)
            .await
            .unwrap()
            .storage_dir;
    let second_dir =
        s.lb.backup_record(&second.backup_id)
            .await
            .unwrap()
            .storage_dir;
    let tree = storage
        .get(&object_key(&second_dir, MEDIA_TREE_FILE))
        .await
        .unwrap();
    storage
        .put(&object_key(&first_dir, MEDIA_TREE_FILE), tree.to_vec())
        .await
        .unwrap();
    let mut db = common::connect(&s.database).await;
    sqlx::query("UPDATE shop_order SET total = 0 WHERE id < 100")
        .execute(&mut db)
        .await
        .unwrap();
    drop(db);
    let (db_before, media_before) = (
        common::fingerprint(&s.database).await,
        common::media_hashes(s.media.path()),
    );

    // The media tree is proven while the restore plans, before the database is touched.
    let request = lifeboat_core::RestoreRequest {
        database: true,
        ..fixture::restore_media(&first.backup_id, &s.env_id, "production", false)
    };
    let err = s.lb.restore(&request).await.unwrap_err();
    assert_eq!(
        err.code,
        lifeboat_core::ErrorCode::ChecksumMismatch,
        "{err:?}"
    );
    assert_eq!(common::fingerprint(&s.database).await, db_before);
    assert_eq!(common::media_hashes(s.media.path()), media_before);
    // Nothing staged beside the media either.
    let name = s.media.path().file_name().unwrap().to_string_lossy();
    let beside: Vec<_> = std::fs::read_dir(s.media.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|entry| entry.starts_with(&format!(".{name}.lifeboat-")))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
}
