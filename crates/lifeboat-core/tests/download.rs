//! Prepared downloads against the real S3-compatible server and PostgreSQL, checked with stock
//! tools (pg_restore, GNU tar, sha256sum -c). The full-disk and read-only cases mount small
//! tmpfs filesystems, which needs root (the test harness runs as root).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture::{both, fixture, s3, wait_finished, Fixture, Target};
use common::s3_proxy::S3Proxy;
use lifeboat_core::format::layout::MEDIA_FILE;
use lifeboat_core::format::manifest::BackupManifest;
use lifeboat_core::{DownloadRequest, ErrorCode, JobOutcome, JobStatus};

fn request(backup: &BackupManifest, dir: &Path) -> DownloadRequest {
    DownloadRequest {
        backup_id: backup.backup_id.clone(),
        directory: dir.display().to_string(),
        database: true,
        media: true,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_download_restores_and_extracts_with_stock_tools() {
    let f = fixture(s3()).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let out = tempfile::tempdir().unwrap();

    let summary = f.lb.download(&request(&backup, out.path())).await.unwrap();
    // The app opens a download's folder in the file manager, and no other folder.
    let folder = out.path().display().to_string();
    assert_eq!(f.lb.download_folder(&folder).await.unwrap(), out.path());
    assert_eq!(
        f.lb.download_folder("/etc").await.unwrap_err().code,
        ErrorCode::Validation
    );
    let stamp = chrono::DateTime::parse_from_rfc3339(&backup.created_at)
        .unwrap()
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let dump = format!("shop-production-{stamp}.dump");
    let tar = format!("shop-production-{stamp}-media.tar");
    let roles = format!("shop-production-{stamp}-roles.sql");
    assert_eq!(
        names_in(out.path()),
        vec![
            "SHA256SUMS".to_owned(),
            tar.clone(),
            roles.clone(),
            dump.clone()
        ]
    );
    let roles_sql = std::fs::read_to_string(out.path().join(&roles)).unwrap();
    assert!(roles_sql.contains("CREATE ROLE postgres;"), "{roles_sql}");
    assert!(!roles_sql.contains("PASSWORD"), "no passwords in the roles");
    for name in [&dump, &tar, &roles] {
        let mode = std::fs::metadata(out.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert_eq!(summary.files.len(), 4);
    common::run(
        Command::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS"])
            .current_dir(out.path()),
    );

    let restored = common::create_database("downloaded").await;
    common::pg_restore_by_hand(&restored, &out.path().join(&dump));
    assert_eq!(
        common::fingerprint(&restored).await,
        common::fingerprint(&f.database).await
    );
    let extracted = tempfile::tempdir().unwrap();
    common::run(
        Command::new("tar")
            .arg("-xf")
            .arg(out.path().join(&tar))
            .arg("-C")
            .arg(extracted.path()),
    );
    assert_eq!(
        std::fs::read(extracted.path().join("media/uploads/2026/11/photo.jpg")).unwrap(),
        std::fs::read(f.media.path().join("uploads/2026/11/photo.jpg")).unwrap()
    );
    assert!(extracted
        .path()
        .join(lifeboat_core::format::media::MANIFEST_NAME)
        .is_file());

    // A second download into the same folder never overwrites the first.
    let again = f.lb.download(&request(&backup, out.path())).await.unwrap();
    assert!(again.files[0]
        .path
        .ends_with(&format!("shop-production-{stamp}-2.dump")));
    assert_eq!(names_in(out.path()).len(), 8);
    common::run(
        Command::new("sha256sum")
            .args(["-c", "--strict", "SHA256SUMS-2"])
            .current_dir(out.path()),
    );

    let listed = f.lb.list_downloads().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].status, JobStatus::Succeeded);
    assert_eq!(listed[1].outcome, Some(JobOutcome::Download(summary)));
}

async fn assert_fails_leaving_nothing(f: &Fixture, request: &DownloadRequest, code: ErrorCode) {
    let e = f.lb.download(request).await.unwrap_err();
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(
        names_in(Path::new(&request.directory)),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_full_disk_is_reported_before_anything_is_written() {
    let f = fixture(s3()).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let small = common::Mount::tmpfs("size=64k");
    assert_fails_leaving_nothing(&f, &request(&backup, small.path()), ErrorCode::DiskFull).await;
}

#[tokio::test]
async fn a_read_only_folder_is_a_clear_error_with_nothing_left() {
    let f = fixture(s3()).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let read_only = common::Mount::tmpfs("ro,size=16m");
    let e =
        f.lb.download(&request(&backup, read_only.path()))
            .await
            .unwrap_err();
    assert_eq!(e.code, ErrorCode::Io, "{e:?}");
    assert!(e.message.contains("Cannot write into"), "{}", e.message);
    assert_eq!(names_in(read_only.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_corrupt_artifact_leaves_no_file_behind() {
    let f = fixture(s3()).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let record = f.lb.backup_record(&backup.backup_id).await.unwrap();
    let key = format!("{}/{MEDIA_FILE}", record.storage_dir);
    let storage = f.storage().await;
    let mut bytes = storage.get(&key).await.unwrap().to_vec();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x01;
    storage.put(&key, bytes).await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let e =
        f.lb.download(&request(&backup, out.path()))
            .await
            .unwrap_err();
    assert!(
        matches!(
            e.code,
            ErrorCode::ArtifactCorrupt | ErrorCode::ChecksumMismatch
        ),
        "{e:?}"
    );
    // The dump was fine and finished first; it goes too, so no half download stays.
    assert_eq!(names_in(out.path()), Vec::<String>::new());
}

#[tokio::test]
async fn a_folder_that_is_not_there_is_refused() {
    let f = fixture(s3()).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let e =
        f.lb.download(&request(&backup, &PathBuf::from("/nonexistent/lifeboat")))
            .await
            .unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        (ErrorCode::Validation, Some("directory"))
    );
}

#[tokio::test]
async fn cancelling_a_stalled_download_leaves_nothing() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let mut settings = common::s3_settings();
    settings.endpoint = Some(proxy.endpoint.clone());
    let f = fixture(Target::S3(settings, common::s3_secret())).await;
    common::write_incompressible(&f.media.path().join("noise.bin"), 2 << 20);
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let out = tempfile::tempdir().unwrap();

    // The network stops mid-way through the media artifact and stays stopped: the download
    // cannot finish before it is cancelled.
    proxy.stall_after(backup.media.as_ref().unwrap().artifact.stored_bytes / 2);
    let mut events = f.lb.subscribe();
    let job =
        f.lb.start_download(&request(&backup, out.path()))
            .await
            .unwrap();
    // Progress counts stored bytes as they arrive, before the file they go to is created;
    // past the artifacts before the media, those are complete files in the folder.
    let before_media = backup.database.as_ref().unwrap().artifact.stored_bytes
        + backup
            .globals
            .as_ref()
            .map_or(0, |g| g.artifact.stored_bytes);
    loop {
        let event = events.recv().await.unwrap();
        if event.id == job.id && event.bytes_done > before_media {
            break;
        }
    }
    assert!(!names_in(out.path()).is_empty(), "nothing written yet");

    assert!(f.lb.cancel_job(&job.id));
    let ended = wait_finished(&f.lb, &job).await;
    proxy.release();
    assert_eq!(ended.status, JobStatus::Cancelled);
    assert_eq!(names_in(out.path()), Vec::<String>::new());
}
