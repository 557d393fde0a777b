//! Storage target tests against the real S3-compatible server started by scripts/test (any S3
//! endpoint given in LIFEBOAT_TEST_S3_* works) and the local folder target.

mod common;

use lifeboat_core::{ErrorCode, S3ConfigInput, TargetConfig, TargetConfigInput, TargetInput};

fn s3_input(name: &str) -> TargetInput {
    TargetInput {
        name: name.into(),
        config: TargetConfigInput::S3(S3ConfigInput {
            settings: common::s3_settings(),
            secret_access_key: Some(common::s3_secret()),
        }),
    }
}

fn with_settings(mut input: TargetInput, edit: impl FnOnce(&mut S3ConfigInput)) -> TargetInput {
    if let TargetConfigInput::S3(s3) = &mut input.config {
        edit(s3);
    }
    input
}

#[tokio::test]
async fn the_default_local_target_passes_its_probe_and_leaves_nothing() {
    let (home, lb) = common::lifeboat().await;
    let target = lb.list_targets().await.unwrap().remove(0);
    let TargetConfig::Local(local) = &target.config else {
        panic!("not local")
    };
    let input = TargetInput {
        name: target.name.clone(),
        config: TargetConfigInput::Local(local.clone()),
    };
    lb.test_target(&input, Some(&target.id)).await.unwrap();
    let left: Vec<_> = std::fs::read_dir(home.path().join("storage"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "probe left files: {left:?}");
}

#[tokio::test]
async fn an_s3_target_passes_its_probe() {
    let (_home, lb) = common::lifeboat().await;
    let report = lb.test_target(&s3_input("s3"), None).await.unwrap();
    assert!(report.elapsed_ms < 60_000);
}

#[tokio::test]
async fn a_saved_s3_target_is_tested_with_its_keyring_secret() {
    let (_home, lb) = common::lifeboat().await;
    let target = lb.create_target(&s3_input("offsite")).await.unwrap();
    let TargetConfig::S3(saved) = &target.config else {
        panic!("not s3")
    };
    assert!(saved.has_secret);
    let without_secret = with_settings(s3_input("offsite"), |s| s.secret_access_key = None);
    lb.test_target(&without_secret, Some(&target.id))
        .await
        .unwrap();
    let unsaved = lb.test_target(&without_secret, None).await.unwrap_err();
    assert_eq!(
        (unsaved.code, unsaved.field.as_deref()),
        (ErrorCode::Validation, Some("secretAccessKey"))
    );
    lb.delete_target(&target.id).await.unwrap();
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_failure() {
    let (_home, lb) = common::lifeboat().await;
    let input = with_settings(s3_input("s3"), |s| {
        s.secret_access_key = Some("wrong-secret".into())
    });
    let err = lb.test_target(&input, None).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::S3AuthFailed, Some("secretAccessKey")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("wrong-secret"));
}

#[tokio::test]
async fn an_unknown_access_key_is_marked_on_its_field() {
    let (_home, lb) = common::lifeboat().await;
    let input = with_settings(s3_input("s3"), |s| {
        s.settings.access_key_id = "no-such-key".into()
    });
    let err = lb.test_target(&input, None).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::S3AuthFailed, Some("accessKeyId")),
        "{err:?}"
    );
    // The sentence says what to do; what the server said stays available beside it.
    assert!(!err.message.contains('<'), "{}", err.message);
    assert!(err.detail.is_some_and(|d| d.contains("403")));
}

#[tokio::test]
async fn a_missing_bucket_has_its_own_code() {
    let (_home, lb) = common::lifeboat().await;
    let input = with_settings(s3_input("s3"), |s| {
        s.settings.bucket = "no-such-bucket-here".into()
    });
    let err = lb.test_target(&input, None).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::S3BucketMissing, Some("bucket")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_reported_as_such() {
    let (_home, lb) = common::lifeboat().await;
    let port = common::closed_port();
    let input = with_settings(s3_input("s3"), |s| {
        s.settings.endpoint = Some(format!("http://127.0.0.1:{port}"))
    });
    let err = lb.test_target(&input, None).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::S3Unreachable, Some("endpoint")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_rejected_storage_class_gets_a_clear_error() {
    // Only servers known to reject STANDARD_IA (s3s-fs, the harness default) can show this.
    if std::env::var_os("LIFEBOAT_TEST_S3_REJECTS_STANDARD_IA").is_none() {
        eprintln!("skipped: this S3 server accepts STANDARD_IA");
        return;
    }
    let (_home, lb) = common::lifeboat().await;
    let input = with_settings(s3_input("s3"), |s| {
        s.settings.storage_class = "STANDARD_IA".into()
    });
    let err = lb.test_target(&input, None).await.unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::S3StorageClassRejected,
        "{}",
        err.message
    );
}
