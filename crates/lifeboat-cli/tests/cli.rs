//! The real `lifeboat` binary against the real PostgreSQL cluster, S3-compatible server and
//! keyring started by scripts/test.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests through scripts/test"))
}

struct Cli {
    home: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.env("LIFEBOAT_HOME", self.home.path())
            .env_remove("LIFEBOAT_DATABASE_URL")
            .env_remove("LIFEBOAT_S3_SECRET_ACCESS_KEY")
            .arg("--json")
            .args(args);
        cmd
    }

    /// Runs and parses stdout as JSON; panics unless it succeeded.
    fn ok(&self, cmd: &mut Command) -> Value {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn run(&self, args: &[&str]) -> Value {
        self.ok(&mut self.command(args))
    }

    /// Runs expecting failure; returns the exit code and the error's code.
    fn fails(&self, cmd: &mut Command) -> (i32, String) {
        let out: Output = cmd.output().unwrap();
        assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded");
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("no JSON error: {}", String::from_utf8_lossy(&out.stdout)));
        (
            out.status.code().unwrap(),
            json["error"]["code"].as_str().unwrap().to_owned(),
        )
    }
}

fn database_url(database: &str) -> String {
    format!(
        "postgres://{}:{}@{}:{}/{database}?sslmode=disable",
        var("LIFEBOAT_TEST_PG_USER"),
        var("LIFEBOAT_TEST_PG_PASSWORD"),
        var("LIFEBOAT_TEST_PG_HOST"),
        var("LIFEBOAT_TEST_PG_PORT")
    )
}

fn add_s3_target(cli: &Cli, name: &str, secret: &str) -> Command {
    let mut cmd = cli.command(&[
        "target",
        "add-s3",
        name,
        "--bucket",
        &var("LIFEBOAT_TEST_S3_BUCKET"),
    ]);
    cmd.args([
        "--endpoint",
        &var("LIFEBOAT_TEST_S3_ENDPOINT"),
        "--region",
        &var("LIFEBOAT_TEST_S3_REGION"),
    ])
    // No --path-style: with an endpoint it is the default.
    .args(["--prefix", &format!("cli-{}", std::process::id())])
    .args([
        "--storage-class",
        &std::env::var("LIFEBOAT_TEST_S3_STORAGE_CLASS").unwrap_or_else(|_| "STANDARD".into()),
    ])
    .args(["--access-key-id", &var("LIFEBOAT_TEST_S3_ACCESS_KEY_ID")])
    .env("LIFEBOAT_S3_SECRET_ACCESS_KEY", secret);
    cmd
}

#[test]
fn a_pre_deploy_backup_from_the_command_line() {
    let cli = Cli::new();
    let media = tempfile::tempdir().unwrap();
    std::fs::write(media.path().join("logo.png"), b"not really a png").unwrap();

    let target = cli.ok(&mut add_s3_target(
        &cli,
        "offsite",
        &var("LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY"),
    ));
    assert_eq!(target["config"]["hasSecret"], true);
    assert_eq!(
        target["config"]["pathStyle"], true,
        "the default with an endpoint"
    );
    cli.run(&["target", "test", "offsite"]);
    cli.run(&["app", "add", "shop"]);
    let env = cli.ok(cli
        .command(&[
            "env",
            "add",
            "shop",
            "production",
            "--target",
            "offsite",
            "--media",
        ])
        .arg(media.path())
        .env("LIFEBOAT_DATABASE_URL", database_url("postgres")));
    assert_eq!(env["connection"]["hasPassword"], true);
    let report = cli.run(&["env", "test", "shop", "production"]);
    assert!(report["serverMajor"].as_u64().unwrap() >= 10);

    let made = cli.run(&[
        "backup",
        "shop",
        "production",
        "--note",
        "before deploy 2.0",
    ]);
    let id = made["backupId"].as_str().unwrap().to_owned();
    let listed = cli.run(&["backups", "shop", "production"]);
    let entries = listed.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["job"]["status"], "succeeded");
    assert_eq!(entries[0]["backup"]["id"], id.as_str());
    assert_eq!(
        entries[0]["backup"]["manifest"]["note"],
        "before deploy 2.0"
    );
    assert_eq!(entries[0]["backup"]["manifest"]["media"]["fileCount"], 1);

    let verified = cli.run(&["verify", &id]);
    assert_eq!(verified["ok"], true);
    assert_eq!(
        cli.fails(&mut cli.command(&["verify", "no-such-backup"])),
        (2, "not_found".into())
    );

    let key = cli.home.path().join("exported-key.txt");
    cli.run(&["key", "export", key.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .contains("AGE-SECRET-KEY-"));

    // The same key imported into another catalog is the one it encrypts to.
    let other = Cli::new();
    let imported = other.run(&["key", "import", key.to_str().unwrap()]);
    assert_eq!(
        imported["recipient"],
        entries[0]["backup"]["manifest"]["encryption"]["recipient"]
    );

    let pruned = cli.run(&["prune", "shop", "production", "--dry-run"]);
    assert_eq!(pruned["dryRun"], true);
    assert_eq!(pruned["decisions"][0]["backupId"], id.as_str());
    assert_eq!(
        pruned["decisions"][0]["delete"], false,
        "the newest is kept"
    );

    // That other machine, pointed at the same bucket, finds the backup and can read it.
    other.ok(&mut add_s3_target(
        &other,
        "offsite",
        &var("LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY"),
    ));
    let synced = other.run(&["catalog", "sync", "offsite"]);
    assert!(synced["imported"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i == id.as_str()));
    let found = other.run(&["backups", "shop", "production"]);
    let found = found
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["backup"]["id"] == id.as_str())
        .expect("the synced backup is listed");
    assert_eq!(
        found["backup"]["storedBytes"],
        entries[0]["backup"]["storedBytes"]
    );
    assert_eq!(other.run(&["verify", &id])["ok"], true);

    let drilled = cli.run(&["drill", "shop", "production"]);
    assert_eq!(drilled["ok"], true);
    assert_eq!(drilled["backupId"], id.as_str());
    let on_other_server = cli.ok(cli
        .command(&[
            "drill",
            "shop",
            "production",
            &id,
            "--drill-url-env",
            "DRILL_URL",
        ])
        .env("DRILL_URL", database_url("postgres")));
    assert_eq!(on_other_server["ok"], true);
}

#[test]
fn bad_input_exits_non_zero_with_the_error_code() {
    let cli = Cli::new();
    assert_eq!(
        cli.fails(&mut cli.command(&["backups", "nope", "production"])),
        (2, "not_found".into())
    );
    cli.run(&["app", "add", "shop"]);
    assert_eq!(
        cli.fails(&mut cli.command(&["app", "add", "SHOP"])),
        (2, "conflict".into())
    );
    assert_eq!(
        cli.fails(
            cli.command(&["env", "add", "shop", "production"])
                .env("LIFEBOAT_DATABASE_URL", "mysql://u:p@h/db")
        ),
        (2, "invalid_database_url".into())
    );
    // No secret in the environment and no terminal to ask on: a clear error, no hang.
    let mut no_secret = add_s3_target(&cli, "offsite", "");
    no_secret
        .env_remove("LIFEBOAT_S3_SECRET_ACCESS_KEY")
        .stdin(std::process::Stdio::null());
    assert_eq!(cli.fails(&mut no_secret), (2, "validation".into()));

    // No keyring service at all: said as such (not as a locked keyring), with exit 1.
    let mut no_keyring = cli.command(&["env", "add", "shop", "production", "--no-test"]);
    no_keyring
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .env("LIFEBOAT_DATABASE_URL", database_url("postgres"));
    assert_eq!(
        cli.fails(&mut no_keyring),
        (1, "keyring_unavailable".into())
    );

    cli.ok(&mut add_s3_target(&cli, "wrong", "not-the-secret"));
    assert_eq!(
        cli.fails(&mut cli.command(&["target", "test", "wrong"])),
        (1, "s3_auth_failed".into())
    );
    assert!(!Path::new(&cli.home.path().join("catalog.sqlite"))
        .metadata()
        .unwrap()
        .permissions()
        .readonly());
}

/// psql against the test cluster, as the superuser the harness created.
fn psql(database: &str) -> Command {
    let mut cmd = Command::new(Path::new(&var("LIFEBOAT_TEST_PG_BIN")).join("psql"));
    cmd.env("PGHOST", var("LIFEBOAT_TEST_PG_HOST"))
        .env("PGPORT", var("LIFEBOAT_TEST_PG_PORT"))
        .env("PGUSER", var("LIFEBOAT_TEST_PG_USER"))
        .env("PGPASSWORD", var("LIFEBOAT_TEST_PG_PASSWORD"))
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database,
        ]);
    cmd
}

fn sql(database: &str, statement: &str) -> String {
    let out = psql(database).args(["-c", statement]).output().unwrap();
    assert!(
        out.status.success(),
        "{statement}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Polls an observable condition (not a timing guess) until it holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting until {what}");
}

/// A psql session holding a table lock until released.
struct LockHolder {
    session: std::process::Child,
    input: std::process::ChildStdin,
}

impl LockHolder {
    fn lock(database: &str, table: &str) -> Self {
        use std::io::Write;
        let mut session = psql(database)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = session.stdin.take().unwrap();
        writeln!(input, "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;").unwrap();
        input.flush().unwrap();
        Self { session, input }
    }

    fn release(mut self) {
        use std::io::Write;
        writeln!(self.input, "ROLLBACK;").unwrap();
        drop(self.input);
        self.session.wait().unwrap();
    }
}

fn lifeboat_sessions(database: &str, extra: &str) -> u64 {
    sql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' AND application_name = 'lifeboat' {extra}"
        ),
    )
    .parse()
    .unwrap()
}

#[test]
fn a_restore_killed_mid_way_leaves_the_destination_unchanged_and_is_reported_interrupted() {
    let cli = Cli::new();
    let database = format!("cli_restore_{}", std::process::id());
    sql("postgres", &format!("CREATE DATABASE {database}"));
    sql(
        &database,
        // Large enough (about 1 MB) that pg_restore cannot have been handed the whole dump
        // while it waits on the lock below: the kill lands before the point of no return.
        "CREATE TABLE items (id int PRIMARY KEY, v text);
         INSERT INTO items SELECT g, 'item ' || g || repeat('x', 40) FROM generate_series(1, 20000) g;",
    );
    let media = tempfile::tempdir().unwrap();
    std::fs::write(media.path().join("a.txt"), b"original").unwrap();
    cli.run(&["app", "add", "shop"]);
    cli.ok(cli
        .command(&["env", "add", "shop", "production", "--media"])
        .arg(media.path())
        .env("LIFEBOAT_DATABASE_URL", database_url(&database)));
    let id = cli.run(&["backup", "shop", "production"])["backupId"]
        .as_str()
        .unwrap()
        .to_owned();

    sql(&database, "DELETE FROM items WHERE id > 10000");
    std::fs::write(media.path().join("a.txt"), b"changed").unwrap();
    let fingerprint = || {
        sql(
            &database,
            "SELECT count(*) || md5(string_agg(v, ',' ORDER BY id)) FROM items",
        )
    };
    let before = fingerprint();

    // pg_restore will wait on this lock, so the restore is surely mid-way when it is killed.
    let holder = LockHolder::lock(&database, "items");

    let mut restore = cli
        .command(&["restore", &id, "--no-safety-backup", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("pg_restore waits on the lock", || {
        lifeboat_sessions(&database, "AND wait_event_type = 'Lock'") > 0
    });
    restore.kill().unwrap();
    restore.wait().unwrap();

    holder.release();
    // The orphaned pg_restore reads a premature end of its input and rolls back.
    wait_until("the orphaned pg_restore has gone", || {
        lifeboat_sessions(&database, "") == 0
    });
    assert_eq!(fingerprint(), before);
    assert_eq!(
        std::fs::read(media.path().join("a.txt")).unwrap(),
        b"changed"
    );

    // The next start reports the job as interrupted and clears its staging directory.
    let jobs = cli.run(&["jobs", "shop", "production"]);
    let restore_job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["request"]["type"] == "restore")
        .expect("the restore job is listed");
    assert_eq!(restore_job["status"], "failed");
    assert_eq!(restore_job["error"]["code"], "interrupted");
    let leftovers: Vec<_> = std::fs::read_dir(media.path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.contains(&format!(
                "{}.lifeboat-",
                media.path().file_name().unwrap().to_string_lossy()
            ))
        })
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());

    // Asked first, the plan says what the restore will do, and changes nothing.
    let plan = cli.run(&["restore", &id, "--plan"]);
    assert_eq!(plan["needsAdmin"], serde_json::json!([]));
    assert_eq!(
        plan["recreated"],
        serde_json::json!([{"kind": "table", "count": 1}])
    );
    assert_eq!(fingerprint(), before);

    // And a restore that is let through brings the backup back.
    let summary = cli.run(&["restore", &id, "--yes"]);
    assert!(summary["safetyBackupId"].is_string());
    assert_eq!(sql(&database, "SELECT count(*) FROM items"), "20000");
    assert_eq!(
        std::fs::read(media.path().join("a.txt")).unwrap(),
        b"original"
    );
    assert_eq!(
        cli.fails(&mut cli.command(&["restore", &id])),
        (2, "validation".into())
    );

    let downloads = tempfile::tempdir().unwrap();
    let prepared = cli.run(&["download", &id, "--dir", downloads.path().to_str().unwrap()]);
    // The dump, the roles beside it, the media tar and SHA256SUMS.
    assert_eq!(prepared["files"].as_array().unwrap().len(), 4);
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(downloads.path())
        .output()
        .unwrap();
    assert!(check.status.success());
}

/// The test's own client of the S3 server, to look at what Lifeboat left there.
fn s3_client() -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(var("LIFEBOAT_TEST_S3_ENDPOINT"))
        .with_allow_http(true)
        .with_region(var("LIFEBOAT_TEST_S3_REGION"))
        .with_bucket_name(var("LIFEBOAT_TEST_S3_BUCKET"))
        .with_access_key_id(var("LIFEBOAT_TEST_S3_ACCESS_KEY_ID"))
        .with_secret_access_key(var("LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY"))
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap()
}

#[test]
fn a_backup_killed_mid_upload_leaves_no_open_upload_after_the_next_start() {
    use object_store::multipart::MultipartStore;
    use object_store::ObjectStore;

    let cli = Cli::new();
    let database = format!("cli_killed_backup_{}", std::process::id());
    sql("postgres", &format!("CREATE DATABASE {database}"));
    sql(
        &database,
        "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 100);",
    );
    cli.ok(&mut add_s3_target(
        &cli,
        "offsite",
        &var("LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY"),
    ));
    cli.run(&["app", "add", "shop"]);
    cli.ok(cli
        .command(&["env", "add", "shop", "production", "--target", "offsite"])
        .env("LIFEBOAT_DATABASE_URL", database_url(&database)));

    // pg_dump waits on this lock; by then the dump's upload has begun and is in the journal.
    let holder = LockHolder::lock(&database, "items");
    let mut backup = cli
        .command(&["backup", "shop", "production", "--db"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("pg_dump waits on the lock", || {
        lifeboat_sessions(&database, "AND wait_event_type = 'Lock'") > 0
    });
    // A second process backing up the same environment is refused at once, not queued
    // behind the first on the same table lock.
    assert_eq!(
        cli.fails(&mut cli.command(&["backup", "shop", "production", "--db"])),
        (1, "already_running".into())
    );
    backup.kill().unwrap();
    backup.wait().unwrap();
    holder.release();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let home = lifeboat_core::Home::at(cli.home.path());
    let open_uploads = || {
        runtime.block_on(async {
            let lifeboat = lifeboat_core::Lifeboat::open(home.clone()).await.unwrap();
            lifeboat.catalog().open_uploads().await.unwrap()
        })
    };
    let orphans = open_uploads();
    assert_eq!(orphans.len(), 1, "{orphans:?}");
    let orphan = &orphans[0];
    let key =
        object_store::path::Path::from(format!("cli-{}/{}", std::process::id(), orphan.object));
    let s3 = s3_client();
    let add_part = || runtime.block_on(s3.put_part(&key, &orphan.upload_id, 0, "part".into()));
    add_part().expect("the killed run left its upload open");

    // The next run of any command is the next start: it aborts the upload and removes the rest.
    let jobs = cli.run(&["jobs", "shop", "production"]);
    assert_eq!(jobs[0]["error"]["code"], "interrupted");
    assert!(add_part().is_err(), "the upload is still open");
    assert_eq!(open_uploads(), vec![]);
    let backup_dir = object_store::path::Path::from(format!(
        "cli-{}/shop/production/{}",
        std::process::id(),
        jobs[0]["backupId"].as_str().unwrap()
    ));
    let left = runtime.block_on(async {
        use futures_util::TryStreamExt;
        s3.list(Some(&backup_dir)).try_collect::<Vec<_>>().await
    });
    assert_eq!(left.unwrap(), vec![]);
}

/// Whether any process was started with `dir` in its command line (a postgres server).
fn process_running_in(dir: &Path) -> bool {
    let dir = dir.display().to_string();
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&dir))
    })
}

#[test]
fn a_drill_killed_mid_way_leaves_no_scratch_cluster_after_the_next_start() {
    let cli = Cli::new();
    let database = format!("cli_drill_{}", std::process::id());
    sql("postgres", &format!("CREATE DATABASE {database}"));
    sql(
        &database,
        "CREATE TABLE items (id int PRIMARY KEY, v text);
         INSERT INTO items SELECT g, 'item ' || g || repeat('x', 40) FROM generate_series(1, 20000) g;",
    );
    cli.run(&["app", "add", "shop"]);
    cli.ok(cli
        .command(&["env", "add", "shop", "production"])
        .env("LIFEBOAT_DATABASE_URL", database_url(&database)));
    cli.run(&["backup", "shop", "production", "--db"]);

    // The scratch cluster lands in the home, or (run as root) in TMPDIR, which the postgres
    // account must be able to enter.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let mut drill = cli
        .command(&["drill", "shop", "production"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let clusters = || -> Vec<std::path::PathBuf> {
        [cli.home.path().join("scratch"), tmp.path().to_path_buf()]
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().contains("lifeboat-scratch-"))
            .collect()
    };
    // Killed as soon as the cluster's server accepts connections (its postmaster.pid says
    // "ready"): well before the restore can end.
    let cluster = loop {
        if let Some(dir) = clusters().into_iter().find(|d| {
            std::fs::read_to_string(d.join("data/postmaster.pid"))
                .is_ok_and(|pid| pid.lines().any(|l| l.trim() == "ready"))
        }) {
            break dir;
        }
        assert!(drill.try_wait().unwrap().is_none(), "the drill ended first");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    drill.kill().unwrap();
    drill.wait().unwrap();
    assert!(
        process_running_in(&cluster),
        "the crash left the server running"
    );

    // The next start reports the drill as interrupted, stops the server and removes it all.
    let jobs = cli.run(&["jobs", "shop", "production"]);
    let drill_job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["request"]["type"] == "drill")
        .expect("the drill job is listed");
    assert_eq!(drill_job["error"]["code"], "interrupted");
    assert!(!cluster.exists(), "{} is still there", cluster.display());
    // An immediate shutdown returns once the server has let go of its directory; its last
    // processes may take a moment more to exit.
    wait_until("the scratch server's processes have exited", || {
        !process_running_in(&cluster)
    });
    assert_eq!(clusters(), Vec::<std::path::PathBuf>::new());
}

#[test]
fn env_set_changes_only_what_is_given() {
    let cli = Cli::new();
    let first = format!("cli_envset_a_{}", std::process::id());
    let second = format!("cli_envset_b_{}", std::process::id());
    for db in [&first, &second] {
        sql("postgres", &format!("CREATE DATABASE {db}"));
    }
    cli.run(&["app", "add", "shop"]);
    cli.ok(cli
        .command(&["env", "add", "shop", "production"])
        .env("LIFEBOAT_DATABASE_URL", database_url(&first)));
    assert_eq!(
        cli.fails(&mut cli.command(&["env", "set", "shop", "production"])),
        (2, "validation".into())
    );

    let media = tempfile::tempdir().unwrap();
    let changed = cli.ok(cli
        .command(&["env", "set", "shop", "production", "--media"])
        .arg(media.path())
        .args(["--rename", "prod", "--database"])
        .env("LIFEBOAT_DATABASE_URL", database_url(&second)));
    assert_eq!(changed["name"], "prod");
    assert_eq!(changed["mediaDir"], media.path().display().to_string());
    assert_eq!(changed["connection"]["database"], second.as_str());
    assert_eq!(changed["connection"]["hasPassword"], true);
    // The new connection works with the password that went to the keyring.
    let report = cli.run(&["env", "test", "shop", "prod"]);
    assert!(report["serverMajor"].as_u64().unwrap() >= 13, "{report}");

    let changed = cli.run(&["env", "set", "shop", "prod", "--no-media"]);
    assert_eq!(changed["mediaDir"], serde_json::Value::Null);
    assert_eq!(changed["connection"]["database"], second.as_str(), "kept");
}

#[test]
fn the_cli_starts_from_the_apps_defaults_and_confirms_what_it_destroys() {
    let cli = Cli::new();
    let database = format!("cli_defaults_{}", std::process::id());
    sql("postgres", &format!("CREATE DATABASE {database}"));
    cli.run(&["app", "add", "shop"]);

    // No database URL and no terminal: refused unless the environment has no database.
    let mut no_url = cli.command(&["env", "add", "shop", "production"]);
    no_url.stdin(std::process::Stdio::null());
    assert_eq!(cli.fails(&mut no_url), (2, "validation".into()));
    let media_only = cli.run(&["env", "add", "shop", "media-only", "--no-database"]);
    assert_eq!(media_only["connection"], Value::Null);

    // A connection that does not work yet is added, with a warning that says how to fix it.
    let out = cli
        .command(&["env", "add", "shop", "staging"])
        .env(
            "LIFEBOAT_DATABASE_URL",
            format!("postgres://nobody:wrong@127.0.0.1:{}/x", closed_port()),
        )
        .output()
        .unwrap();
    assert!(out.status.success());
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(warning.contains("does not work yet"), "{warning}");
    assert!(
        warning.contains("lifeboat env set shop staging --database"),
        "{warning}"
    );

    // A PGPASSWORD in Lifeboat's own environment is never sent in place of a saved one.
    let no_password = format!(
        "postgres://{}@{}:{}/{database}?sslmode=disable",
        var("LIFEBOAT_TEST_PG_USER"),
        var("LIFEBOAT_TEST_PG_HOST"),
        var("LIFEBOAT_TEST_PG_PORT")
    );
    cli.ok(cli
        .command(&["env", "add", "shop", "nopass", "--no-test"])
        .env("LIFEBOAT_DATABASE_URL", no_password));
    assert_eq!(
        cli.fails(
            cli.command(&["env", "test", "shop", "nopass"])
                .env("PGPASSWORD", var("LIFEBOAT_TEST_PG_PASSWORD"))
        ),
        (1, "pg_auth_failed".into())
    );

    // A database-only environment backs up without --db.
    cli.ok(cli
        .command(&["env", "add", "shop", "production"])
        .env("LIFEBOAT_DATABASE_URL", database_url(&database)));
    // Nor does any other PG* setting of Lifeboat's own environment reach the probe: the server
    // refuses this one, so a probe that took it would fail.
    cli.ok(cli
        .command(&["env", "test", "shop", "production"])
        .env("PGOPTIONS", "-c no_such_setting=1"));
    let made = cli.run(&["backup", "shop", "production"]);
    let id = made["backupId"].as_str().unwrap().to_owned();
    let record = &cli.run(&["backups", "shop", "production"])[0]["backup"];
    assert_eq!(record["id"], id.as_str());
    assert!(record["manifest"]["media"].is_null());
    // Nothing set up at all: said before anything runs.
    assert_eq!(
        cli.fails(&mut cli.command(&["backup", "shop", "media-only"])),
        (2, "validation".into())
    );

    // Parts the destination cannot take are refused before any confirmation is asked for.
    let out = cli
        .command(&["restore", &id, "--to", "shop/media-only"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["field"], "db", "{error}");

    // Removing needs --yes where nobody can be asked.
    let mut remove = cli.command(&["env", "rm", "shop", "staging"]);
    remove.stdin(std::process::Stdio::null());
    assert_eq!(cli.fails(&mut remove), (2, "validation".into()));
    cli.run(&["env", "list", "shop"])
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "staging")
        .expect("still there");
    cli.run(&["env", "rm", "shop", "staging", "--yes"]);

    // `jobs` in text: short ids, how long each took, and a count.
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .env("LIFEBOAT_HOME", cli.home.path())
        .args(["jobs", "shop", "production"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TOOK") && text.contains(&id), "{text}");
    assert!(text.trim_end().ends_with("1 job"), "{text}");
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// An ssh-agent holding the harness's client key: the CLI reaches the SSH server the way a
/// user's does, with no key named in any configuration. Stopped when dropped.
struct Agent {
    dir: tempfile::TempDir,
    pid: String,
}

impl Agent {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("ssh-agent")
            .arg("-s")
            .arg("-a")
            .arg(dir.path().join("agent.sock"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let pid = text
            .split(['=', ';'])
            .map(str::trim)
            .skip_while(|w| *w != "SSH_AGENT_PID")
            .nth(1)
            .unwrap()
            .to_owned();
        let agent = Self { dir, pid };
        let added = Command::new("ssh-add")
            .arg(var("LIFEBOAT_TEST_SSH_KEY"))
            .env("SSH_AUTH_SOCK", agent.socket())
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        agent
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("agent.sock")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        Command::new("kill").arg(&self.pid).status().ok();
    }
}

#[test]
fn an_environment_behind_ssh_from_the_command_line() {
    let cli = Cli::new();
    let agent = Agent::start();
    let with_agent = |args: &[&str]| {
        let mut cmd = cli.command(args);
        cmd.env("SSH_AUTH_SOCK", agent.socket())
            .stdin(std::process::Stdio::null());
        cmd
    };
    let server = format!(
        "{}@127.0.0.1:{}",
        var("LIFEBOAT_TEST_SSH_USER"),
        var("LIFEBOAT_TEST_SSH_PORT")
    );
    // As the server sees it: its socket directory, peer authentication, no password.
    let url = format!(
        "postgres://postgres@/postgres?host={}&port={}",
        var("LIFEBOAT_TEST_SSH_PG_SOCKET_DIR"),
        var("LIFEBOAT_TEST_SSH_PG_PORT")
    );
    // Media the SSH user can read, given as the server sees it (it is this machine here).
    let media = tempfile::tempdir().unwrap();
    std::fs::write(media.path().join("logo.png"), b"not really a png").unwrap();
    let readable = |path: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    readable(media.path(), 0o755);
    readable(&media.path().join("logo.png"), 0o644);
    cli.run(&["app", "add", "shop"]);
    // The server is not trusted yet: the media directory is kept unchecked, not refused.
    let added = cli.ok(with_agent(&[
        "env",
        "add",
        "shop",
        "production",
        "--server",
        &server,
        "--media",
    ])
    .arg(media.path())
    .env("LIFEBOAT_DATABASE_URL", &url));
    assert_eq!(added["mediaDir"], media.path().to_str().unwrap());
    assert_eq!(
        cli.fails(&mut with_agent(&["env", "test", "shop", "production"])),
        (1, "ssh_host_unknown".into())
    );

    let offered = cli.ok(&mut with_agent(&[
        "env",
        "server",
        "shop",
        "production",
        &server,
    ]));
    let fingerprint = offered[0]["fingerprint"].as_str().unwrap().to_owned();
    let real = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(var("LIFEBOAT_TEST_SSH_HOST_KEY"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&real.stdout).contains(&fingerprint));
    // No terminal to ask on and no fingerprint given: refused, nothing trusted.
    assert_eq!(
        cli.fails(&mut with_agent(&[
            "env",
            "trust-host",
            "shop",
            "production"
        ])),
        (2, "validation".into())
    );
    assert_eq!(
        cli.fails(&mut with_agent(&[
            "env",
            "trust-host",
            "shop",
            "production",
            "--fingerprint",
            "SHA256:other"
        ])),
        (1, "ssh_host_unknown".into())
    );
    cli.ok(&mut with_agent(&[
        "env",
        "trust-host",
        "shop",
        "production",
        "--fingerprint",
        &fingerprint,
    ]));

    let login = cli.ok(&mut with_agent(&["env", "ssh-login", "shop", "production"]));
    assert_eq!(login["server"], server.as_str());
    let report = cli.ok(&mut with_agent(&["env", "test", "shop", "production"]));
    assert_eq!(report["server"], server.as_str());
    assert!(
        report["pgDumpOnServer"].is_null(),
        "this machine's pg_dump fits"
    );
    cli.ok(&mut with_agent(&[
        "env",
        "dump-on",
        "shop",
        "production",
        "server",
    ]));
    let report = cli.ok(&mut with_agent(&["env", "test", "shop", "production"]));
    assert_eq!(report["pgDumpOnServer"]["major"], report["serverMajor"]);
    let made = cli.ok(&mut with_agent(&["backup", "shop", "production"]));
    let id = made["backupId"].as_str().unwrap();
    let listed = cli.run(&["backups", "shop", "production"]);
    assert!(listed.to_string().contains(id), "{listed}");
    assert!(listed.to_string().contains("\"fileCount\":1"), "{listed}");
}

#[test]
fn an_environment_with_media_in_a_bucket_from_the_command_line() {
    let cli = Cli::new();
    let prefix = format!("cli-media-{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = s3_client();
    let key = |name: &str| object_store::path::Path::parse(format!("{prefix}/{name}")).unwrap();
    runtime.block_on(async {
        use object_store::ObjectStoreExt;
        for name in ["uploads/a.txt", "uploads/b c.txt"] {
            store
                .put(&key(name), name.as_bytes().to_vec().into())
                .await
                .unwrap();
        }
    });
    let with_bucket = |cmd: &mut Command, secret: &str| {
        cmd.args([
            "--media",
            &format!("s3://{}/{prefix}", var("LIFEBOAT_TEST_S3_BUCKET")),
        ])
        .args(["--media-endpoint", &var("LIFEBOAT_TEST_S3_ENDPOINT")])
        .args(["--media-region", &var("LIFEBOAT_TEST_S3_REGION")])
        .arg("--media-path-style")
        .args([
            "--media-access-key-id",
            &var("LIFEBOAT_TEST_S3_ACCESS_KEY_ID"),
        ])
        .env("LIFEBOAT_MEDIA_S3_SECRET_ACCESS_KEY", secret);
    };
    cli.run(&["app", "add", "shop"]);

    // A wrong secret adds nothing.
    let mut refused = cli.command(&["env", "add", "shop", "production", "--no-database"]);
    with_bucket(&mut refused, "not-the-secret");
    assert_eq!(cli.fails(&mut refused), (1, "s3_auth_failed".into()));
    assert_eq!(cli.run(&["env", "list"]).as_array().unwrap().len(), 0);
    // Without the variable and off a terminal, the secret is asked for by name.
    let mut unasked = cli.command(&["env", "add", "shop", "production", "--no-database"]);
    with_bucket(&mut unasked, "");
    assert_eq!(cli.fails(&mut unasked), (2, "validation".into()));

    let mut add = cli.command(&["env", "add", "shop", "production", "--no-database"]);
    with_bucket(&mut add, &var("LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY"));
    let added = cli.ok(&mut add);
    assert_eq!(added["mediaBucket"]["prefix"], prefix.as_str());
    assert_eq!(added["mediaDir"], serde_json::Value::Null);

    let backup = cli.run(&["backup", "shop", "production"]);
    let listed = &cli.run(&["backups", "shop", "production"])[0]["backup"]["manifest"];
    assert_eq!(listed["media"]["fileCount"], 2, "{listed}");
    assert_eq!(listed["database"], serde_json::Value::Null);
    runtime.block_on(async {
        use object_store::ObjectStoreExt;
        store.delete(&key("uploads/a.txt")).await.unwrap();
        store
            .put(&key("stray.txt"), b"stray".to_vec().into())
            .await
            .unwrap();
    });
    let id = backup["backupId"].as_str().unwrap();
    let restored = cli.run(&["restore", id, "--yes"]);
    assert_eq!(restored["media"]["written"], 1, "{restored}");
    assert_eq!(restored["media"]["deleted"], 1, "{restored}");
    let names: Vec<String> = runtime.block_on(async {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let base = object_store::path::Path::parse(&prefix).unwrap();
        let listed: Vec<_> = store.list(Some(&base)).try_collect().await.unwrap();
        listed.into_iter().map(|m| m.location.to_string()).collect()
    });
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        [
            format!("{prefix}/uploads/a.txt"),
            format!("{prefix}/uploads/b c.txt")
        ]
    );

    // Back to a directory: the bucket and its key are forgotten.
    let media = tempfile::tempdir().unwrap();
    let changed = cli.ok(cli
        .command(&["env", "set", "shop", "production", "--media"])
        .arg(media.path()));
    assert_eq!(changed["mediaBucket"], serde_json::Value::Null);
    assert_eq!(changed["mediaDir"], media.path().display().to_string());
}

/// Incompressible bytes, different for each `seed`.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn a_cleanup_racing_a_backup_in_another_process_never_deletes_what_that_backup_commits() {
    let cli = Cli::new();
    let database = format!("cli_cleanup_race_{}", std::process::id());
    sql("postgres", &format!("CREATE DATABASE {database}"));
    sql(
        &database,
        "CREATE TABLE items (id int PRIMARY KEY, body text);
         INSERT INTO items SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 3000) g;",
    );
    // Production's media and a copy for staging: their backups share every blob.
    let media = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &media {
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("{i}.jpg")), noise(i, 150_000)).unwrap();
        }
    }
    let target = cli.ok(&mut add_s3_target(
        &cli,
        "offsite",
        &var("LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY"),
    ));
    cli.run(&["app", "add", "shop"]);
    let mut envs = Vec::new();
    for (name, dir) in ["production", "staging"].into_iter().zip(&media) {
        envs.push(
            cli.ok(cli
                .command(&["env", "add", "shop", name, "--target", "offsite", "--media"])
                .arg(dir.path())
                .env("LIFEBOAT_DATABASE_URL", database_url(&database))),
        );
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lifeboat = runtime.block_on(async {
        let lifeboat = lifeboat_core::Lifeboat::open(lifeboat_core::Home::at(cli.home.path()))
            .await
            .unwrap();
        let mut settings = lifeboat.settings().await.unwrap();
        settings.deduplicate = true;
        lifeboat.update_settings(&settings).await.unwrap();
        lifeboat
    });
    // Staging's media, backed up once, then gone from staging: only that backup holds it.
    cli.run(&["backup", "shop", "staging"]);
    for i in 0..20 {
        std::fs::remove_file(media[1].path().join(format!("{i}.jpg"))).unwrap();
    }
    cli.run(&["backup", "shop", "staging"]);

    // Production's backup, in another process, has taken the repository's blobs as stored and
    // waits on this lock before its dump.
    let holder = LockHolder::lock(&database, "items");
    let racing = cli
        .command(&["backup", "shop", "production"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("pg_dump waits on the lock", || {
        lifeboat_sessions(&database, "AND wait_event_type = 'Lock'") > 0
    });
    // Meanwhile staging's older backup is pruned, and a cleanup with no grace at all deletes
    // the packs only it used: the worst a cleanup on another machine could do.
    runtime.block_on(async {
        let staging = envs[1]["id"].as_str().unwrap();
        lifeboat
            .set_retention(
                staging,
                &lifeboat_core::RetentionPolicy {
                    on_demand_keep_recent: 1,
                    on_demand_max_age_days: 0,
                    daily: 0,
                    weekly: 0,
                    monthly: 0,
                },
            )
            .await
            .unwrap();
        lifeboat.prune(staging, false).await.unwrap();
        let report = lifeboat
            .reclaim_storage(target["id"].as_str().unwrap(), std::time::Duration::ZERO)
            .await
            .unwrap();
        assert!(report.deleted > 0, "{report:?}");
    });
    holder.release();

    // The racing backup notices and keeps nothing, rather than commit blobs that are gone.
    let out = racing.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["code"], "storage_error", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("back up again"),
        "{error}"
    );
    let listed = cli.run(&["backups", "shop", "production"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["job"]["status"] != "succeeded"),
        "{listed}"
    );
    // Backing up again stores what is gone anew, and every byte of it reads back.
    let made = cli.run(&["backup", "shop", "production"]);
    let verified = cli.run(&["verify", made["backupId"].as_str().unwrap()]);
    assert_eq!(verified["ok"], true, "{verified}");

    // Nothing changed: the next backup takes every file unread (so it has no SHA-256 of the
    // whole archive), unless --full-rescan asks for every file to be read.
    let whole_sha = |args: &[&str]| {
        cli.run(args);
        let listed = cli.run(&["backups", "shop", "production"]);
        listed[0]["backup"]["manifest"]["media"]["artifact"]["chunked"]["plaintextSha256"].clone()
    };
    assert_eq!(whole_sha(&["backup", "shop", "production"]), Value::Null);
    assert!(whole_sha(&["backup", "shop", "production", "--full-rescan"]).is_string());
}
