//! Environments behind SSH, against a real OpenSSH server started by the harness (and a few
//! more the tests start themselves), with a PostgreSQL cluster that listens only on a Unix
//! socket and lets in only the SSH user: whatever reaches it went through the SSH server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::fixture::{both, database_only};
use common::var;
use lifeboat_core::{
    BackupRequest, DrillPlaceInput, DrillRequest, EnvironmentChange, EnvironmentInput, ErrorCode,
    Hooks, Lifeboat, PgConnectionInput, RestoreRequest, SslMode,
};

/// `sql` run by psql in `database` behind the SSH server, as its user (the one the cluster lets
/// in): the tests' own way in to set up and inspect, not the way under test.
fn behind(database: &str, sql: &str) -> String {
    let user = var("LIFEBOAT_TEST_SSH_USER");
    let mut psql = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--"]).arg(common::pg_tool("psql"));
        c
    } else {
        Command::new(common::pg_tool("psql"))
    };
    psql.args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(var("LIFEBOAT_TEST_SSH_PG_SOCKET_DIR"))
        .args([
            "-p",
            &var("LIFEBOAT_TEST_SSH_PG_PORT"),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ]);
    String::from_utf8(common::run(&mut psql))
        .unwrap()
        .trim()
        .to_owned()
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() == 0 }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{nanos:x}")
}

/// A Django-shaped database on the cluster behind the SSH server.
fn database_behind() -> String {
    let name = unique("behind");
    behind("postgres", &format!("CREATE DATABASE {name}"));
    behind(&name, "CREATE EXTENSION pgcrypto");
    behind(&name, common::FIXTURE_TABLES);
    name
}

/// Every row of the fixture's tables, hashed.
fn rows_of(database: &str) -> String {
    behind(
        database,
        "SELECT (SELECT count(*) FROM shop_order) || ' ' || md5(
            (SELECT string_agg(o::text, ',' ORDER BY id) FROM shop_order o) ||
            (SELECT string_agg(u::text, ',' ORDER BY id) FROM auth_user u))",
    )
}

/// The connection as the server sees it: its socket directory, peer authentication.
fn as_the_server_sees_it(database: &str) -> PgConnectionInput {
    PgConnectionInput {
        host: var("LIFEBOAT_TEST_SSH_PG_SOCKET_DIR"),
        port: var("LIFEBOAT_TEST_SSH_PG_PORT").parse().unwrap(),
        database: database.to_owned(),
        user: "postgres".into(),
        ssl_mode: SslMode::Prefer,
        ssl_root_cert: None,
        password: None,
    }
}

fn fingerprint_of_key(public_key: &Path) -> String {
    let out = common::run(Command::new("ssh-keygen").arg("-lf").arg(public_key));
    String::from_utf8(out)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// An SSH configuration of the user's: `alias` for the harness's server, and this key for
/// every host.
fn write_ssh_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("ssh_config");
    std::fs::write(
        &path,
        format!(
            "Host lifeboat-test-server\n  HostName 127.0.0.1\n  Port {port}\n{extra}\n\
             Host *\n  User {user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n",
            port = var("LIFEBOAT_TEST_SSH_PORT"),
            user = var("LIFEBOAT_TEST_SSH_USER"),
            key = var("LIFEBOAT_TEST_SSH_KEY"),
        ),
    )
    .unwrap();
    path
}

struct Setup {
    _home: tempfile::TempDir,
    lb: Lifeboat,
    env_id: String,
    database: String,
}

/// An environment whose database is behind the harness's SSH server, reached by `server`,
/// with the user's SSH configuration `config` (extra lines for the alias).
async fn setup(server: &str, config_extra: &str) -> Setup {
    let (home, lb) = common::lifeboat().await;
    let config = write_ssh_config(home.path(), config_extra);
    let mut settings = lb.settings().await.unwrap();
    settings.ssh_config = Some(config.display().to_string());
    lb.update_settings(&settings).await.unwrap();
    let database = database_behind();
    let app = lb.create_application("shop").await.unwrap();
    let env = lb
        .create_environment(&EnvironmentInput {
            application_id: app.id,
            name: "production".into(),
            connection: Some(as_the_server_sees_it(&database)),
            media_dir: None,
            target_id: None,
        })
        .await
        .unwrap();
    lb.set_server(&env.id, server).await.unwrap();
    Setup {
        _home: home,
        lb,
        env_id: env.id,
        database,
    }
}

/// A restore of `backup_id` into `s`'s own environment, with a safety backup first.
fn in_place(s: &Setup, backup_id: &str, database: bool, media: bool) -> RestoreRequest {
    RestoreRequest {
        backup_id: backup_id.to_owned(),
        environment_id: s.env_id.clone(),
        database,
        media,
        safety_backup: true,
        confirmation: Some("production".into()),
    }
}

/// `setup` with the server's host key trusted.
async fn trusted(server: &str) -> Setup {
    let s = setup(server, "").await;
    trust_all(&s.lb, server).await;
    s
}

async fn trust_all(lb: &Lifeboat, server: &str) {
    let keys = lb.unknown_host_keys(server).await.unwrap();
    let fingerprints: Vec<String> = keys.into_iter().map(|k| k.fingerprint).collect();
    lb.trust_host_keys(server, &fingerprints).await.unwrap();
}

async fn test(s: &Setup) -> lifeboat_core::Result<lifeboat_core::ConnectionReport> {
    let connection = s.lb.environment_connection(&s.env_id).await.unwrap();
    s.lb.test_connection(&connection, Some(&s.env_id)).await
}

#[tokio::test]
async fn an_unknown_server_is_refused_until_the_user_trusts_the_key_they_compared() {
    let s = setup("lifeboat-test-server", "").await;

    let refused = test(&s).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::SshHostUnknown, "{refused:?}");
    assert_eq!(refused.field.as_deref(), Some("server"));

    let keys =
        s.lb.unknown_host_keys("lifeboat-test-server")
            .await
            .unwrap();
    let real = fingerprint_of_key(Path::new(&var("LIFEBOAT_TEST_SSH_HOST_KEY")));
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].fingerprint, real);
    assert_eq!(keys[0].key_type, "ED25519");
    assert_eq!(
        keys[0].host,
        format!("[127.0.0.1]:{}", var("LIFEBOAT_TEST_SSH_PORT"))
    );

    // A fingerprint other than the one offered trusts nothing.
    let wrong =
        s.lb.trust_host_keys("lifeboat-test-server", &["SHA256:not-the-key".to_owned()])
            .await
            .unwrap_err();
    assert_eq!(wrong.code, ErrorCode::SshHostUnknown);
    assert_eq!(test(&s).await.unwrap_err().code, ErrorCode::SshHostUnknown);

    s.lb.trust_host_keys("lifeboat-test-server", &[real])
        .await
        .unwrap();
    let report = test(&s).await.unwrap();
    assert_eq!(report.server.as_deref(), Some("lifeboat-test-server"));
    assert_eq!(report.server_major, 15);
    assert!(s
        .lb
        .unknown_host_keys("lifeboat-test-server")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn backup_restore_in_place_and_drill_go_through_the_server() {
    let server = format!(
        "{}@127.0.0.1:{}",
        var("LIFEBOAT_TEST_SSH_USER"),
        var("LIFEBOAT_TEST_SSH_PORT")
    );
    let s = setup(&server, "").await;
    trust_all(&s.lb, &server).await;
    let before = rows_of(&s.database);

    let backup = s.lb.backup(&database_only(&s.env_id)).await.unwrap();
    assert!(backup.database.is_some());

    // Production breaks: rows gone, others changed.
    behind(
        &s.database,
        "DELETE FROM shop_order WHERE id % 2 = 0; UPDATE auth_user SET username = 'x' || id",
    );
    assert_ne!(rows_of(&s.database), before);

    let summary =
        s.lb.restore(&in_place(&s, &backup.backup_id, true, false))
            .await
            .unwrap();
    assert!(summary.checks.iter().all(|c| c.ok), "{:?}", summary.checks);
    assert!(summary.safety_backup_id.is_some());
    assert_eq!(rows_of(&s.database), before);

    s.lb.set_drill_place(&s.env_id, DrillPlaceInput::EnvironmentServer)
        .await
        .unwrap();
    let drill =
        s.lb.drill(
            &DrillRequest {
                environment_id: s.env_id.clone(),
                backup_id: Some(backup.backup_id.clone()),
            },
            None,
        )
        .await
        .unwrap();
    assert!(drill.ok, "{:?}", drill.checks);
    assert_eq!(
        behind(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeboat_drill_%'"
        ),
        "0",
        "the drill's database is dropped on the server"
    );
}

#[tokio::test]
async fn hooks_run_on_the_server_and_a_failing_one_stores_nothing() {
    let s = trusted("lifeboat-test-server").await;
    s.lb.set_hooks(
        &s.env_id,
        &Hooks {
            before_backup: Some(
                "echo \"$LIFEBOAT_HOOK as $(id -un) for $LIFEBOAT_ENVIRONMENT\"".into(),
            ),
            after_backup: Some("echo \"after: $LIFEBOAT_OUTCOME\"".into()),
            ..Hooks::default()
        },
    )
    .await
    .unwrap();
    s.lb.backup(&database_only(&s.env_id)).await.unwrap();
    let job = newest_backup_job(&s).await;
    assert_eq!(
        job.hooks[0].output,
        format!(
            "before-backup as {} for production\n",
            var("LIFEBOAT_TEST_SSH_USER")
        )
    );
    assert_eq!(job.hooks[1].output, "after: succeeded\n");

    s.lb.set_hooks(
        &s.env_id,
        &Hooks {
            before_backup: Some("echo no; exit 3".into()),
            after_backup: Some("echo \"after: $LIFEBOAT_OUTCOME\"".into()),
            ..Hooks::default()
        },
    )
    .await
    .unwrap();
    let failed = s.lb.backup(&database_only(&s.env_id)).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::HookFailed);
    let backups = s.lb.list_backups(&s.env_id).await.unwrap();
    assert_eq!(
        backups.iter().filter(|b| b.backup.is_some()).count(),
        1,
        "nothing new was stored"
    );
    let job = newest_backup_job(&s).await;
    assert_eq!(job.hooks[0].exit_code, Some(3));
    assert_eq!(job.hooks[1].output, "after: failed\n");
}

async fn newest_backup_job(s: &Setup) -> lifeboat_core::Job {
    s.lb.jobs_of(&s.env_id)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.request.kind() == "backup")
        .expect("a backup job is recorded")
}

/// No backup is listed and no file is left in the (local) storage target.
async fn assert_nothing_stored(s: &Setup) {
    let listed = s.lb.list_backups(&s.env_id).await.unwrap();
    assert!(
        listed.iter().all(|b| b.backup.is_none()),
        "nothing is listed"
    );
    let stored: Vec<_> = walkdir::WalkDir::new(s._home.path().join("storage"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(stored.is_empty(), "nothing is left in storage: {stored:?}");
}

/// An sshd of the test's own on a free port, with `host_key`: gone when dropped.
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
}

impl Sshd {
    fn start(host_key: &Path, port: Option<u16>) -> Self {
        Self::start_with(host_key, port, "")
    }

    /// With `extra` lines of sshd_config.
    fn start_with(host_key: &Path, port: Option<u16>, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = port.unwrap_or_else(common::closed_port);
        let harness = var("LIFEBOAT_TEST_SSH_DIR");
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile {pid}\n\
                 AuthorizedKeysFile {harness}/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nAllowTcpForwarding yes\n\
                 AllowStreamLocalForwarding yes\nStrictModes no\n{extra}\n",
                key = host_key.display(),
                pid = dir.path().join("sshd.pid").display(),
            ),
        )
        .unwrap();
        // sshd forks once it listens: when this returns, it accepts connections.
        common::run(
            Command::new(var("LIFEBOAT_TEST_SSHD"))
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(dir.path().join("sshd.log")),
        );
        Self { dir, port }
    }

    /// Kills this sshd and every process it started (its connections, their commands): the
    /// server gone mid-job, as when it reboots or the network drops.
    fn kill_all(&self) {
        let pid: u32 = std::fs::read_to_string(self.dir.path().join("sshd.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut doomed = vec![pid];
        let mut i = 0;
        while i < doomed.len() {
            doomed.extend(children_of(doomed[i]));
            i += 1;
        }
        for pid in doomed {
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .ok();
        }
    }
}

/// The processes whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let child: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // "pid (name) state ppid …": the name may hold spaces, never ") ".
            let ppid: u32 = stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("sshd.pid")) {
            Command::new("kill").arg(pid.trim()).status().ok();
        }
    }
}

fn new_host_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    common::run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    );
    key
}

#[tokio::test]
async fn a_changed_host_key_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let first = Sshd::start(&new_host_key(keys.path(), "first"), None);
    let port = first.port;
    let server = format!("127.0.0.1:{port}");
    let s = setup(&server, "").await;
    trust_all(&s.lb, &server).await;
    assert!(test(&s).await.is_ok());

    drop(first);
    let _second = Sshd::start(&new_host_key(keys.path(), "second"), Some(port));
    let refused = test(&s).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::SshHostKeyChanged, "{refused:?}");
    let scan = s.lb.unknown_host_keys(&server).await.unwrap_err();
    assert_eq!(scan.code, ErrorCode::SshHostKeyChanged);
}

#[tokio::test]
async fn a_proxyjump_bastion_is_honoured_and_its_key_checked_too() {
    let keys = tempfile::tempdir().unwrap();
    let bastion_key = new_host_key(keys.path(), "bastion");
    let bastion = Sshd::start(&bastion_key, None);
    let s = setup(
        "lifeboat-test-server",
        &format!("  ProxyJump 127.0.0.1:{}", bastion.port),
    )
    .await;

    let offered =
        s.lb.unknown_host_keys("lifeboat-test-server")
            .await
            .unwrap();
    let mut fingerprints: Vec<String> = offered.iter().map(|k| k.fingerprint.clone()).collect();
    fingerprints.sort();
    let mut expected = vec![
        fingerprint_of_key(&bastion_key.with_extension("pub")),
        fingerprint_of_key(Path::new(&var("LIFEBOAT_TEST_SSH_HOST_KEY"))),
    ];
    expected.sort();
    assert_eq!(fingerprints, expected, "{offered:?}");
    trust_all(&s.lb, "lifeboat-test-server").await;
    let report = test(&s).await.unwrap();
    assert_eq!(report.server_major, 15);
}

#[tokio::test]
async fn a_key_the_server_does_not_accept_and_an_unreachable_server_say_so() {
    let keys = tempfile::tempdir().unwrap();
    let stranger = new_host_key(keys.path(), "stranger");
    let s = setup(
        "lifeboat-test-server",
        &format!("  IdentityFile {}", stranger.display()),
    )
    .await;
    // The alias's key comes first; IdentitiesOnly offers only the configured keys, so the
    // harness's key (for every host) is offered too unless the alias says otherwise.
    let config = s.lb.settings().await.unwrap().ssh_config.unwrap();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!(
            "  IdentityFile {}\n  IdentitiesOnly",
            var("LIFEBOAT_TEST_SSH_KEY")
        ),
        "  IdentitiesOnly",
    );
    std::fs::write(&config, text).unwrap();
    trust_all(&s.lb, "lifeboat-test-server").await;
    let refused = test(&s).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::SshAuthFailed, "{refused:?}");

    let closed = format!("127.0.0.1:{}", common::closed_port());
    s.lb.set_server(&s.env_id, &closed).await.unwrap();
    let unreachable = test(&s).await.unwrap_err();
    assert_eq!(
        unreachable.code,
        ErrorCode::SshUnreachable,
        "{unreachable:?}"
    );
}

/// The SSH user's home directory, where a relative media path starts.
fn ssh_home() -> PathBuf {
    let entry =
        common::run(Command::new("getent").args(["passwd", &var("LIFEBOAT_TEST_SSH_USER")]));
    PathBuf::from(
        String::from_utf8(entry)
            .unwrap()
            .trim()
            .split(':')
            .nth(5)
            .unwrap(),
    )
}

/// A media tree in the SSH user's home, theirs (as root the test makes it, then gives it away).
/// Returns its path relative to that home, and removes it when dropped.
struct MediaOnServer {
    relative: String,
    path: PathBuf,
}

impl MediaOnServer {
    fn create() -> Self {
        let relative = unique("lifeboat-media");
        let path = ssh_home().join(&relative);
        common::create_media_tree(&path);
        give_to_ssh_user(&path);
        Self { relative, path }
    }

    /// A tree made and set as `s`'s media directory, given as relative to the SSH user's home.
    async fn of(s: &Setup) -> Self {
        let media = Self::create();
        s.lb.change_environment(
            &s.env_id,
            &EnvironmentChange::MediaDir(Some(media.relative.clone())),
        )
        .await
        .unwrap();
        media
    }
}

/// As root the test makes files in the SSH user's home: they become that user's, as theirs.
fn give_to_ssh_user(path: &Path) {
    if is_root() {
        common::run(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{0}:{0}", var("LIFEBOAT_TEST_SSH_USER")))
                .arg(path),
        );
    }
}

impl Drop for MediaOnServer {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.path).ok();
    }
}

#[tokio::test]
async fn media_on_the_server_is_backed_up_over_ssh_and_restores_into_a_local_folder() {
    let s = trusted("lifeboat-test-server").await;
    let media = MediaOnServer::create();

    let missing =
        s.lb.change_environment(
            &s.env_id,
            &EnvironmentChange::MediaDir(Some("no-such-dir".into())),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code, missing.field.as_deref()),
        (ErrorCode::MediaDirMissing, Some("mediaDir"))
    );
    s.lb.change_environment(
        &s.env_id,
        &EnvironmentChange::MediaDir(Some(media.relative.clone())),
    )
    .await
    .unwrap();
    let stats =
        s.lb.media_stats(&media.relative, Some(&s.env_id))
            .await
            .unwrap();
    let local_stats =
        s.lb.media_stats(&media.path.display().to_string(), None)
            .await
            .unwrap();
    assert_eq!(stats, local_stats);

    let backup = s.lb.backup(&both(&s.env_id, "")).await.unwrap();
    let part = backup.media.as_ref().expect("media was backed up");
    assert_eq!(part.file_count, stats.file_count);
    assert_eq!(part.total_bytes, stats.total_bytes);

    // The download is the same plain tar as a local directory's: identical files.
    let unpacked = common::fixture::downloaded_media(&s.lb, &backup.backup_id).await;
    assert_eq!(
        common::media_hashes(&unpacked.path().join("media")),
        common::media_hashes(&media.path)
    );

    // Into a folder on this machine: another environment, without a server.
    let app = s.lb.environment(&s.env_id).await.unwrap().application_id;
    let local = tempfile::tempdir().unwrap();
    let here = local.path().join("media");
    std::fs::create_dir(&here).unwrap();
    std::fs::write(here.join("stray.txt"), b"not in the backup").unwrap();
    let staging = common::fixture::environment(&s.lb, &app, "staging", Some(&here)).await;
    let request = common::fixture::restore_media(&backup.backup_id, &staging.id, "staging", false);
    s.lb.restore(&request).await.unwrap();
    assert_eq!(
        common::media_hashes(&here),
        common::media_hashes(&media.path)
    );
}

#[tokio::test]
async fn an_unreadable_file_on_the_server_fails_the_backup_and_stores_nothing() {
    if !is_root() {
        // The SSH user is the one running the tests, who may read anything they own.
        return;
    }
    let s = trusted("lifeboat-test-server").await;
    let media = MediaOnServer::of(&s).await;
    let secret = media.path.join("uploads/zero-bytes.txt");
    common::run(Command::new("chown").arg("root:root").arg(&secret));
    common::run(Command::new("chmod").arg("600").arg(&secret));

    let failed = s.lb.backup(&both(&s.env_id, "")).await.unwrap_err();
    assert_eq!(failed.code, ErrorCode::MediaUnreadable, "{failed:?}");
    assert!(
        failed.message.contains("zero-bytes.txt"),
        "{}",
        failed.message
    );
    let listed = s.lb.list_backups(&s.env_id).await.unwrap();
    assert!(
        listed.iter().all(|b| b.backup.is_none()),
        "nothing was listed"
    );
}

#[tokio::test]
async fn a_restore_puts_the_servers_media_back_whole_and_leaves_no_staging_behind() {
    let s = trusted("lifeboat-test-server").await;
    let media = MediaOnServer::of(&s).await;
    let original = common::media_hashes(&media.path);
    let backup = s.lb.backup(&both(&s.env_id, "")).await.unwrap();

    // Production breaks: a file gone, one changed, a stray one added.
    std::fs::remove_file(media.path.join("uploads/zero-bytes.txt")).unwrap();
    std::fs::write(media.path.join("uploads/2026/11/photo.jpg"), b"overwritten").unwrap();
    std::fs::write(media.path.join("uploads/stray.txt"), b"not in the backup").unwrap();
    give_to_ssh_user(&media.path);
    assert_ne!(common::media_hashes(&media.path), original);

    let summary =
        s.lb.restore(&in_place(&s, &backup.backup_id, false, true))
            .await
            .unwrap();
    assert!(summary.safety_backup_id.is_some());
    assert!(summary.checks.iter().all(|c| c.ok), "{:?}", summary.checks);
    let restored = summary.media.expect("media was restored");
    assert_eq!(
        restored.files,
        backup.media.as_ref().unwrap().file_count - 1,
        "files, not the link"
    );
    assert_eq!(common::media_hashes(&media.path), original);
    let leftovers: Vec<String> = std::fs::read_dir(ssh_home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!(".{}.lifeboat-", media.relative)))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn a_server_gone_mid_backup_fails_it_cleanly_with_nothing_stored() {
    // The server's tar tells the test it started (through a FIFO), then stops itself: the
    // backup is mid-stream for as long as the test wants, with no timing involved.
    let gate = tempfile::tempdir().unwrap();
    let fifo = gate.path().join("started");
    common::run(Command::new("mkfifo").args(["-m", "666"]).arg(&fifo));
    let real_tar = String::from_utf8(common::run(
        Command::new("sh").args(["-c", "command -v tar"]),
    ))
    .unwrap();
    std::fs::write(
        gate.path().join("tar"),
        format!(
            "#!/bin/sh\necho $$ > {}\nkill -STOP $$\nexec {} \"$@\"\n",
            fifo.display(),
            real_tar.trim()
        ),
    )
    .unwrap();
    common::run(
        Command::new("chmod")
            .arg("755")
            .arg(gate.path())
            .arg(gate.path().join("tar")),
    );
    let keys = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_with(
        &new_host_key(keys.path(), "host"),
        None,
        &format!("SetEnv PATH={}:/usr/bin:/bin", gate.path().display()),
    );
    let server = format!("127.0.0.1:{}", sshd.port);
    let s = setup(&server, "").await;
    trust_all(&s.lb, &server).await;
    let _media = MediaOnServer::of(&s).await;

    let job =
        s.lb.start_backup(&BackupRequest {
            database: false,
            media: true,
            ..database_only(&s.env_id)
        })
        .await
        .unwrap();
    let started = tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo).unwrap());
    started.await.unwrap();
    sshd.kill_all();

    let ended = common::fixture::wait_finished(&s.lb, &job).await;
    let error = ended.error.expect("the backup failed");
    assert_eq!(error.code, ErrorCode::SshUnreachable, "{error:?}");
    assert_nothing_stored(&s).await;
}

#[tokio::test]
async fn a_passphrase_protected_key_is_unlocked_with_the_passphrase_kept_in_the_keyring() {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("locked");
    common::run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "open sesame", "-f"])
            .arg(&key),
    );
    // The server accepts it (the harness's authorized_keys is the tests' to add to).
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let authorized = Path::new(&var("LIFEBOAT_TEST_SSH_DIR")).join("authorized_keys");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(authorized)
        .unwrap();
    std::io::Write::write_all(&mut file, public.as_bytes()).unwrap();

    let s = setup("lifeboat-test-server", "").await;
    // This user's configuration offers that key alone.
    let config = s.lb.settings().await.unwrap().ssh_config.unwrap();
    std::fs::write(
        &config,
        format!(
            "Host lifeboat-test-server\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n",
            var("LIFEBOAT_TEST_SSH_PORT"),
            var("LIFEBOAT_TEST_SSH_USER"),
            key.display()
        ),
    )
    .unwrap();
    trust_all(&s.lb, "lifeboat-test-server").await;

    let locked = test(&s).await.unwrap_err();
    assert_eq!(locked.code, ErrorCode::SshKeyLocked, "{locked:?}");
    assert_eq!(locked.detail.as_deref(), Some(key.to_str().unwrap()));

    let wrong =
        s.lb.set_ssh_key_passphrase(key.to_str().unwrap(), "open sesamo")
            .await
            .unwrap_err();
    assert_eq!(
        (wrong.code, wrong.field.as_deref()),
        (ErrorCode::SshKeyLocked, Some("passphrase"))
    );
    assert_eq!(test(&s).await.unwrap_err().code, ErrorCode::SshKeyLocked);

    s.lb.set_ssh_key_passphrase(key.to_str().unwrap(), "open sesame")
        .await
        .unwrap();
    let report = test(&s).await.unwrap();
    assert_eq!(report.server_major, 15);
}

#[tokio::test]
async fn a_restore_cut_off_on_the_server_is_put_right_at_the_next_start() {
    let s = trusted("lifeboat-test-server").await;
    let media = MediaOnServer::create();
    let original = common::media_hashes(&media.path);
    // What a Lifeboat killed mid-swap leaves: the job recorded with where it worked, its
    // staging directory, and the old tree moved aside with nothing in its place yet.
    let job_id = "0123abcd-cut-off";
    let request = lifeboat_core::JobRequest::Restore(RestoreRequest {
        backup_id: "20261129T000000Z-00000000".into(),
        environment_id: s.env_id.clone(),
        database: false,
        media: true,
        safety_backup: false,
        confirmation: None,
    });
    let catalog = s.lb.catalog();
    catalog
        .insert_job(job_id, &s.env_id, &request)
        .await
        .unwrap();
    catalog
        .set_job_local_dir(
            job_id,
            Some(&format!("ssh\nlifeboat-test-server\n{}", media.relative)),
        )
        .await
        .unwrap();
    catalog.interrupt_job(job_id).await.unwrap();
    let home = ssh_home();
    let staging = home.join(format!(".{}.lifeboat-restore-{job_id}", media.relative));
    let replaced = home.join(format!(".{}.lifeboat-replaced-{job_id}", media.relative));
    std::fs::create_dir(&staging).unwrap();
    std::fs::write(staging.join("half.txt"), b"half written").unwrap();
    std::fs::rename(&media.path, &replaced).unwrap();
    for dir in [&staging, &replaced] {
        give_to_ssh_user(dir);
    }

    assert_eq!(s.lb.clean_up_leftovers().await.unwrap(), 1);
    assert!(!staging.exists(), "the staging directory is removed");
    assert!(!replaced.exists());
    assert_eq!(
        common::media_hashes(&media.path),
        original,
        "the old tree is back"
    );
    assert!(catalog.pending_local_repairs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_restore_that_would_not_fit_on_the_server_changes_nothing_there() {
    if !is_root() {
        // A small filesystem of the test's own needs mount(8).
        return;
    }
    let s = trusted("lifeboat-test-server").await;
    let _media = MediaOnServer::of(&s).await;
    let backup = s.lb.backup(&both(&s.env_id, "")).await.unwrap();

    // The destination now lives on a filesystem smaller than the backup's media.
    let small = common::Mount::tmpfs("size=128k,mode=0777");
    let dest = small.path().join("media");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("kept.txt"), b"what was there").unwrap();
    give_to_ssh_user(&dest);
    s.lb.change_environment(
        &s.env_id,
        &EnvironmentChange::MediaDir(Some(dest.display().to_string())),
    )
    .await
    .unwrap();
    let refused =
        s.lb.restore(&RestoreRequest {
            safety_backup: false,
            ..in_place(&s, &backup.backup_id, false, true)
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::DiskFull, "{refused:?}");
    assert!(
        refused.message.contains("lifeboat-test-server"),
        "{}",
        refused.message
    );
    let there: Vec<_> = std::fs::read_dir(small.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(there, ["media"], "no staging directory was made");
    assert_eq!(
        std::fs::read(dest.join("kept.txt")).unwrap(),
        b"what was there"
    );
}

#[tokio::test]
async fn a_server_gone_mid_dump_fails_the_backup_as_unreachable_with_nothing_stored() {
    let keys = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(&new_host_key(keys.path(), "host"), None);
    let server = format!("127.0.0.1:{}", sshd.port);
    let s = trusted(&server).await;

    // A migration holds a lock: pg_dump, through the tunnel, waits on it — mid-dump for as
    // long as the test wants. psql says when it holds the lock.
    let user = var("LIFEBOAT_TEST_SSH_USER");
    let mut locker = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--"]).arg(common::pg_tool("psql"));
        c
    } else {
        Command::new(common::pg_tool("psql"))
    };
    let mut locker = locker
        .args(["-X", "-q", "-h"])
        .arg(var("LIFEBOAT_TEST_SSH_PG_SOCKET_DIR"))
        .args([
            "-p",
            &var("LIFEBOAT_TEST_SSH_PG_PORT"),
            "-U",
            "postgres",
            "-d",
            &s.database,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_psql = locker.stdin.take().unwrap();
    std::io::Write::write_all(
        &mut to_psql,
        b"BEGIN; LOCK TABLE shop_order IN ACCESS EXCLUSIVE MODE;\n\\echo locked\n",
    )
    .unwrap();
    let mut said = std::io::BufReader::new(locker.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    assert_eq!(line.trim(), "locked");

    let job = s.lb.start_backup(&database_only(&s.env_id)).await.unwrap();
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'lifeboat' AND wait_event_type = 'Lock'",
        s.database
    );
    let mut waited = 0;
    while behind("postgres", &waiting) != "1" {
        waited += 1;
        assert!(waited < 600, "pg_dump never waited on the lock");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sshd.kill_all();

    let ended = common::fixture::wait_finished(&s.lb, &job).await;
    std::io::Write::write_all(&mut to_psql, b"ROLLBACK;\n").ok();
    drop(to_psql);
    locker.wait().ok();
    let error = ended.error.expect("the backup failed");
    assert_eq!(error.code, ErrorCode::SshUnreachable, "{error:?}");
    assert!(error.message.contains(&server), "{}", error.message);
    assert_nothing_stored(&s).await;
}

#[tokio::test]
async fn pg_dump_runs_on_the_server_when_asked_with_its_password_kept_out_of_argv() {
    // The test's sshd records every command it is asked to run, then runs it.
    let gate = tempfile::tempdir().unwrap();
    let log = gate.path().join("commands.log");
    std::fs::write(&log, b"").unwrap();
    std::fs::write(
        gate.path().join("record"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" >> {}\nexec sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
            log.display()
        ),
    )
    .unwrap();
    common::run(
        Command::new("chmod")
            .arg("755")
            .arg(gate.path())
            .arg(gate.path().join("record")),
    );
    common::run(Command::new("chmod").arg("666").arg(&log));
    let keys = tempfile::tempdir().unwrap();
    let sshd = Sshd::start_with(
        &new_host_key(keys.path(), "host"),
        None,
        &format!("ForceCommand {}/record", gate.path().display()),
    );
    let server = format!("127.0.0.1:{}", sshd.port);
    let s = trusted(&server).await;

    // The application's own role, which logs in with a password there.
    let role = unique("shop");
    let password = format!("pw-{role}");
    behind(
        "postgres",
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE lifeboat_password"),
    );
    behind(
        &s.database,
        &format!(
            "ALTER DATABASE {db} OWNER TO {role}; ALTER TABLE django_migrations OWNER TO {role};
             ALTER TABLE auth_user OWNER TO {role}; ALTER TABLE shop_order OWNER TO {role};
             ALTER SEQUENCE shop_invoice_number OWNER TO {role}",
            db = s.database
        ),
    );
    s.lb.change_environment(
        &s.env_id,
        &EnvironmentChange::Connection(Some(PgConnectionInput {
            user: role.clone(),
            password: Some(password.clone()),
            ..as_the_server_sees_it(&s.database)
        })),
    )
    .await
    .unwrap();
    s.lb.set_dump_on_server(&s.env_id, true).await.unwrap();

    let report = test(&s).await.unwrap();
    let there = report
        .pg_dump_on_server
        .expect("the server's pg_dump is reported");
    assert_eq!(there.major, report.server_major);

    let before = rows_of(&s.database);
    let backup = s.lb.backup(&database_only(&s.env_id)).await.unwrap();
    let record = s.lb.backup_record(&backup.backup_id).await.unwrap();
    let verified = record.verification.expect("verified after the backup");
    assert!(verified.ok, "{:?}", verified.checks);
    assert!(
        backup.globals.is_some(),
        "the roles came from the server's pg_dumpall"
    );

    let ran = std::fs::read_to_string(&log).unwrap();
    assert!(
        ran.lines()
            .any(|l| l.contains(&there.path) && l.contains("--format=custom")),
        "pg_dump ran on the server: {ran}"
    );
    assert!(ran.contains("pg_dumpall"), "{ran}");
    assert!(
        !ran.contains(&password),
        "the password is never in a command line"
    );

    // And the dump restores: rows changed, then put back through the tunnel.
    behind(&s.database, "DELETE FROM shop_order WHERE id > 10");
    s.lb.restore(&in_place(&s, &backup.backup_id, true, false))
        .await
        .unwrap();
    assert_eq!(rows_of(&s.database), before);
}

#[tokio::test]
async fn a_local_folders_backup_restores_onto_the_server() {
    let s = trusted("lifeboat-test-server").await;
    let media = MediaOnServer::of(&s).await;
    // Another environment whose media is a folder on this machine, with other content.
    let app = s.lb.environment(&s.env_id).await.unwrap().application_id;
    let here = tempfile::tempdir().unwrap();
    common::create_media_tree(here.path());
    std::fs::write(
        here.path().join("uploads/only-here.txt"),
        b"from the laptop",
    )
    .unwrap();
    let laptop =
        s.lb.create_environment(&EnvironmentInput {
            application_id: app,
            name: "laptop".into(),
            connection: None,
            media_dir: Some(here.path().display().to_string()),
            target_id: None,
        })
        .await
        .unwrap();
    let backup =
        s.lb.backup(&BackupRequest {
            database: false,
            media: true,
            ..database_only(&laptop.id)
        })
        .await
        .unwrap();

    s.lb.restore(&in_place(&s, &backup.backup_id, false, true))
        .await
        .unwrap();
    assert_eq!(
        common::media_hashes(&media.path),
        common::media_hashes(here.path())
    );
}

#[tokio::test]
async fn the_ssh_configuration_setting_names_an_existing_file_and_a_server_is_needed_to_dump_there()
{
    let (_home, lb) = common::lifeboat().await;
    let mut settings = lb.settings().await.unwrap();
    for bad in ["relative/config", "/no/such/ssh_config"] {
        settings.ssh_config = Some(bad.into());
        let refused = lb.update_settings(&settings).await.unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("sshConfig"), "{bad}");
    }
    assert_eq!(
        lb.settings().await.unwrap().ssh_config,
        None,
        "nothing was saved"
    );

    let app = lb.create_application("shop").await.unwrap();
    let env = common::fixture::environment(&lb, &app.id, "production", None).await;
    let refused = lb.set_dump_on_server(&env.id, true).await.unwrap_err();
    assert_eq!(refused.field.as_deref(), Some("dumpOnServer"));
    assert!(!lb.environment(&env.id).await.unwrap().dump_on_server);
}

#[tokio::test]
async fn a_deduplicated_backup_of_the_servers_media_sends_only_changed_files_and_downloads_the_same(
) {
    let s = trusted("lifeboat-test-server").await;
    let media = MediaOnServer::of(&s).await;
    let lb = &s.lb;
    let dedup = |on: bool| async move {
        let mut settings = lb.settings().await.unwrap();
        settings.deduplicate = on;
        lb.update_settings(&settings).await.unwrap();
    };
    let media_only = || common::fixture::media_only(&s.env_id);
    let tar_sha = |id: String| async move {
        let (_dir, tar) = common::fixture::downloaded_media_tar(lb, &id).await;
        common::fixture::sha256sum(&tar)
    };
    let read_whole = |backup: &lifeboat_core::BackupManifest| {
        let artifact = &backup.media.as_ref().unwrap().artifact;
        artifact
            .chunked
            .as_ref()
            .unwrap()
            .plaintext_sha256
            .is_some()
    };
    let full = s.lb.backup(&media_only()).await.unwrap();
    dedup(true).await;
    let first = s.lb.backup(&media_only()).await.unwrap();
    assert!(read_whole(&first), "a first backup reads every file");
    assert_eq!(
        tar_sha(first.backup_id.clone()).await,
        tar_sha(full.backup_id.clone()).await
    );

    // One file grows and one is new. Only those two are in what tar sends: the archive is
    // refused if the stream holds any other.
    let grown = media.path.join("uploads/zero-bytes.txt");
    std::fs::write(&grown, b"no longer empty").unwrap();
    let new = media.path.join("uploads/new.bin");
    common::write_incompressible(&new, 70_000);
    give_to_ssh_user(&new);
    let second = s.lb.backup(&media_only()).await.unwrap();
    assert!(!read_whole(&second), "unchanged files were taken unread");
    assert!(s.lb.verify_backup(&second.backup_id).await.unwrap().ok);
    let unpacked = common::fixture::downloaded_media(&s.lb, &second.backup_id).await;
    assert_eq!(
        common::media_hashes(&unpacked.path().join("media")),
        common::media_hashes(&media.path)
    );

    // Byte for byte what a full rescan and a full (not deduplicated) backup make.
    let rescanned =
        s.lb.backup(&lifeboat_core::BackupRequest {
            full_rescan: true,
            ..media_only()
        })
        .await
        .unwrap();
    assert!(read_whole(&rescanned));
    dedup(false).await;
    let plain = s.lb.backup(&media_only()).await.unwrap();
    let second_sha = tar_sha(second.backup_id.clone()).await;
    assert_eq!(second_sha, tar_sha(rescanned.backup_id.clone()).await);
    assert_eq!(second_sha, tar_sha(plain.backup_id.clone()).await);
}
