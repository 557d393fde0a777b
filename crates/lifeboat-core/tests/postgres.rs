//! Test connection against the real PostgreSQL cluster started by scripts/test.

mod common;

use lifeboat_core::{EnvironmentChange, EnvironmentInput, ErrorCode};

#[tokio::test]
async fn reports_version_size_and_a_compatible_pg_dump() {
    let (_home, lb) = common::lifeboat().await;
    let report = lb
        .test_connection(&common::pg_input("postgres"), None)
        .await
        .unwrap();
    let bin = common::var("LIFEBOAT_TEST_PG_BIN");
    let expected_major: u32 = bin.split('/').rev().nth(1).unwrap().parse().unwrap();
    assert_eq!(report.server_major, expected_major);
    assert!(
        report
            .server_version
            .starts_with(&format!("{expected_major}.")),
        "{}",
        report.server_version
    );
    assert!(
        report.database_size_bytes > 1_000_000,
        "size {}",
        report.database_size_bytes
    );
    let pg_dump = report
        .pg_dump
        .expect("a pg_dump for the server's version is installed");
    assert!(pg_dump.major >= report.server_major);
    assert!(report.pg_dump_candidates.contains(&pg_dump));
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_failure() {
    let (_home, lb) = common::lifeboat().await;
    let mut input = common::pg_input("postgres");
    input.password = Some("not-the-password".into());
    let err = lb.test_connection(&input, None).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::PgAuthFailed, Some("password")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("not-the-password"));
}

#[tokio::test]
async fn a_missing_database_has_its_own_code() {
    let (_home, lb) = common::lifeboat().await;
    let err = lb
        .test_connection(&common::pg_input("no_such_database"), None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::PgDatabaseMissing, Some("database"))
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let (_home, lb) = common::lifeboat().await;
    let mut input = common::pg_input("postgres");
    input.port = common::closed_port();
    let err = lb.test_connection(&input, None).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::PgUnreachable, Some("port")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_host_is_marked_on_its_field() {
    let (_home, lb) = common::lifeboat().await;
    let mut input = common::pg_input("postgres");
    // .invalid never resolves (RFC 2606).
    input.host = "db.lifeboat-test.invalid".into();
    let err = lb.test_connection(&input, None).await.unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::PgUnreachable, Some("host")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_saved_environment_is_tested_with_its_keyring_password() {
    let (_home, lb) = common::lifeboat().await;
    let app = lb.create_application("shop").await.unwrap();
    let env = lb
        .create_environment(&EnvironmentInput {
            application_id: app.id,
            name: "production".into(),
            connection: Some(common::pg_input("postgres")),
            media_dir: None,
            target_id: None,
        })
        .await
        .unwrap();
    let mut without_password = common::pg_input("postgres");
    without_password.password = None;
    let report = lb
        .test_connection(&without_password, Some(&env.id))
        .await
        .unwrap();
    assert!(report.server_major >= 10);
    let err = lb
        .test_connection(&without_password, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PgAuthFailed);

    // The saved password goes only to the host, port and user it was saved for: the same
    // server under another name is not sent it, and refuses.
    let mut elsewhere = without_password.clone();
    elsewhere.host = "localhost".into();
    let err = lb
        .test_connection(&elsewhere, Some(&env.id))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.field.as_deref()),
        (ErrorCode::PgAuthFailed, Some("password")),
        "{err:?}"
    );
    // Saving the other host without a password forgets the saved one.
    let moved = lb
        .change_environment(&env.id, &EnvironmentChange::Connection(Some(elsewhere)))
        .await
        .unwrap();
    assert!(!moved.connection.unwrap().has_password);
    lb.delete_environment(&env.id).await.unwrap();
}

/// The test cluster's certificate says "localhost" and is signed by a CA of the tests' own
/// (scripts/lib/services.sh), as a managed provider's or a self-signed server's is.
fn checked_tls(database: &str, ca: Option<String>) -> lifeboat_core::PgConnectionInput {
    lifeboat_core::PgConnectionInput {
        host: "localhost".into(),
        ssl_mode: lifeboat_core::SslMode::VerifyFull,
        ssl_root_cert: ca,
        ..common::pg_input(database)
    }
}

#[tokio::test]
async fn a_server_checked_against_its_ca_works_for_the_probe_and_the_backup_and_fails_without() {
    let f = common::fixture::fixture(common::fixture::Target::Local).await;
    let ca = common::var("LIFEBOAT_TEST_PG_CA");
    let env = f.lb.environment(&f.env_id).await.unwrap();
    let use_connection = |connection| EnvironmentInput {
        application_id: env.application_id.clone(),
        name: env.name.clone(),
        connection: Some(connection),
        media_dir: None,
        target_id: Some(env.target_id.clone()),
    };
    let backup = lifeboat_core::BackupRequest {
        environment_id: f.env_id.clone(),
        database: true,
        media: false,
        note: None,
        kind: lifeboat_core::BackupKind::OnDemand,
        full_rescan: false,
    };

    // Without the CA, nothing gets past the server's certificate: not Test connection, not the
    // backup (whose pg_dump would check it the same way).
    let unchecked = checked_tls(&f.database, None);
    let e = f.lb.test_connection(&unchecked, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::PgTls, "{e:?}");
    assert_eq!(e.field.as_deref(), Some("sslRootCert"));
    f.lb.update_environment(&f.env_id, &use_connection(unchecked))
        .await
        .unwrap();
    let e = f.lb.backup(&backup).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::PgTls, "{e:?}");

    // With it, both work, and the dump went over TLS to the server the certificate names.
    let checked = checked_tls(&f.database, Some(ca));
    f.lb.test_connection(&checked, None).await.unwrap();
    f.lb.update_environment(&f.env_id, &use_connection(checked))
        .await
        .unwrap();
    let made = f.lb.backup(&backup).await.unwrap();
    assert!(made.database.is_some());
    let saved =
        f.lb.environment(&f.env_id)
            .await
            .unwrap()
            .connection
            .unwrap();
    assert_eq!(
        saved.ssl_root_cert.as_deref(),
        Some(common::var("LIFEBOAT_TEST_PG_CA").as_str())
    );
}
