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
    .args([
        "--prefix",
        &format!("cli-{}", std::process::id()),
        "--path-style",
    ])
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
