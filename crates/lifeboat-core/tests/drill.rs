//! Restore drills against the real PostgreSQL server, S3-compatible server and keyring. Every
//! case ends by proving nothing was left behind: no temporary database, no temporary directory.

mod common;

use common::fixture::{both, fixture, s3, wait_finished, Fixture, Target};
use common::s3_proxy::S3Proxy;
use lifeboat_core::backup::manifest::DATABASE_FILE;
use lifeboat_core::connection::PgConnectionInput;
use lifeboat_core::drill::{DrillReport, DrillRequest, DRILL_DATABASE_PREFIX};
use lifeboat_core::jobs::{JobRequest, JobStatus};
use lifeboat_core::ErrorCode;

fn request(f: &Fixture) -> DrillRequest {
    DrillRequest {
        environment_id: f.env_id.clone(),
        backup_id: None,
    }
}

/// Temporary drill databases on the test server.
async fn drill_databases() -> Vec<String> {
    let mut admin = common::admin().await;
    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
        .bind(format!("{DRILL_DATABASE_PREFIX}%"))
        .fetch_all(&mut admin)
        .await
        .unwrap()
}

fn drill_dir_exists(report_id: &str) -> bool {
    std::env::temp_dir()
        .join(format!("lifeboat-drill-{report_id}"))
        .exists()
}

async fn assert_nothing_left(report: &DrillReport) {
    let scratch = format!("{DRILL_DATABASE_PREFIX}{}", &report.id[..8]);
    assert!(
        !drill_databases().await.contains(&scratch),
        "{scratch} was left behind"
    );
    assert!(
        !drill_dir_exists(&report.id),
        "the media directory was left behind"
    );
}

fn failed(report: &DrillReport) -> &str {
    assert!(!report.ok, "the drill passed: {report:?}");
    &report.first_failure().unwrap().name
}

#[tokio::test]
async fn a_drill_of_a_good_backup_passes_every_check_and_leaves_nothing() {
    let f = fixture(s3()).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let record = f.lb.catalog().backup(&backup.backup_id).await.unwrap();
    assert!(
        record.verification.is_some_and(|v| v.ok),
        "every backup is verified right after it is made"
    );
    let recorded = backup
        .database
        .as_ref()
        .unwrap()
        .migrations
        .as_ref()
        .unwrap();
    assert_eq!(recorded.count, 5);
    f.lb.set_drill_checks(
        &f.env_id,
        &["select count(*) from auth_user where is_superuser;".into()],
    )
    .await
    .unwrap();

    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert!(report.ok, "{:?}", report.checks);
    assert_eq!(report.backup_id, backup.backup_id);
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "restore",
        "tables",
        "extensions",
        "django migrations",
        "sql check",
        "media",
    ] {
        assert!(
            names.contains(&expected),
            "no {expected} check in {names:?}"
        );
    }
    let migrations = report
        .checks
        .iter()
        .find(|c| c.name == "django migrations")
        .unwrap();
    assert!(
        migrations.detail.starts_with("5 migrations"),
        "{}",
        migrations.detail
    );
    assert!(report.database_restore_ms > 0);
    assert_nothing_left(&report).await;

    let history = f.lb.drills(&f.env_id).await.unwrap();
    assert_eq!(history, vec![report]);
}

#[tokio::test]
async fn a_corrupt_artifact_fails_the_checksum_check_and_leaves_nothing() {
    let f = fixture(Target::Local).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let record = f.lb.catalog().backup(&backup.backup_id).await.unwrap();
    let target = f.lb.catalog().target(&record.target_id).await.unwrap();
    let lifeboat_core::targets::TargetConfig::Local(local) = target.config else {
        panic!("a local target")
    };
    let stored = std::path::Path::new(&local.path)
        .join(&record.storage_dir)
        .join(DATABASE_FILE);
    let mut bytes = std::fs::read(&stored).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&stored, bytes).unwrap();

    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert!(["checksums", "archive"].contains(&failed(&report)));
    assert_nothing_left(&report).await;
    let job = f.lb.catalog().job(&report.id).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.unwrap().code, ErrorCode::DrillFailed);
    let notice =
        f.lb.notice_for(&f.lb.catalog().job(&report.id).await.unwrap())
            .await
            .unwrap();
    assert_eq!(notice.title, "Restore drill of shop / production failed");
}

#[tokio::test]
async fn a_failing_sql_check_is_named() {
    let f = fixture(Target::Local).await;
    f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    f.lb.set_drill_checks(
        &f.env_id,
        &["select count(*) from shop_order where total < 0".into()],
    )
    .await
    .unwrap();
    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert_eq!(failed(&report), "sql check");
    assert!(report
        .first_failure()
        .unwrap()
        .detail
        .ends_with("returned 0"));
    assert_nothing_left(&report).await;
}

#[tokio::test]
async fn an_unreachable_drill_server_is_named() {
    let f = fixture(Target::Local).await;
    f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let unreachable = PgConnectionInput {
        port: common::closed_port(),
        ..common::pg_input("postgres")
    };
    let report = f.lb.drill(&request(&f), Some(unreachable)).await.unwrap();
    assert_eq!(failed(&report), "drill server");
    assert_nothing_left(&report).await;
}

#[tokio::test]
async fn fewer_migrations_in_the_dump_than_recorded_fail_the_comparison() {
    let f = fixture(Target::Local).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    // A manifest that says the database had one more migration than the dump holds.
    sqlx::query(
        "UPDATE backups SET manifest = json_set(manifest, '$.database.migrations.count', 6) WHERE id = ?",
    )
    .bind(&backup.backup_id)
    .execute(f.lb.catalog().pool())
    .await
    .unwrap();
    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert_eq!(failed(&report), "django migrations");
    assert!(report
        .first_failure()
        .unwrap()
        .detail
        .contains("recorded 6 migrations"));
}

#[tokio::test]
async fn a_cancelled_drill_still_drops_its_database() {
    let proxy = S3Proxy::start(&common::var("LIFEBOAT_TEST_S3_ENDPOINT")).await;
    let mut settings = common::s3_settings();
    settings.endpoint = Some(proxy.endpoint.clone());
    let f = fixture(Target::S3(settings, common::s3_secret())).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();

    // The network stops half-way through the dump: pg_restore is running in the drill database.
    proxy.stall_after(backup.database.as_ref().unwrap().artifact.stored_bytes / 2);
    let mut events = f.lb.jobs().subscribe();
    let job = f.lb.start_drill(&request(&f)).await.unwrap();
    loop {
        let event = events.recv().await.unwrap();
        if event.id == job.id && event.bytes_done > 0 {
            break;
        }
    }
    let scratch = format!("{DRILL_DATABASE_PREFIX}{}", &job.id[..8]);
    assert!(drill_databases().await.contains(&scratch));

    assert!(f.lb.jobs().cancel(&job.id));
    let ended = wait_finished(&f.lb, &job).await;
    proxy.release();
    assert_eq!(ended.status, JobStatus::Cancelled);
    assert!(matches!(ended.request, JobRequest::Drill(_)));
    assert!(!drill_databases().await.contains(&scratch));
    assert!(!drill_dir_exists(&job.id));
}

#[tokio::test]
async fn drills_run_on_the_environments_drill_server_when_one_is_set() {
    let f = fixture(Target::Local).await;
    f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let unreachable = PgConnectionInput {
        port: common::closed_port(),
        ..common::pg_input("postgres")
    };
    let env =
        f.lb.set_drill_server(&f.env_id, Some(unreachable))
            .await
            .unwrap();
    assert!(
        env.drill_server.unwrap().has_password,
        "its password went to the keyring"
    );
    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert_eq!(failed(&report), "drill server");

    f.lb.set_drill_server(&f.env_id, Some(common::pg_input("postgres")))
        .await
        .unwrap();
    assert!(f.lb.drill(&request(&f), None).await.unwrap().ok);
    let env = f.lb.set_drill_server(&f.env_id, None).await.unwrap();
    assert_eq!(env.drill_server, None);
}
