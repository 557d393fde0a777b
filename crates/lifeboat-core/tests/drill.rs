//! Restore drills against the real PostgreSQL server, S3-compatible server and keyring. Every
//! case ends by proving nothing was left behind: no temporary database, no temporary directory.

mod common;

use common::fixture::{both, fixture, s3, wait_finished, Fixture, Target};
use common::s3_proxy::S3Proxy;
use lifeboat_core::format::layout::DATABASE_FILE;
use lifeboat_core::{
    scratch_dir, DrillPlace, DrillPlaceInput, DrillReport, DrillRequest, ErrorCode, JobRequest,
    JobStatus, Lifeboat, PgConnectionInput, DRILL_DATABASE_PREFIX,
};

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

/// Where a drill's scratch cluster runs.
fn cluster_dir(lb: &Lifeboat, drill_id: &str) -> std::path::PathBuf {
    scratch_dir(&lb.home().scratch_dir(), drill_id)
}

/// Whether any process (a postgres server above all) was started with `dir` in its command line.
fn process_running_in(dir: &std::path::Path) -> bool {
    let dir = dir.display().to_string();
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&dir))
    })
}

async fn assert_nothing_left(f: &Fixture, report: &DrillReport) {
    let scratch = format!("{DRILL_DATABASE_PREFIX}{}", &report.id[..8]);
    assert!(
        !drill_databases().await.contains(&scratch),
        "{scratch} was left behind"
    );
    assert!(
        !drill_dir_exists(&report.id),
        "the media directory was left behind"
    );
    let cluster = cluster_dir(&f.lb, &report.id);
    assert!(!cluster.exists(), "the scratch cluster was left behind");
    assert!(!process_running_in(&cluster), "its server still runs");
}

fn failed(report: &DrillReport) -> &str {
    assert!(!report.ok, "the drill passed: {report:?}");
    &report.first_failure().unwrap().name
}

#[tokio::test]
async fn a_drill_of_a_good_backup_passes_every_check_and_leaves_nothing() {
    let f = fixture(s3()).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let record = f.lb.backup_record(&backup.backup_id).await.unwrap();
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
    // The second check proves the drill ran on its scratch cluster, not on the environment's
    // own server (whose port it would report).
    let port = common::var("LIFEBOAT_TEST_PG_PORT");
    f.lb.set_drill_checks(
        &f.env_id,
        &[
            "select count(*) from auth_user where is_superuser;".into(),
            format!("select current_setting('port') <> '{port}'"),
        ],
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
    assert_nothing_left(&f, &report).await;

    let history = f.lb.drills(&f.env_id).await.unwrap();
    assert_eq!(history, vec![report]);
}

#[tokio::test]
async fn a_corrupt_artifact_fails_the_checksum_check_and_leaves_nothing() {
    let f = fixture(Target::Local).await;
    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let record = f.lb.backup_record(&backup.backup_id).await.unwrap();
    let target = f.lb.catalog().target(&record.target_id).await.unwrap();
    let lifeboat_core::TargetConfig::Local(local) = target.config else {
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
    assert_nothing_left(&f, &report).await;
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
    assert_nothing_left(&f, &report).await;
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
    assert_nothing_left(&f, &report).await;
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
    let mut events = f.lb.subscribe();
    let job = f.lb.start_drill(&request(&f)).await.unwrap();
    // With no drill server chosen, the drill runs on a scratch cluster of its own; the job
    // reports progress every half second while its read of the dump is stalled.
    let cluster = cluster_dir(&f.lb, &job.id);
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            let event = events.recv().await.unwrap();
            assert!(!event.is_finished(), "the drill ended: {event:?}");
            if event.id == job.id && process_running_in(&cluster) {
                break;
            }
        }
    })
    .await
    .expect("the scratch cluster never started");
    // Nothing lands on the environment's server, even mid-restore.
    assert_eq!(drill_databases().await, Vec::<String>::new());

    assert!(f.lb.cancel_job(&job.id));
    let ended = wait_finished(&f.lb, &job).await;
    proxy.release();
    assert_eq!(ended.status, JobStatus::Cancelled);
    assert!(matches!(ended.request, JobRequest::Drill(_)));
    assert!(!cluster.exists());
    assert!(!process_running_in(&cluster));
    assert!(!drill_dir_exists(&job.id));
}

#[tokio::test]
async fn drills_run_on_the_server_the_environment_chose() {
    let f = fixture(Target::Local).await;
    f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let unreachable = PgConnectionInput {
        port: common::closed_port(),
        ..common::pg_input("postgres")
    };
    let env =
        f.lb.set_drill_place(
            &f.env_id,
            DrillPlaceInput::Server {
                connection: unreachable,
            },
        )
        .await
        .unwrap();
    let DrillPlace::Server { connection } = env.drill_place else {
        panic!("{:?}", env.drill_place);
    };
    assert!(connection.has_password, "its password went to the keyring");
    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert_eq!(failed(&report), "drill server");

    f.lb.set_drill_place(
        &f.env_id,
        DrillPlaceInput::Server {
            connection: common::pg_input("postgres"),
        },
    )
    .await
    .unwrap();
    assert!(f.lb.drill(&request(&f), None).await.unwrap().ok);

    // Only when asked for does a drill create its database on the environment's own server.
    let env =
        f.lb.set_drill_place(&f.env_id, DrillPlaceInput::EnvironmentServer)
            .await
            .unwrap();
    assert_eq!(env.drill_place, DrillPlace::EnvironmentServer);
    // The environment's SQL checks run in the drill's database: they say which server it is.
    let port = common::var("LIFEBOAT_TEST_PG_PORT");
    f.lb.set_drill_checks(
        &f.env_id,
        &[format!("select current_setting('port') = '{port}'")],
    )
    .await
    .unwrap();
    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert!(report.ok, "{:?}", report.checks);
    assert_nothing_left(&f, &report).await;

    let env =
        f.lb.set_drill_place(&f.env_id, DrillPlaceInput::Scratch)
            .await
            .unwrap();
    assert_eq!(env.drill_place, DrillPlace::Scratch);
    let report = f.lb.drill(&request(&f), None).await.unwrap();
    assert_eq!(
        failed(&report),
        "sql check",
        "not on the environment's server"
    );
}
