//! Media kept in an S3-compatible bucket (django-storages), against the real S3 server of the
//! test harness: backups read every object under the prefix into the same media archive a
//! directory gives; restores put the prefix back exactly; the archive crosses kinds both ways.
//! Faults go through the harness's S3 proxy (tests/common/s3_proxy.rs), which stops like a
//! server that went away, or refuses writes as a read-only key would.

mod common;

use std::collections::BTreeMap;

use common::fixture::{environment, media_only, restore_media};
use common::s3_proxy::S3Proxy;
use futures_util::TryStreamExt;
use lifeboat_core::{ErrorCode, Lifeboat, MediaBucket, MediaBucketInput};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

/// What a test reads of an object: its content's SHA-256 and its content type.
type Contents = BTreeMap<String, (String, Option<String>)>;

/// The test bucket, straight to the server (not through any proxy).
fn raw_store() -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(common::var("LIFEBOAT_TEST_S3_ENDPOINT"))
        .with_allow_http(true)
        .with_bucket_name(common::var("LIFEBOAT_TEST_S3_BUCKET"))
        .with_region(common::var("LIFEBOAT_TEST_S3_REGION"))
        .with_access_key_id(common::var("LIFEBOAT_TEST_S3_ACCESS_KEY_ID"))
        .with_secret_access_key(common::s3_secret())
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap()
}

fn media_bucket(endpoint: &str, prefix: &str) -> MediaBucketInput {
    MediaBucketInput {
        bucket: MediaBucket {
            endpoint: Some(endpoint.to_owned()),
            region: common::var("LIFEBOAT_TEST_S3_REGION"),
            bucket: common::var("LIFEBOAT_TEST_S3_BUCKET"),
            prefix: prefix.to_owned(),
            path_style: true,
            access_key_id: common::var("LIFEBOAT_TEST_S3_ACCESS_KEY_ID"),
            insecure_http: None,
        },
        secret_access_key: Some(common::s3_secret()),
    }
}

async fn put(store: &AmazonS3, key: &str, body: Vec<u8>, content_type: Option<&str>) {
    let mut attributes = Attributes::new();
    if let Some(content_type) = content_type {
        attributes.insert(Attribute::ContentType, content_type.to_owned().into());
    }
    if key.ends_with(".png") {
        attributes.insert(
            Attribute::Metadata("origin".into()),
            "django-storages".into(),
        );
    }
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    store
        .put_opts(&Path::parse(key).unwrap(), PutPayload::from(body), options)
        .await
        .unwrap();
}

/// A few hundred objects under `prefix` as django-storages leaves them: nested keys, unicode,
/// a key with spaces, an empty object, one large enough to be streamed; and one object beside
/// the prefix that no restore may touch.
async fn seed(store: &AmazonS3, prefix: &str) -> Contents {
    for i in 0..300 {
        let key = format!("{prefix}/uploads/{}/file-{i:03}.txt", i / 50);
        put(
            store,
            &key,
            format!("upload {i}\n").into_bytes(),
            Some("text/plain"),
        )
        .await;
    }
    put(
        store,
        &format!("{prefix}/images/naïve café ☕.png"),
        vec![0x89; 5000],
        Some("image/png"),
    )
    .await;
    put(
        store,
        &format!("{prefix}/docs/with space & 'quotes'.pdf"),
        b"%PDF-1.4 tiny".to_vec(),
        Some("application/pdf"),
    )
    .await;
    put(
        store,
        &format!("{prefix}/empty/zero.bin"),
        Vec::new(),
        Some("application/octet-stream"),
    )
    .await;
    let large: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    put(
        store,
        &format!("{prefix}/video/clip.mp4"),
        large,
        Some("video/mp4"),
    )
    .await;
    put(
        store,
        &format!("{prefix}-other/keep.txt"),
        b"not media".to_vec(),
        Some("text/plain"),
    )
    .await;
    contents(store, prefix).await
}

/// Every object under `prefix`, read back.
async fn contents(store: &AmazonS3, prefix: &str) -> Contents {
    let base = Path::parse(prefix).unwrap();
    let listed: Vec<_> = store.list(Some(&base)).try_collect().await.unwrap();
    let mut found = BTreeMap::new();
    for meta in listed {
        let got = store.get(&meta.location).await.unwrap();
        let content_type = got
            .attributes
            .get(&Attribute::ContentType)
            .map(|v| v.to_string());
        let bytes = got.bytes().await.unwrap();
        let relative = meta.location.as_ref()[prefix.len() + 1..].to_owned();
        found.insert(
            relative,
            (format!("{:x}", Sha256::digest(&bytes)), content_type),
        );
    }
    found
}

/// The files of a directory, as `contents` gives a bucket's (without content types).
fn files(root: &std::path::Path) -> BTreeMap<String, String> {
    common::media_hashes(root)
        .into_iter()
        .filter(|(_, v)| v != "dir")
        .collect()
}

fn without_types(contents: &Contents) -> BTreeMap<String, String> {
    contents
        .iter()
        .map(|(k, (sha, _))| (k.clone(), sha.clone()))
        .collect()
}

struct Setup {
    _home: tempfile::TempDir,
    lb: Lifeboat,
    app_id: String,
    env_id: String,
    prefix: String,
    store: AmazonS3,
}

/// An application whose production media is a fresh prefix of the test bucket, reached at
/// `endpoint` (the server, or a proxy in front of it).
async fn setup(endpoint: Option<&str>) -> Setup {
    let (home, lb) = common::lifeboat().await;
    let app = lb.create_application("shop").await.unwrap();
    let env = environment(&lb, &app.id, "production", None).await;
    let prefix = format!("media-{}", uuid::Uuid::new_v4());
    let server = common::var("LIFEBOAT_TEST_S3_ENDPOINT");
    lb.set_media_bucket(
        &env.id,
        Some(&media_bucket(
            endpoint.unwrap_or(&server),
            &format!("/{prefix}/"),
        )),
    )
    .await
    .unwrap();
    Setup {
        _home: home,
        lb,
        app_id: app.id,
        env_id: env.id,
        prefix,
        store: raw_store(),
    }
}

/// Restores the backup's media over the production environment's own, without a safety backup.
async fn restore_in_place(s: &Setup, backup_id: &str) -> lifeboat_core::MediaRestoreSummary {
    s.lb.restore(&restore_media(backup_id, &s.env_id, "production", false))
        .await
        .unwrap()
        .media
        .unwrap()
}

#[tokio::test]
async fn a_bucket_prefix_is_backed_up_and_downloads_as_the_same_files_with_their_attributes() {
    let s = setup(None).await;
    let seeded = seed(&s.store, &s.prefix).await;
    assert_eq!(seeded.len(), 304);

    let check =
        s.lb.check_media_bucket(&s.env_id, None, true)
            .await
            .unwrap();
    assert!(
        check.list.ok && check.read.ok && check.write.ok,
        "{check:?}"
    );
    // Without asking to write, nothing is written.
    let looked =
        s.lb.check_media_bucket(&s.env_id, None, false)
            .await
            .unwrap();
    assert!(
        looked.list.ok && looked.read.ok && !looked.write.ok,
        "{looked:?}"
    );
    assert_eq!(check.stats.unwrap().file_count, 304);

    let backup = s.lb.backup(&media_only(&s.env_id)).await.unwrap();
    let part = backup.media.as_ref().expect("media was backed up");
    assert_eq!(part.file_count, 304);
    assert_eq!(
        part.total_bytes,
        3_000_000
            + 5000
            + 13
            + (0..300)
                .map(|i| format!("upload {i}\n").len() as u64)
                .sum::<u64>()
    );

    let unpacked = common::fixture::downloaded_media(&s.lb, &backup.backup_id).await;
    assert_eq!(
        files(&unpacked.path().join("media")),
        without_types(&seeded)
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(unpacked.path().join("lifeboat-media-manifest.json")).unwrap(),
    )
    .unwrap();
    let entries = manifest["entries"].as_array().unwrap();
    let entry = |path: &str| {
        entries
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("{path} listed"))
    };
    for (path, (sha, content_type)) in &seeded {
        let listed = entry(path);
        assert_eq!(listed["sha256"], sha.as_str(), "{path}");
        assert_eq!(
            listed["object"]["contentType"].as_str(),
            content_type.as_deref(),
            "{path}"
        );
    }
    assert_eq!(
        entry("images/naïve café ☕.png")["object"]["metadata"]["origin"],
        "django-storages"
    );
    assert_eq!(entry("uploads")["kind"], "directory");
    assert!(!entries
        .iter()
        .any(|e| e["path"].as_str().unwrap().contains("keep.txt")));
}

#[tokio::test]
async fn a_damaged_bucket_is_put_back_exactly_and_nothing_beside_the_prefix_changes() {
    let s = setup(None).await;
    let seeded = seed(&s.store, &s.prefix).await;
    let beside = contents(&s.store, &format!("{}-other", s.prefix)).await;
    let backup = s.lb.backup(&media_only(&s.env_id)).await.unwrap();

    let p = &s.prefix;
    for i in 0..5 {
        s.store
            .delete(&Path::parse(format!("{p}/uploads/0/file-{i:03}.txt")).unwrap())
            .await
            .unwrap();
    }
    for i in 50..55 {
        put(
            &s.store,
            &format!("{p}/uploads/1/file-{i:03}.txt"),
            b"overwritten".to_vec(),
            Some("text/plain"),
        )
        .await;
    }
    // The same content, served as something else.
    put(
        &s.store,
        &format!("{p}/docs/with space & 'quotes'.pdf"),
        b"%PDF-1.4 tiny".to_vec(),
        Some("text/html"),
    )
    .await;
    for stray in ["stray.txt", "uploads/9/new.txt", "deep/er/stray.bin"] {
        put(
            &s.store,
            &format!("{p}/{stray}"),
            b"not in the backup".to_vec(),
            None,
        )
        .await;
    }

    let summary =
        s.lb.restore(&restore_media(
            &backup.backup_id,
            &s.env_id,
            "production",
            true,
        ))
        .await
        .unwrap();
    assert!(summary.safety_backup_id.is_some());
    let media = summary.media.unwrap();
    assert_eq!((media.written, media.deleted), (Some(11), Some(3)));
    assert_eq!(contents(&s.store, p).await, seeded);
    assert_eq!(contents(&s.store, &format!("{p}-other")).await, beside);

    // Run again, nothing differs: nothing is written or deleted.
    let again = restore_in_place(&s, &backup.backup_id).await;
    assert_eq!((again.written, again.deleted), (Some(0), Some(0)));
}

#[tokio::test]
async fn bucket_media_restores_into_a_directory_and_a_directory_into_a_bucket() {
    let s = setup(None).await;
    let seeded = seed(&s.store, &s.prefix).await;
    let backup = s.lb.backup(&media_only(&s.env_id)).await.unwrap();

    // Bucket → directory.
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().join("media");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("stray.txt"), b"not in the backup").unwrap();
    let staging = environment(&s.lb, &s.app_id, "staging", Some(&dir)).await;
    s.lb.restore(&restore_media(
        &backup.backup_id,
        &staging.id,
        "staging",
        false,
    ))
    .await
    .unwrap();
    assert_eq!(files(&dir), without_types(&seeded));

    // Directory → bucket: the files as they are, with the content types their names suggest.
    std::fs::write(dir.join("uploads/photo.jpg"), vec![0xFF; 1000]).unwrap();
    let from_dir = s.lb.backup(&media_only(&staging.id)).await.unwrap();
    let other = format!("media-{}", uuid::Uuid::new_v4());
    let review = environment(&s.lb, &s.app_id, "review", None).await;
    let server = common::var("LIFEBOAT_TEST_S3_ENDPOINT");
    s.lb.set_media_bucket(&review.id, Some(&media_bucket(&server, &other)))
        .await
        .unwrap();
    s.lb.restore(&restore_media(
        &from_dir.backup_id,
        &review.id,
        "review",
        false,
    ))
    .await
    .unwrap();
    let restored = contents(&s.store, &other).await;
    assert_eq!(without_types(&restored), files(&dir));
    assert_eq!(
        restored["uploads/photo.jpg"].1.as_deref(),
        Some("image/jpeg")
    );

    // Symlinks cannot be objects: refused before anything is written.
    std::os::unix::fs::symlink("photo.jpg", dir.join("uploads/latest.jpg")).unwrap();
    let with_link = s.lb.backup(&media_only(&staging.id)).await.unwrap();
    let refused =
        s.lb.restore(&restore_media(
            &with_link.backup_id,
            &review.id,
            "review",
            false,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Validation, "{refused:?}");
    assert!(refused.message.contains("symlink"), "{}", refused.message);
    assert_eq!(contents(&s.store, &other).await, restored);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_with_its_code_and_nothing_is_saved() {
    let s = setup(None).await;
    let lb = &s.lb;
    let env = environment(lb, &s.app_id, "staging", None).await;
    let mut input = media_bucket(&common::var("LIFEBOAT_TEST_S3_ENDPOINT"), &s.prefix);
    input.secret_access_key = Some("not-the-secret".into());
    let refused = lb
        .set_media_bucket(&env.id, Some(&input))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::S3AuthFailed, "{refused:?}");
    assert_eq!(refused.field.as_deref(), Some("secretAccessKey"));
    assert!(lb
        .environment(&env.id)
        .await
        .unwrap()
        .media_bucket
        .is_none());
    // Nothing in the keyring either: a later save without a secret asks for one.
    input.secret_access_key = None;
    let asked = lb
        .set_media_bucket(&env.id, Some(&input))
        .await
        .unwrap_err();
    assert_eq!(asked.field.as_deref(), Some("secretAccessKey"));
}

#[tokio::test]
async fn a_server_that_stops_mid_backup_leaves_no_backup_behind() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let s = setup(Some(&proxy.endpoint)).await;
    seed(&s.store, &s.prefix).await;
    // The listing and some objects pass, then the server is gone.
    proxy.stop_after(60);
    let failed = s.lb.backup(&media_only(&s.env_id)).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::S3Unreachable, "{failed:?}");
    assert!(
        failed.message.contains(
            s.lb.environment(&s.env_id)
                .await
                .unwrap()
                .media_bucket
                .unwrap()
                .url()
                .as_str()
        ),
        "{}",
        failed.message
    );
    let listed = s.lb.list_backups(&s.env_id).await.unwrap();
    assert!(
        listed.iter().all(|entry| entry.backup.is_none()),
        "{listed:?}"
    );
    let target = s.lb.environment(&s.env_id).await.unwrap().target_id;
    let storage = s.lb.storage_of(&target).await.unwrap();
    assert_eq!(storage.list("shop").await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn a_server_that_stops_mid_restore_is_reported_and_restoring_again_completes_it() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let s = setup(Some(&proxy.endpoint)).await;
    let seeded = seed(&s.store, &s.prefix).await;
    let backup = s.lb.backup(&media_only(&s.env_id)).await.unwrap();
    for (path, _) in seeded.iter().take(100) {
        s.store
            .delete(&Path::parse(format!("{}/{path}", s.prefix)).unwrap())
            .await
            .unwrap();
    }

    // The write check (a put and a delete), the listing and a HEAD of each of the 204 objects
    // still there pass, then some writes.
    proxy.stop_after(3 + 204 + 40);
    let failed =
        s.lb.restore(&restore_media(
            &backup.backup_id,
            &s.env_id,
            "production",
            false,
        ))
        .await
        .unwrap_err();
    assert_eq!(failed.code, ErrorCode::MediaRestoreIncomplete, "{failed:?}");
    assert!(
        failed.message.contains("restore again"),
        "{}",
        failed.message
    );
    let between = contents(&s.store, &s.prefix).await;
    assert!(
        between.len() > 204 && between.len() < 304,
        "{} objects",
        between.len()
    );

    proxy.restart();
    let completed = restore_in_place(&s, &backup.backup_id).await;
    assert_eq!(completed.written, Some(304 - between.len() as u64));
    assert_eq!(contents(&s.store, &s.prefix).await, seeded);
}

#[tokio::test]
async fn a_read_only_key_backs_up_but_is_refused_a_restore_before_anything_changes() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let s = setup(Some(&proxy.endpoint)).await;
    let seeded = seed(&s.store, &s.prefix).await;
    proxy.read_only();

    let check =
        s.lb.check_media_bucket(&s.env_id, None, true)
            .await
            .unwrap();
    assert!(
        check.list.ok && check.read.ok && !check.write.ok,
        "{check:?}"
    );
    assert!(
        check.write.detail.contains("cannot be written"),
        "{check:?}"
    );
    let backup = s.lb.backup(&media_only(&s.env_id)).await.unwrap();
    assert_eq!(backup.media.unwrap().file_count, 304);

    let first = seeded.keys().next().unwrap();
    s.store
        .delete(&Path::parse(format!("{}/{first}", s.prefix)).unwrap())
        .await
        .unwrap();
    let damaged = contents(&s.store, &s.prefix).await;
    let refused =
        s.lb.restore(&restore_media(
            &backup.backup_id,
            &s.env_id,
            "production",
            true,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::MediaBucketReadOnly, "{refused:?}");
    assert_eq!(contents(&s.store, &s.prefix).await, damaged);
    // Refused before the safety backup too: only the one backup exists.
    let listed = s.lb.list_backups(&s.env_id).await.unwrap();
    assert_eq!(listed.iter().filter(|e| e.backup.is_some()).count(), 1);
}

#[tokio::test]
async fn a_restore_cut_off_while_writing_into_the_bucket_says_to_restore_again() {
    let s = setup(None).await;
    let seeded = seed(&s.store, &s.prefix).await;
    let backup = s.lb.backup(&media_only(&s.env_id)).await.unwrap();
    // What a Lifeboat killed while writing leaves: the job past its point of no return, in the
    // bucket-writing phase, and some objects written.
    let job_id = "0123abcd-bucket-cut-off";
    let catalog = s.lb.catalog();
    catalog
        .insert_job(
            job_id,
            &s.env_id,
            &lifeboat_core::JobRequest::Restore(restore_media(
                &backup.backup_id,
                &s.env_id,
                "production",
                false,
            )),
        )
        .await
        .unwrap();
    let mut job = catalog.job(job_id).await.unwrap();
    job.phase = "writing-bucket".into();
    job.cancellable = false;
    catalog.update_job_progress(&job).await.unwrap();
    catalog.interrupt_job(job_id).await.unwrap();
    let said = catalog.job(job_id).await.unwrap().error.expect("an error");
    assert_eq!(said.code, ErrorCode::Interrupted);
    assert!(
        said.message.contains("Restore again to complete it"),
        "{}",
        said.message
    );

    let first = seeded.keys().next().unwrap();
    s.store
        .delete(&Path::parse(format!("{}/{first}", s.prefix)).unwrap())
        .await
        .unwrap();
    s.lb.restore(&restore_media(
        &backup.backup_id,
        &s.env_id,
        "production",
        false,
    ))
    .await
    .unwrap();
    assert_eq!(contents(&s.store, &s.prefix).await, seeded);
}

/// The GET requests for objects under `prefix` among those the server received.
fn object_reads(proxy: &S3Proxy, prefix: &str) -> usize {
    proxy
        .request_heads()
        .iter()
        .filter_map(|head| head.lines().next())
        .filter(|line| line.starts_with("GET ") && line.contains(&format!("/{prefix}/")))
        .count()
}

#[tokio::test]
async fn a_deduplicated_backup_of_a_bucket_fetches_only_the_objects_that_changed() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let s = setup(Some(&proxy.endpoint)).await;
    seed(&s.store, &s.prefix).await;
    let mut settings = s.lb.settings().await.unwrap();
    settings.deduplicate = true;
    s.lb.update_settings(&settings).await.unwrap();
    let first = s.lb.backup(&media_only(&s.env_id)).await.unwrap();
    assert!(first.media.unwrap().artifact.chunked.is_some());

    // One upload edited, one added.
    let edited = format!("{}/uploads/0/file-001.txt", s.prefix);
    put(&s.store, &edited, b"edited\n".to_vec(), Some("text/plain")).await;
    let added = format!("{}/uploads/new.txt", s.prefix);
    put(&s.store, &added, b"new\n".to_vec(), Some("text/plain")).await;
    let before = object_reads(&proxy, &s.prefix);
    let second = s.lb.backup(&media_only(&s.env_id)).await.unwrap();
    assert_eq!(object_reads(&proxy, &s.prefix) - before, 2);

    // What the bucket holds now, with the attributes of the objects not fetched again.
    let unpacked = common::fixture::downloaded_media(&s.lb, &second.backup_id).await;
    let now = contents(&s.store, &s.prefix).await;
    assert_eq!(files(&unpacked.path().join("media")), without_types(&now));
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(unpacked.path().join("lifeboat-media-manifest.json")).unwrap(),
    )
    .unwrap();
    let clip = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "video/clip.mp4")
        .unwrap();
    assert_eq!(clip["object"]["contentType"], "video/mp4");

    // A full backup of the same bucket is the very same archive.
    settings.deduplicate = false;
    s.lb.update_settings(&settings).await.unwrap();
    let full = s.lb.backup(&media_only(&s.env_id)).await.unwrap();
    let (_a, full_tar) = common::fixture::downloaded_media_tar(&s.lb, &full.backup_id).await;
    let (_b, dedup_tar) = common::fixture::downloaded_media_tar(&s.lb, &second.backup_id).await;
    assert_eq!(
        common::fixture::sha256sum(&dedup_tar),
        common::fixture::sha256sum(&full_tar)
    );
}
