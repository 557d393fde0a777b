//! Shared set-up for integration tests. The services are real and started by `scripts/test`,
//! which passes their coordinates in LIFEBOAT_TEST_* variables.
#![allow(dead_code)] // each test file uses a different part of this module

use lifeboat_core::{Home, Lifeboat, PgConnectionInput, S3Settings, SslMode};

pub mod fixture;
pub mod s3_proxy;

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
        ssl_root_cert: None,
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
        server_side_encryption: None,
        insecure_http: None,
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

/// A superuser connection to the test cluster's `postgres` database.
pub async fn admin() -> sqlx::PgConnection {
    connect("postgres").await
}

pub async fn connect(database: &str) -> sqlx::PgConnection {
    connect_as(&pg_input(database)).await
}

pub async fn connect_as(i: &PgConnectionInput) -> sqlx::PgConnection {
    use sqlx::Connection;
    let url = format!(
        "postgres://{}:{}@{}:{}/{}?sslmode=disable",
        i.user,
        i.password.as_deref().unwrap_or_default(),
        i.host,
        i.port,
        i.database
    );
    sqlx::PgConnection::connect(&url).await.unwrap()
}

/// A login role that is not a superuser (an application's own role) and a database it owns,
/// the way a DBA or a managed platform sets one up. Returns how to connect as that role.
pub async fn create_app_database(prefix: &str) -> PgConnectionInput {
    use sqlx::Executor;
    let name = format!("{prefix}_{}", uuid_like().replace('-', "_"));
    let password = format!("pw-{}", uuid_like());
    let mut admin = admin().await;
    admin
        .execute(format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'").as_str())
        .await
        .unwrap();
    admin
        .execute(format!("CREATE DATABASE {name} OWNER {name}").as_str())
        .await
        .unwrap();
    PgConnectionInput {
        database: name.clone(),
        user: name,
        password: Some(password),
        ..pg_input("")
    }
}

/// The fixture's tables, sequence and rows (what `create_fixture_database` makes, without
/// the extension), created by whoever `db` is connected as.
pub const FIXTURE_TABLES: &str = r#"
        CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255) NOT NULL,
            name varchar(255) NOT NULL, applied timestamptz NOT NULL DEFAULT now());
        INSERT INTO django_migrations (app, name) VALUES
            ('contenttypes', '0001_initial'), ('auth', '0001_initial'), ('auth', '0012_alter_user_first_name_max_length'),
            ('shop', '0001_initial'), ('shop', '0002_order_note');
        CREATE TABLE auth_user (id serial PRIMARY KEY, username varchar(150) UNIQUE NOT NULL,
            password_hash text NOT NULL, is_superuser boolean NOT NULL DEFAULT false);
        CREATE SEQUENCE shop_invoice_number START 1000;
        CREATE TABLE shop_order (id bigserial PRIMARY KEY, customer_id integer NOT NULL REFERENCES auth_user (id),
            invoice bigint NOT NULL DEFAULT nextval('shop_invoice_number'), total numeric(10, 2) NOT NULL,
            note text, token uuid NOT NULL DEFAULT gen_random_uuid());
        INSERT INTO auth_user (username, password_hash, is_superuser)
            SELECT 'user' || g, crypt('pw' || g, gen_salt('bf', 4)), g = 1 FROM generate_series(1, 200) g;
        INSERT INTO shop_order (customer_id, total, note)
            SELECT 1 + (g % 200), (g * 7 % 10000) / 100.0, CASE WHEN g % 3 = 0 THEN 'naïve café ☕ ' || g END
            FROM generate_series(1, 5000) g;
"#;

/// A fresh, uniquely named empty database.
pub async fn create_database(prefix: &str) -> String {
    use sqlx::Executor;
    let name = format!("{prefix}_{}", uuid_like().replace('-', "_"));
    admin()
        .await
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    name
}

/// A Django-shaped database: migrations table, foreign keys, a sequence, an extension, a few
/// thousand rows.
pub async fn create_fixture_database() -> String {
    use sqlx::Executor;
    let name = create_database("fixture").await;
    let mut db = connect(&name).await;
    db.execute("CREATE EXTENSION pgcrypto").await.unwrap();
    db.execute(FIXTURE_TABLES).await.unwrap();
    name
}

/// Row counts and a checksum of every row of the fixture's tables, to compare two databases.
pub async fn fingerprint(database: &str) -> Vec<(String, i64, String)> {
    fingerprint_of(&mut connect(database).await).await
}

pub async fn fingerprint_of(db: &mut sqlx::PgConnection) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for table in ["django_migrations", "auth_user", "shop_order"] {
        let row: (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') FROM {table} t"
        ))
        .fetch_one(&mut *db)
        .await
        .unwrap();
        out.push((table.to_owned(), row.0, row.1));
    }
    let next: (i64,) = sqlx::query_as("SELECT last_value FROM shop_invoice_number")
        .fetch_one(&mut *db)
        .await
        .unwrap();
    out.push(("shop_invoice_number".into(), next.0, String::new()));
    out
}

/// A media tree with the awkward cases: unicode and long names, empty directories, zero-byte
/// files, a symlink, nested directories.
/// A file of `len` bytes zstd cannot shrink (xorshift noise), so stored sizes stay large.
pub fn write_incompressible(path: &std::path::Path, len: usize) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

pub fn create_media_tree(root: &std::path::Path) {
    use std::fs;
    fs::create_dir_all(root.join("uploads/2026/11")).unwrap();
    fs::create_dir_all(root.join("empty/nested-empty")).unwrap();
    fs::write(root.join("uploads/2026/11/photo.jpg"), vec![0xAB; 300_000]).unwrap();
    fs::write(root.join("uploads/zero-bytes.txt"), b"").unwrap();
    fs::write(root.join("uploads/naïve café ☕.txt"), "unicode name\n").unwrap();
    fs::write(
        root.join("uploads/with space & 'quotes'.pdf"),
        b"%PDF-1.4 tiny",
    )
    .unwrap();
    let long = format!("uploads/{}.bin", "very-long-name-".repeat(12));
    fs::write(
        root.join(long),
        (0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("2026/11/photo.jpg", root.join("uploads/latest.jpg")).unwrap();
}

/// Every entry of a media tree: file contents' SHA-256, directories, symlink targets.
pub fn media_hashes(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let relative = e.path().strip_prefix(root).unwrap().display().to_string();
            let kind = e.path_is_symlink();
            let value = if kind {
                format!("-> {}", std::fs::read_link(e.path()).unwrap().display())
            } else if e.file_type().is_dir() {
                "dir".to_owned()
            } else {
                format!(
                    "{:x}",
                    <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(e.path()).unwrap())
                )
            };
            (relative, value)
        })
        .collect()
}

/// Runs a command, failing the test with its stderr when it fails.
pub fn run(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn pg_tool(name: &str) -> std::path::PathBuf {
    std::path::Path::new(&var("LIFEBOAT_TEST_PG_BIN")).join(name)
}

/// Restores a dump file into `database` with the stock pg_restore, as a person would by hand.
pub fn pg_restore_by_hand(database: &str, dump: &std::path::Path) {
    let i = pg_input(database);
    run(std::process::Command::new(pg_tool("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "-d", database])
        .env("PGHOST", &i.host)
        .env("PGPORT", i.port.to_string())
        .env("PGUSER", &i.user)
        .env("PGPASSWORD", i.password.as_deref().unwrap())
        .arg(dump));
}

/// A small tmpfs mounted for one test (a full disk, a read-only folder); unmounted on drop.
pub struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    pub fn tmpfs(options: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        run(std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path()));
        Self { dir }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .ok();
    }
}
