//! Shared set-up for integration tests. The services are real and started by `scripts/test`,
//! which passes their coordinates in LIFEBOAT_TEST_* variables.
#![allow(dead_code)] // each test file uses a different part of this module

use lifeboat_core::connection::{PgConnectionInput, SslMode};
use lifeboat_core::targets::S3Settings;
use lifeboat_core::{Home, Lifeboat};

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test, which starts PostgreSQL, S3 and a keyring")
    })
}

/// A Lifeboat with its own catalog in a temporary home.
pub async fn lifeboat() -> (tempfile::TempDir, Lifeboat) {
    let home = tempfile::tempdir().unwrap();
    let lifeboat = Lifeboat::open(Home::at(home.path())).await.unwrap();
    (home, lifeboat)
}

pub fn pg_input(database: &str) -> PgConnectionInput {
    PgConnectionInput {
        host: var("LIFEBOAT_TEST_PG_HOST"),
        port: var("LIFEBOAT_TEST_PG_PORT").parse().unwrap(),
        database: database.to_owned(),
        user: var("LIFEBOAT_TEST_PG_USER"),
        ssl_mode: SslMode::Disable,
        password: Some(var("LIFEBOAT_TEST_PG_PASSWORD")),
    }
}

pub fn s3_settings() -> S3Settings {
    S3Settings {
        endpoint: Some(var("LIFEBOAT_TEST_S3_ENDPOINT")),
        region: var("LIFEBOAT_TEST_S3_REGION"),
        bucket: var("LIFEBOAT_TEST_S3_BUCKET"),
        prefix: format!("tests/{}", uuid_like()),
        path_style: true,
        storage_class: std::env::var("LIFEBOAT_TEST_S3_STORAGE_CLASS").unwrap_or_default(),
        access_key_id: var("LIFEBOAT_TEST_S3_ACCESS_KEY_ID"),
    }
}

pub fn s3_secret() -> String {
    var("LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY")
}

/// A port on loopback with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}-{}", std::process::id())
}
