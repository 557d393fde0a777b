//! What someone who can write to the bucket can make Lifeboat do: nothing. A forged backup
//! (its own manifest and a dump encrypted to the public recipient) and a real backup whose dump
//! was replaced are both refused before pg_restore reads a byte. The canary proves it: the
//! planted dump's rows call `nextval` on a sequence outside the dump, which no rollback undoes.
//! Against the real PostgreSQL server, S3-compatible server and keyring.

mod common;

use common::fixture::{both, fixture, s3, Fixture};
use lifeboat_core::format::layout::{backup_dir, object_key, DATABASE_FILE, MANIFEST_FILE};
use lifeboat_core::{
    BackupKind, BackupManifest, BackupRequest, DownloadRequest, DrillRequest, EnvironmentInput,
    ErrorCode, RestoreRequest,
};
use sqlx::Executor;

/// A database whose dump, restored anywhere, moves the destination's `canary` sequence: every
/// row's CHECK calls a function that calls `nextval('canary')` by name, so the dump itself
/// holds no sequence.
async fn planted_database() -> String {
    let name = common::create_database("planted").await;
    let mut db = common::connect(&name).await;
    db.execute(
        "CREATE SEQUENCE canary;
         CREATE FUNCTION bump() RETURNS boolean LANGUAGE sql AS $$ SELECT nextval('canary') > 0 $$;
         CREATE TABLE shop_order_evil (x integer CHECK (bump()));
         INSERT INTO shop_order_evil SELECT generate_series(1, 100);
         DROP SEQUENCE canary;",
    )
    .await
    .unwrap();
    name
}

/// The canary in the destination: `(last_value, is_called)`.
async fn canary(database: &str) -> (i64, bool) {
    sqlx::query_as("SELECT last_value, is_called FROM canary")
        .fetch_one(&mut common::connect(database).await)
        .await
        .unwrap()
}

/// A real backup of the planted database, made by this Lifeboat (so encrypted to the same
/// recipient as production's): what anyone can make from the recipient in any manifest.
async fn planted_backup(f: &Fixture) -> BackupManifest {
    let app = f.lb.application_named("shop").await.unwrap();
    let planted = planted_database().await;
    let env =
        f.lb.create_environment(&EnvironmentInput {
            application_id: app.id,
            name: "planted".into(),
            connection: Some(common::pg_input(&planted)),
            media_dir: None,
            target_id: Some(f.target_id.clone()),
        })
        .await
        .unwrap();
    f.lb.backup(&BackupRequest {
        environment_id: env.id,
        database: true,
        media: false,
        note: None,
        kind: BackupKind::OnDemand,
        full_rescan: false,
    })
    .await
    .unwrap()
}

async fn stored_dir(f: &Fixture, backup_id: &str) -> String {
    f.lb.backup_record(backup_id).await.unwrap().storage_dir
}

fn without_safety_backup(backup_id: &str, f: &Fixture) -> RestoreRequest {
    common::fixture::restore_database(backup_id, &f.env_id, "production", false)
}

async fn with_canary(f: &Fixture) -> ((i64, bool), Vec<(String, i64, String)>) {
    common::connect(&f.database)
        .await
        .execute("CREATE SEQUENCE canary")
        .await
        .unwrap();
    (
        canary(&f.database).await,
        common::fingerprint(&f.database).await,
    )
}

#[tokio::test]
async fn a_replaced_dump_is_refused_before_pg_restore_reads_a_byte() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let planted = planted_backup(&f).await;
    let storage = f.storage().await;
    let planted_dump = storage
        .get(&object_key(
            &stored_dir(&f, &planted.backup_id).await,
            DATABASE_FILE,
        ))
        .await
        .unwrap();
    let good_dir = stored_dir(&f, &good.backup_id).await;
    storage
        .put(&object_key(&good_dir, DATABASE_FILE), planted_dump.to_vec())
        .await
        .unwrap();
    let before = with_canary(&f).await;

    let e =
        f.lb.restore(&without_safety_backup(&good.backup_id, &f))
            .await
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::ChecksumMismatch, "{e:?}");
    assert!(e.message.contains("nothing was read"), "{}", e.message);
    assert_eq!(
        (
            canary(&f.database).await,
            common::fingerprint(&f.database).await
        ),
        before,
        "the replaced dump's SQL ran"
    );
}

/// Drops a backup of the planted database into production's folder of the bucket under a
/// manifest of its own making, dated 2099 so it would be everyone's "newest". `mac` is what
/// the forger puts in the authentication field (they cannot compute the real one).
async fn forge(f: &Fixture, planted: &BackupManifest, mac: Option<&str>) -> String {
    let storage = f.storage().await;
    let planted_dir = stored_dir(f, &planted.backup_id).await;
    let mut manifest: serde_json::Value = serde_json::from_slice(
        &storage
            .get(&object_key(&planted_dir, MANIFEST_FILE))
            .await
            .unwrap(),
    )
    .unwrap();
    let forged_id = format!("20991231T000000Z-{}", &uuid_like()[..8]);
    manifest["backupId"] = forged_id.clone().into();
    manifest["environment"]["name"] = "production".into();
    manifest["createdAt"] = "2099-12-31T00:00:00.000Z".into();
    manifest["finishedAt"] = "2099-12-31T00:01:00.000Z".into();
    match mac {
        None => {
            manifest.as_object_mut().unwrap().remove("authentication");
        }
        Some(mac) => manifest["authentication"]["mac"] = mac.into(),
    }
    let dir = backup_dir("shop", "production", &forged_id);
    let dump = storage
        .get(&object_key(&planted_dir, DATABASE_FILE))
        .await
        .unwrap();
    storage
        .put(&object_key(&dir, DATABASE_FILE), dump.to_vec())
        .await
        .unwrap();
    storage
        .put(
            &object_key(&dir, MANIFEST_FILE),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .await
        .unwrap();
    forged_id
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
    .chars()
    .rev()
    .collect()
}

#[tokio::test]
async fn a_forged_backup_is_quarantined_refused_and_never_the_newest() {
    let f = fixture(s3()).await;
    let good = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let planted = planted_backup(&f).await;
    let unsigned = forge(&f, &planted, None).await;
    let wrong_mac = forge(&f, &planted, Some(&"ab".repeat(32))).await;
    let before = with_canary(&f).await;

    // The machine that made the real backups, and a new machine with the same key.
    let (_home, fresh, target) = f.elsewhere().await;
    for (lb, target_id) in [(&f.lb, &f.target_id), (&fresh, &target.id)] {
        let report = lb.sync_catalog(target_id).await.unwrap();
        let mut quarantined: Vec<&str> = report
            .quarantined
            .iter()
            .map(|q| q.manifest.backup_id.as_str())
            .collect();
        quarantined.sort_unstable();
        let mut forged = vec![unsigned.as_str(), wrong_mac.as_str()];
        forged.sort_unstable();
        assert_eq!(quarantined, forged, "{report:?}");
        assert!(!report.imported.contains(&unsigned));
        let reasons: Vec<&str> = report
            .quarantined
            .iter()
            .map(|q| q.reason.as_str())
            .collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("carries no authentication"))
                && reasons.iter().any(|r| r.contains("does not match")),
            "{reasons:?}"
        );
        assert_eq!(lb.quarantined_backups().await.unwrap().len(), 2);
    }
    // On the new machine the real backups were imported, and nothing forged went with them.
    let env = fresh.environment_named("shop", "production").await.unwrap();
    let listed: Vec<String> = fresh
        .list_backups(&env.id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|entry| entry.backup.map(|b| b.id))
        .collect();
    assert!(listed.contains(&good.backup_id), "{listed:?}");
    assert!(!listed.contains(&unsigned) && !listed.contains(&wrong_mac));

    for forged in [&unsigned, &wrong_mac] {
        let e =
            f.lb.restore(&without_safety_backup(forged, &f))
                .await
                .unwrap_err();
        assert_eq!(e.code, ErrorCode::BackupUnauthenticated, "{e:?}");
        let folder = tempfile::tempdir().unwrap();
        for e in [
            f.lb.verify_backup(forged).await.unwrap_err(),
            f.lb.download(&DownloadRequest {
                backup_id: forged.clone(),
                directory: folder.path().display().to_string(),
                database: true,
                media: false,
            })
            .await
            .unwrap_err(),
            f.lb.drill(
                &DrillRequest {
                    environment_id: f.env_id.clone(),
                    backup_id: Some(forged.clone()),
                },
                None,
            )
            .await
            .unwrap_err(),
        ] {
            assert_eq!(e.code, ErrorCode::BackupUnauthenticated, "{e:?}");
        }
        assert_eq!(
            std::fs::read_dir(folder.path()).unwrap().count(),
            0,
            "nothing of it reached the download folder"
        );
    }
    assert_eq!(
        (
            canary(&f.database).await,
            common::fingerprint(&f.database).await
        ),
        before,
        "the forged dump's SQL ran"
    );

    // The drill's "newest" is the real backup, not the one dated 2099.
    let drill =
        f.lb.drill(
            &DrillRequest {
                environment_id: f.env_id.clone(),
                backup_id: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(drill.backup_id, good.backup_id);

    // Trusting is explicit, and then the backup is an ordinary one.
    let q = fresh
        .quarantined_backups()
        .await
        .unwrap()
        .into_iter()
        .find(|q| q.manifest.backup_id == unsigned)
        .unwrap();
    assert_eq!(q.storage_dir, backup_dir("shop", "production", &unsigned));
    assert_eq!(q.target_id, target.id);
    let trusted = fresh.trust_backup(&q.id).await.unwrap();
    assert_eq!(trusted.imported, vec![unsigned.clone()]);
    assert_eq!(fresh.quarantined_backups().await.unwrap().len(), 1);
    fresh.backup_record(&unsigned).await.unwrap();
}
