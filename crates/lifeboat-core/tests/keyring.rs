//! Secrets against the real Secret Service (GNOME Keyring in the test's D-Bus session): they
//! round-trip through the keyring and never reach the SQLite catalog.

mod common;

use lifeboat_core::{
    EnvironmentInput, ErrorCode, S3ConfigInput, SecretRef, TargetConfigInput, TargetInput,
};

/// Every file of the catalog (main file, WAL, shared memory) as raw bytes.
fn catalog_bytes(home: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(home).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("catalog.sqlite")
        {
            bytes.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn database_passwords_round_trip_and_stay_out_of_sqlite() {
    let (home, lb) = common::lifeboat().await;
    let password = format!("pw-{}-secret", std::process::id());
    let app = lb.create_application("shop").await.unwrap();
    let mut connection = common::pg_input("shop");
    connection.password = Some(password.clone());
    let mut input = EnvironmentInput {
        application_id: app.id,
        name: "production".into(),
        connection: Some(connection),
        media_dir: None,
        target_id: None,
    };
    let env = lb.create_environment(&input).await.unwrap();
    assert!(env.connection.as_ref().unwrap().has_password);
    let secret = SecretRef::DatabasePassword {
        environment_id: env.id.clone(),
    };
    assert_eq!(
        lifeboat_core::Credentials
            .get(secret.clone())
            .await
            .unwrap(),
        password
    );
    assert!(
        !contains(&catalog_bytes(home.path()), &password),
        "the password reached the catalog"
    );

    // No password in an edit keeps the saved one.
    input.connection.as_mut().unwrap().password = None;
    input.name = "prod".into();
    let edited = lb.update_environment(&env.id, &input).await.unwrap();
    assert!(edited.connection.unwrap().has_password);
    assert_eq!(
        lifeboat_core::Credentials
            .get(secret.clone())
            .await
            .unwrap(),
        password
    );

    // Removing the connection forgets the password.
    input.connection = None;
    lb.update_environment(&env.id, &input).await.unwrap();
    assert_eq!(
        lifeboat_core::Credentials
            .get(secret)
            .await
            .unwrap_err()
            .code,
        ErrorCode::SecretMissing
    );
}

#[tokio::test]
async fn deleting_an_environment_removes_its_password() {
    let (_home, lb) = common::lifeboat().await;
    let app = lb.create_application("shop").await.unwrap();
    let env = lb
        .create_environment(&EnvironmentInput {
            application_id: app.id.clone(),
            name: "production".into(),
            connection: Some(common::pg_input("shop")),
            media_dir: None,
            target_id: None,
        })
        .await
        .unwrap();
    let secret = SecretRef::DatabasePassword {
        environment_id: env.id.clone(),
    };
    lb.delete_application(&app.id).await.unwrap();
    assert_eq!(
        lifeboat_core::Credentials
            .get(secret)
            .await
            .unwrap_err()
            .code,
        ErrorCode::SecretMissing
    );
}

#[tokio::test]
async fn s3_secret_keys_stay_out_of_sqlite() {
    let (home, lb) = common::lifeboat().await;
    let secret = format!("s3-{}-very-secret", std::process::id());
    let mut settings = common::s3_settings();
    settings.storage_class = String::new();
    let target = lb
        .create_target(&TargetInput {
            name: "offsite".into(),
            config: TargetConfigInput::S3(S3ConfigInput {
                settings,
                secret_access_key: Some(secret.clone()),
            }),
        })
        .await
        .unwrap();
    let key = SecretRef::S3SecretKey {
        target_id: target.id.clone(),
    };
    assert_eq!(
        lifeboat_core::Credentials.get(key.clone()).await.unwrap(),
        secret
    );
    assert!(
        !contains(&catalog_bytes(home.path()), &secret),
        "the secret reached the catalog"
    );
    lb.delete_target(&target.id).await.unwrap();
    assert_eq!(
        lifeboat_core::Credentials.get(key).await.unwrap_err().code,
        ErrorCode::SecretMissing
    );
}

#[tokio::test]
async fn the_keyring_reports_itself_available() {
    let status = lifeboat_core::Credentials.status().await;
    assert!(status.available, "{:?}", status.message);
}

#[tokio::test]
async fn the_recovery_key_counts_as_saved_once_it_went_to_a_file() {
    let (home, lb) = common::lifeboat().await;
    assert_eq!(lb.info().await.unwrap().recovery_key_saved_at, None);

    lb.export_recovery_key(&home.path().join("key.txt"))
        .await
        .unwrap();
    let saved = lb.info().await.unwrap().recovery_key_saved_at;
    assert!(saved.is_some_and(|at| chrono::DateTime::parse_from_rfc3339(&at).is_ok()));
}

#[tokio::test]
async fn the_recovery_key_is_never_written_through_a_symlink() {
    let (home, lb) = common::lifeboat().await;
    let victim = home.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = home.path().join("key.txt");
    std::os::unix::fs::symlink(&victim, &link).unwrap();

    let e = lb.export_recovery_key(&link).await.unwrap_err();
    assert!(e.message.contains("symbolic link"), "{}", e.message);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(lb.info().await.unwrap().recovery_key_saved_at, None);
}
