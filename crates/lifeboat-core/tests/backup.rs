//! Backups against the real PostgreSQL cluster, the real S3-compatible server and the real
//! keyring; the stored artifacts are checked with stock tools (age, zstd, pg_restore, GNU tar,
//! sha256sum), as a person restoring by hand would.

mod common;

use std::path::Path;
use std::process::Command;

use common::fixture::{both, decrypt, fixture, s3, sha256sum, wait_finished, Fixture, Target};
use common::s3_proxy::{header, S3Proxy};
use lifeboat_core::format::layout::{DATABASE_FILE, GLOBALS_FILE, MANIFEST_FILE, MEDIA_FILE};
use lifeboat_core::format::manifest::BackupManifest;
use lifeboat_core::format::media::{MediaEntryKind, MediaManifest, MANIFEST_NAME};
use lifeboat_core::{EnvironmentInput, ErrorCode, Job, JobStatus, Lifeboat, S3Settings};
use sqlx::Executor;

async fn verify_with_stock_tools(f: &Fixture, manifest: &BackupManifest, dir: &str) {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("recovery-key.txt");
    f.lb.export_recovery_key(&key).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let db = manifest
        .database
        .as_ref()
        .expect("the database was included");
    let stored = f.fetch(dir, DATABASE_FILE, work.path()).await;
    assert_eq!(sha256sum(&stored), db.artifact.stored_sha256);
    assert_eq!(
        std::fs::metadata(&stored).unwrap().len(),
        db.artifact.stored_bytes
    );
    let dump = work.path().join("database.dump");
    decrypt(&key, &stored, &dump);
    assert_eq!(sha256sum(&dump), db.artifact.plaintext_sha256);
    let toc = String::from_utf8(common::run(
        Command::new(common::pg_tool("pg_restore"))
            .arg("--list")
            .arg(&dump),
    ))
    .unwrap();
    assert!(toc.contains("TABLE public shop_order"), "{toc}");
    assert!(toc.contains("EXTENSION - pgcrypto"), "{toc}");

    let restored = common::create_database("restored").await;
    common::pg_restore_by_hand(&restored, &dump);
    assert_eq!(
        common::fingerprint(&restored).await,
        common::fingerprint(&f.database).await
    );

    // The server's roles beside the dump: plain SQL, without passwords.
    let globals = manifest.globals.as_ref().expect("the roles were included");
    let stored = f.fetch(dir, GLOBALS_FILE, work.path()).await;
    assert_eq!(sha256sum(&stored), globals.artifact.stored_sha256);
    let roles = work.path().join("roles.sql");
    decrypt(&key, &stored, &roles);
    let roles = std::fs::read_to_string(&roles).unwrap();
    assert!(roles.contains("CREATE ROLE postgres;"), "{roles}");
    assert!(!roles.contains("PASSWORD"));
    assert_eq!(
        roles
            .lines()
            .filter(|l| l.starts_with("CREATE ROLE "))
            .count() as u64,
        globals.roles
    );

    let media = manifest.media.as_ref().expect("the media was included");
    let stored = f.fetch(dir, MEDIA_FILE, work.path()).await;
    assert_eq!(sha256sum(&stored), media.artifact.stored_sha256);
    let tar = work.path().join("media.tar");
    decrypt(&key, &stored, &tar);
    let out = work.path().join("extracted");
    std::fs::create_dir(&out).unwrap();
    common::run(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&out));
    let listing: MediaManifest =
        serde_json::from_slice(&std::fs::read(out.join(MANIFEST_NAME)).unwrap()).unwrap();
    let files: Vec<_> = listing
        .entries
        .iter()
        .filter(|e| e.kind == MediaEntryKind::File)
        .collect();
    assert_eq!(files.len(), 5);
    assert_eq!(media.file_count, 6, "5 files and a symlink");
    for entry in &files {
        let extracted = out.join("media").join(&entry.path);
        let original = f.media.path().join(&entry.path);
        assert_eq!(Some(sha256sum(&extracted)), entry.sha256, "{}", entry.path);
        assert_eq!(
            sha256sum(&extracted),
            sha256sum(&original),
            "{}",
            entry.path
        );
    }
    assert!(listing
        .entries
        .iter()
        .any(|e| e.path == "uploads/naïve café ☕.txt"));
    assert!(
        out.join("media/empty/nested-empty").is_dir(),
        "empty directories survive"
    );
    assert_eq!(
        std::fs::metadata(out.join("media/uploads/zero-bytes.txt"))
            .unwrap()
            .len(),
        0
    );
    let link = out.join("media/uploads/latest.jpg");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("2026/11/photo.jpg")
    );
}

#[tokio::test]
async fn a_backup_to_s3_restores_with_stock_tools() {
    let f = fixture(s3()).await;
    let manifest =
        f.lb.backup(&both(&f.env_id, "before the 2.0 deploy"))
            .await
            .unwrap();

    let entries = f.lb.list_backups(&f.env_id).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].job.status, JobStatus::Succeeded);
    let record = entries[0].backup.as_ref().expect("the backup is listed");
    assert_eq!(record.manifest, manifest);
    assert_eq!(manifest.note.as_deref(), Some("before the 2.0 deploy"));
    assert_eq!(
        (
            manifest.application.name.as_str(),
            manifest.environment.name.as_str()
        ),
        ("shop", "production")
    );
    assert!(manifest.database.as_ref().unwrap().toc_entries > 5);

    // The committed manifest in storage is the one the catalog holds.
    let stored: BackupManifest = serde_json::from_slice(
        &f.storage()
            .await
            .get(&format!("{}/{MANIFEST_FILE}", record.storage_dir))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored, manifest);
    verify_with_stock_tools(&f, &manifest, &record.storage_dir).await;
}

#[tokio::test]
async fn a_backup_to_the_local_folder_restores_with_stock_tools() {
    let f = fixture(Target::Local).await;
    let manifest = f.lb.backup(&both(&f.env_id, "local")).await.unwrap();
    let record =
        f.lb.list_backups(&f.env_id)
            .await
            .unwrap()
            .remove(0)
            .backup
            .unwrap();
    let mut objects = f.stored_objects().await;
    objects.sort();
    let expected: Vec<String> = [DATABASE_FILE, GLOBALS_FILE, MANIFEST_FILE, MEDIA_FILE]
        .iter()
        .map(|n| format!("{}/{n}", manifest.backup_id))
        .collect();
    assert_eq!(
        objects, expected,
        "no temporary files are left beside the artifacts"
    );
    verify_with_stock_tools(&f, &manifest, &record.storage_dir).await;
}

async fn assert_failed_cleanly(f: &Fixture, job: &Job, code: ErrorCode) {
    assert_eq!(
        job.status,
        if code == ErrorCode::Cancelled {
            JobStatus::Cancelled
        } else {
            JobStatus::Failed
        }
    );
    assert_eq!(
        job.error.as_ref().map(|e| e.code),
        Some(code),
        "{:?}",
        job.error
    );
    let entries = f.lb.list_backups(&f.env_id).await.unwrap();
    assert!(
        entries.iter().all(|e| e.backup.is_none()),
        "a failed attempt is listed as a backup"
    );
    assert_eq!(
        f.stored_objects().await,
        Vec::<String>::new(),
        "objects were left in storage"
    );
}

#[tokio::test]
async fn a_wrong_database_password_fails_the_backup_and_leaves_nothing() {
    let f = fixture(s3()).await;
    let env = f.lb.catalog().environment(&f.env_id).await.unwrap();
    let mut connection = common::pg_input(&f.database);
    connection.password = Some("wrong".into());
    f.lb.update_environment(
        &f.env_id,
        &EnvironmentInput {
            application_id: env.application_id,
            name: env.name,
            connection: Some(connection),
            media_dir: env.media_dir,
            target_id: Some(env.target_id),
        },
    )
    .await
    .unwrap();
    let job = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap();
    let job = wait_finished(&f.lb, &job).await;
    assert_failed_cleanly(&f, &job, ErrorCode::PgAuthFailed).await;
}

#[tokio::test]
async fn pg_dump_dying_mid_way_fails_the_backup_and_leaves_nothing() {
    let f = fixture(s3()).await;
    let mut lock = common::fixture::hold_lock(&f.database).await;
    let job = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap();
    let pid = common::fixture::waiting_on_lock(&f.database).await;
    let mut admin = common::admin().await;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut admin)
        .await
        .unwrap();
    let job = wait_finished(&f.lb, &job).await;
    lock.execute("ROLLBACK").await.unwrap();
    assert_failed_cleanly(&f, &job, ErrorCode::PgDumpFailed).await;
}

#[tokio::test]
async fn cancelling_stops_the_backup_and_leaves_nothing() {
    let f = fixture(s3()).await;
    let mut lock = common::fixture::hold_lock(&f.database).await;
    let job = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap();
    common::fixture::waiting_on_lock(&f.database).await;
    assert!(f.lb.cancel_job(&job.id));
    let job = wait_finished(&f.lb, &job).await;
    lock.execute("ROLLBACK").await.unwrap();
    assert_failed_cleanly(&f, &job, ErrorCode::Cancelled).await;
    assert!(
        !f.lb.cancel_job(&job.id),
        "a finished job cannot be cancelled"
    );
}

#[tokio::test]
async fn a_second_backup_of_a_busy_environment_is_refused() {
    let f = fixture(Target::Local).await;
    let mut lock = common::fixture::hold_lock(&f.database).await;
    let first = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap();
    common::fixture::waiting_on_lock(&f.database).await;
    let second = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap_err();
    assert_eq!(second.code, ErrorCode::AlreadyRunning);
    lock.execute("ROLLBACK").await.unwrap();
    assert_eq!(
        wait_finished(&f.lb, &first).await.status,
        JobStatus::Succeeded
    );
    assert_eq!(f.lb.list_backups(&f.env_id).await.unwrap().len(), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn an_unreadable_media_entry_fails_the_backup_naming_it() {
    let f = fixture(Target::Local).await;
    // A FIFO stands for any entry that cannot be archived; unlike a chmod 000 file it stays
    // unreadable when the tests run as root.
    let fifo = f.media.path().join("uploads/stuck.fifo");
    common::run(Command::new("mkfifo").arg(&fifo));
    let job = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap();
    let job = wait_finished(&f.lb, &job).await;
    assert!(
        job.error.as_ref().unwrap().message.contains("stuck.fifo"),
        "{:?}",
        job.error
    );
    assert_failed_cleanly(&f, &job, ErrorCode::MediaUnreadable).await;
}

/// An S3 server of this test's own, so it can be stopped mid-upload.
struct OwnS3 {
    child: Option<std::process::Child>,
    dir: Option<tempfile::TempDir>,
    port: u16,
}

impl OwnS3 {
    fn start(dir: tempfile::TempDir, port: u16) -> Self {
        std::fs::create_dir_all(dir.path().join("own-bucket")).unwrap();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "own-key", "--secret-key", "own-secret"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs is installed by scripts/deps");
        let server = Self {
            child: Some(child),
            dir: Some(dir),
            port,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("s3s-fs did not start");
    }

    fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
            region: "us-east-1".into(),
            bucket: "own-bucket".into(),
            prefix: "lifeboat".into(),
            path_style: true,
            storage_class: "STANDARD".into(),
            access_key_id: "own-key".into(),
            server_side_encryption: None,
            insecure_http: None,
        }
    }

    /// Stops the server, keeping its data for a restart on the same port.
    fn stop(mut self) -> (tempfile::TempDir, u16) {
        self.kill();
        (self.dir.take().unwrap(), self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn an_s3_server_stopping_mid_upload_fails_the_backup_and_leftovers_are_cleaned_later() {
    let server = OwnS3::start(tempfile::tempdir().unwrap(), common::closed_port());
    let f = fixture(Target::S3(server.settings(), "own-secret".into())).await;
    let mut lock = common::fixture::hold_lock(&f.database).await;
    let job = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap();
    common::fixture::waiting_on_lock(&f.database).await;
    // The media (not held by the lock) is stored first: a server killed mid-part can be left
    // unable to abort that upload, which is the server's business, not what this tests.
    let stored_media = async {
        while !f
            .stored_objects()
            .await
            .iter()
            .any(|o| o.ends_with(MEDIA_FILE))
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), stored_media)
        .await
        .expect("the media artifact is stored while the dump waits on the lock");
    let (dir, port) = server.stop();
    lock.execute("ROLLBACK").await.unwrap();
    let job = wait_finished(&f.lb, &job).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(
        job.error.as_ref().map(|e| e.code),
        Some(ErrorCode::S3Unreachable),
        "{:?}",
        job.error
    );
    assert!(f
        .lb
        .list_backups(&f.env_id)
        .await
        .unwrap()
        .iter()
        .all(|e| e.backup.is_none()));

    // The database upload could not be aborted with the server gone: its id waits in the journal.
    let open = f.lb.catalog().open_uploads().await.unwrap();
    assert!(
        open.iter().any(|u| u.object.ends_with(DATABASE_FILE)),
        "{open:?}"
    );

    let _server = OwnS3::start(dir, port);
    f.lb.clean_up_leftovers().await.unwrap();
    assert_eq!(f.stored_objects().await, Vec::<String>::new());
    assert_eq!(f.lb.catalog().open_uploads().await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_job_cut_off_by_a_crash_is_reported_interrupted_at_the_next_start() {
    let f = fixture(Target::Local).await;
    // What a killed process leaves: a job still marked running, and a partial object.
    let request = lifeboat_core::JobRequest::Backup(both(&f.env_id, ""));
    f.lb.catalog()
        .insert_job("crashed-job", &f.env_id, &request)
        .await
        .unwrap();
    f.lb.catalog()
        .set_job_location(
            "crashed-job",
            "partial",
            &f.target_id,
            "shop/production/partial",
        )
        .await
        .unwrap();
    f.storage()
        .await
        .put(
            "shop/production/partial/database.dump.zst.age",
            b"partial".to_vec(),
        )
        .await
        .unwrap();

    let home = f.lb.home().clone();
    let reopened = Lifeboat::open(home).await.unwrap();
    let job = reopened.catalog().job("crashed-job").await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.map(|e| e.code), Some(ErrorCode::Interrupted));
    assert_eq!(reopened.clean_up_leftovers().await.unwrap(), 1);
    assert_eq!(f.stored_objects().await, Vec::<String>::new());
}

#[tokio::test]
async fn opening_the_catalog_elsewhere_leaves_a_running_backup_alone() {
    let f = fixture(Target::Local).await;
    let earlier = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let mut lock = common::fixture::hold_lock(&f.database).await;
    let job = f.lb.start_backup(&both(&f.env_id, "")).await.unwrap();
    common::fixture::waiting_on_lock(&f.database).await;
    // What the CLI run from cron does while the app is backing up.
    let other = Lifeboat::open(f.lb.home().clone()).await.unwrap();
    assert_eq!(
        other.catalog().job(&job.id).await.unwrap().status,
        JobStatus::Running
    );
    assert_eq!(other.clean_up_leftovers().await.unwrap(), 0);

    // One job per environment across processes: a second backup and a restore are refused at
    // once (not left waiting on the same table lock), saying who holds the environment.
    let refused = other.start_backup(&both(&f.env_id, "")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::AlreadyRunning);
    assert!(refused.message.contains(&job.id), "{}", refused.message);
    let restore = lifeboat_core::RestoreRequest {
        backup_id: earlier.backup_id.clone(),
        environment_id: f.env_id.clone(),
        database: true,
        media: true,
        safety_backup: false,
        confirmation: Some("production".into()),
    };
    assert_eq!(
        other.start_restore(&restore).await.unwrap_err().code,
        ErrorCode::AlreadyRunning
    );
    assert_eq!(
        other.delete_environment(&f.env_id).await.unwrap_err().code,
        ErrorCode::AlreadyRunning
    );

    lock.execute("ROLLBACK").await.unwrap();
    assert_eq!(
        wait_finished(&f.lb, &job).await.status,
        JobStatus::Succeeded
    );
    other.backup(&both(&f.env_id, "")).await.unwrap();
}

#[tokio::test]
async fn a_good_backup_verifies_and_the_result_is_recorded() {
    let f = fixture(s3()).await;
    let manifest = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let report = f.lb.verify_backup(&manifest.backup_id).await.unwrap();
    assert!(report.ok, "{report:#?}");
    let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "database checksums",
            "database contents",
            "roles checksums",
            "roles contents",
            "media checksums",
            "media contents"
        ]
    );
    assert!(
        report.checks[5].detail.contains("5 files"),
        "{}",
        report.checks[5].detail
    );
    let record = f.lb.backup_record(&manifest.backup_id).await.unwrap();
    assert_eq!(record.verification, Some(report));
}

/// Where an artifact of a backup to the local target lies on disk.
async fn stored_file(
    f: &Fixture,
    record: &lifeboat_core::BackupRecord,
    name: &str,
) -> std::path::PathBuf {
    let target = f.lb.catalog().target(&f.target_id).await.unwrap();
    let lifeboat_core::TargetConfig::Local(local) = target.config else {
        panic!("not local")
    };
    Path::new(&local.path).join(&record.storage_dir).join(name)
}

#[tokio::test]
async fn an_artifact_gone_from_storage_is_a_failed_verification_until_one_passes() {
    let f = fixture(Target::Local).await;
    let manifest = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let record = f.lb.backup_record(&manifest.backup_id).await.unwrap();
    assert!(record.verification.as_ref().is_some_and(|v| v.ok));
    let stored = stored_file(&f, &record, MEDIA_FILE).await;
    let moved = stored.with_extension("away");
    std::fs::rename(&stored, &moved).unwrap();

    let report = f.lb.verify_backup(&manifest.backup_id).await.unwrap();
    assert!(!report.ok);
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["media read"], "{report:#?}");
    assert!(report
        .checks
        .iter()
        .any(|c| c.name == "database checksums" && c.ok));
    let recorded = f.lb.backup_record(&manifest.backup_id).await.unwrap();
    assert_eq!(recorded.verification, Some(report), "recorded as failed");

    std::fs::rename(&moved, &stored).unwrap();
    assert!(f.lb.verify_backup(&manifest.backup_id).await.unwrap().ok);
    let recorded = f.lb.backup_record(&manifest.backup_id).await.unwrap();
    assert!(
        recorded.verification.unwrap().ok,
        "a later pass replaces it"
    );
}

#[tokio::test]
async fn a_flipped_byte_in_storage_fails_verification() {
    let f = fixture(Target::Local).await;
    let manifest = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let record = f.lb.backup_record(&manifest.backup_id).await.unwrap();
    let stored = stored_file(&f, &record, MEDIA_FILE).await;
    let mut bytes = std::fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&stored, bytes).unwrap();

    let report = f.lb.verify_backup(&manifest.backup_id).await.unwrap();
    assert!(!report.ok);
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert!(failed.contains(&"media checksums"), "{report:#?}");
    assert!(
        report
            .checks
            .iter()
            .filter(|c| c.name.starts_with("database"))
            .all(|c| c.ok),
        "{report:#?}"
    );
    assert_eq!(
        f.lb.backup_record(&manifest.backup_id)
            .await
            .unwrap()
            .verification,
        Some(report)
    );
}

#[tokio::test]
async fn backups_made_before_a_key_import_still_verify() {
    let f = fixture(Target::Local).await;
    let before = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let other_key = work.path().join("other-key.txt");
    common::run(Command::new("age-keygen").arg("-o").arg(&other_key));
    let imported = f.lb.import_recovery_key(&other_key).await.unwrap();
    assert_ne!(imported, before.encryption.recipient);

    let after = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    assert_eq!(
        after.encryption.recipient, imported,
        "new backups use the imported key"
    );
    for backup in [&before, &after] {
        let report = f.lb.verify_backup(&backup.backup_id).await.unwrap();
        assert!(report.ok, "{report:#?}");
    }
}

/// Requests that create an object: a PUT that is not a part, or a POST beginning an upload.
fn creations(heads: &[String]) -> Vec<&String> {
    heads
        .iter()
        .filter(|head| {
            let line = head.lines().next().unwrap_or_default();
            (line.starts_with("PUT ") && !line.contains("partNumber="))
                || (line.starts_with("POST ") && line.contains("?uploads"))
        })
        .collect()
}

#[tokio::test]
async fn s3_writes_ask_for_server_side_encryption_and_artifacts_for_the_storage_class() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let mut settings = common::s3_settings();
    settings.endpoint = Some(proxy.endpoint.clone());
    let f = fixture(Target::S3(settings.clone(), common::s3_secret())).await;
    f.lb.backup(&both(&f.env_id, "")).await.unwrap();

    let heads = proxy.request_heads();
    let created = creations(&heads);
    let named = |file: &str| {
        created
            .iter()
            .find(|head| head.lines().next().unwrap().contains(file))
            .unwrap_or_else(|| panic!("no request created {file}: {created:#?}"))
    };
    for file in [DATABASE_FILE, MEDIA_FILE, MANIFEST_FILE] {
        assert_eq!(
            header(named(file), "x-amz-server-side-encryption").as_deref(),
            Some("AES256"),
            "{file}"
        );
    }
    // The server checks every upload against its SHA-256: a whole object's, or every part's
    // of one uploaded in parts.
    assert!(
        header(named(MANIFEST_FILE), "x-amz-checksum-sha256").is_some(),
        "{}",
        named(MANIFEST_FILE)
    );
    let parts: Vec<&String> = heads
        .iter()
        .filter(|head| {
            head.lines()
                .next()
                .unwrap_or_default()
                .contains("partNumber=")
        })
        .collect();
    assert!(!parts.is_empty());
    for part in parts {
        assert!(header(part, "x-amz-checksum-sha256").is_some(), "{part}");
    }
    for file in [DATABASE_FILE, MEDIA_FILE] {
        assert_eq!(
            header(named(file), "x-amz-storage-class"),
            Some(settings.storage_class.clone()),
            "{file}"
        );
    }
    assert_eq!(header(named(MANIFEST_FILE), "x-amz-storage-class"), None);

    // A target that turns it off (a server that rejects the header) sends none.
    settings.server_side_encryption = Some(false);
    let plain = lifeboat_core::Storage::s3(&settings, &common::s3_secret()).unwrap();
    plain
        .put("lifeboat/sse-off.txt", b"x".to_vec())
        .await
        .unwrap();
    plain.delete("lifeboat/sse-off.txt").await.unwrap();
    let heads = proxy.request_heads();
    let last = creations(&heads).pop().unwrap().clone();
    assert!(
        last.lines().next().unwrap().contains("sse-off.txt"),
        "{last}"
    );
    assert_eq!(header(&last, "x-amz-server-side-encryption"), None);
}

#[tokio::test]
async fn media_with_a_link_leading_out_through_another_is_refused_at_backup_time() {
    let f = fixture(Target::Local).await;
    // Each alone stays inside; `d/l2` leads out through `d/l1`, the root itself.
    std::fs::create_dir(f.media.path().join("d")).unwrap();
    std::os::unix::fs::symlink("..", f.media.path().join("d/l1")).unwrap();
    std::os::unix::fs::symlink("l1/..", f.media.path().join("d/l2")).unwrap();
    let mut request = both(&f.env_id, "");
    request.database = false;
    let e = f.lb.backup(&request).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::UnsafeArchive, "{e:?}");
    assert!(e.message.contains("d/l2"), "{}", e.message);
    assert_eq!(
        f.stored_objects().await,
        Vec::<String>::new(),
        "nothing kept"
    );
}
