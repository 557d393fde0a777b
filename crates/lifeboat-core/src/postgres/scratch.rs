//! A throwaway PostgreSQL cluster Lifeboat runs itself, so a drill never puts a copy of
//! production's data on production's server: `initdb` into a private directory, a server on a
//! random loopback port with a random password, stopped and removed when the drill ends.
//!
//! PostgreSQL refuses to run as root. Run as root (a server's cron, CI), the cluster runs as
//! the `postgres` system account in the system's temporary directory, which that account can
//! reach (Lifeboat's home under root's home it cannot).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::tools::PgServerTools;
use crate::connection::{PgConnectionInput, SslMode};
use crate::error::{Error, ErrorCode, Result};

/// Written beside the data directory: which server binaries run it, for a later cleanup.
const BIN_FILE: &str = "bin";

/// The system account a scratch cluster runs as when Lifeboat runs as root.
#[derive(Debug, Clone, Copy)]
struct Account {
    uid: u32,
    gid: u32,
}

/// Where the scratch cluster of one drill lives.
pub fn scratch_dir(home_scratch: &Path, drill_id: &str) -> PathBuf {
    let parent = if running_as_root() {
        std::env::temp_dir()
    } else {
        home_scratch.to_path_buf()
    };
    // Absolute, as the catalog records it to tell a cluster from a drill database's name.
    std::path::absolute(&parent)
        .unwrap_or(parent)
        .join(format!("lifeboat-scratch-{drill_id}"))
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The `postgres` account, for running the cluster when Lifeboat runs as root.
fn postgres_account() -> Result<Option<Account>> {
    if !running_as_root() {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; getpwnam_r (unlike getpwnam) writes only
    // into the buffers given, so drills on two threads cannot overwrite each other's record.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            entry.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return Err(Error::new(
            ErrorCode::DrillServer,
            "PostgreSQL refuses to run as root, and there is no postgres account to run the drill's scratch server as; run Lifeboat as another user or set a drill server.",
        ));
    }
    // SAFETY: getpwnam_r succeeded and filled the record.
    let entry = unsafe { entry.assume_init() };
    Ok(Some(Account {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    }))
}

/// A cluster's directory, the server binaries that run it, and the account they run as.
struct Place {
    dir: PathBuf,
    bin: PathBuf,
    account: Option<Account>,
}

impl Place {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(self.bin.join(tool));
        // Settings meant for the drill's source must not leak into the scratch cluster.
        super::client::without_pg_settings(&mut command);
        if let Some(account) = self.account {
            use std::os::unix::process::CommandExt;
            command
                .uid(account.uid)
                .gid(account.gid)
                .current_dir(&self.dir);
        }
        command
    }

    fn run(&self, what: &str, command: &mut Command) -> Result<()> {
        let out = command.stdin(Stdio::null()).output().map_err(|e| {
            drill_server_error(format!("Cannot run {:?}: {e}", command.get_program()))
        })?;
        check(what, out)
    }

    fn stop(&self) -> Result<()> {
        self.run(
            "pg_ctl stop",
            self.command("pg_ctl").arg("-D").arg(self.data()).args([
                "-m",
                "immediate",
                "-w",
                "stop",
            ]),
        )
    }
}

/// A running scratch cluster. Dropping it stops the server and removes every file.
pub struct ScratchCluster {
    place: Place,
    connection: PgConnectionInput,
    running: bool,
}

impl ScratchCluster {
    /// Creates the cluster in `dir` (which must not exist) with `server`'s binaries and starts
    /// it. Blocking: initdb and the start take a few seconds.
    pub fn start(dir: &Path, server: &PgServerTools) -> Result<Self> {
        let account = postgres_account()?;
        create_private_dir(dir, account)?;
        std::fs::write(dir.join(BIN_FILE), server.bin.display().to_string())
            .map_err(|e| io_error(dir, e))?;
        let mut cluster = Self {
            place: Place {
                dir: dir.to_path_buf(),
                bin: server.bin.clone(),
                account,
            },
            connection: PgConnectionInput {
                host: "127.0.0.1".into(),
                port: 0,
                database: "postgres".into(),
                // Not a name the backup's roles could hold, which are created on top.
                user: format!(
                    "lifeboat_scratch_{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                ),
                ssl_mode: SslMode::Disable,
                ssl_root_cert: None,
                password: Some(uuid::Uuid::new_v4().simple().to_string()),
            },
            running: false,
        };
        cluster.init()?;
        // The port is free when picked but could be taken before the server binds it.
        let mut attempts = 0;
        loop {
            cluster.connection.port = free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => break,
                Err(e) => {
                    // A server that came up after pg_ctl gave up on it must not outlive us.
                    if cluster.place.data().join("postmaster.pid").exists() {
                        cluster.place.stop().ok();
                    }
                    if attempts < 2 && e.message.contains("Address already in use") {
                        attempts += 1;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        cluster.running = true;
        Ok(cluster)
    }

    /// Connects as the cluster's superuser to its `postgres` database.
    pub fn connection(&self) -> &PgConnectionInput {
        &self.connection
    }

    fn init(&self) -> Result<()> {
        let place = &self.place;
        let pwfile = place.dir.join("pwfile");
        write_private(
            &pwfile,
            self.connection.password.as_deref().unwrap_or_default(),
        )?;
        if let Some(account) = place.account {
            std::os::unix::fs::chown(&pwfile, Some(account.uid), Some(account.gid))
                .map_err(|e| io_error(&pwfile, e))?;
        }
        // The cluster is thrown away after one drill: durability would cost time and buy
        // nothing, hence --no-sync here and fsync=off below.
        let done = place.run(
            "initdb",
            place
                .command("initdb")
                .arg("-D")
                .arg(place.data())
                .args(["-U", self.connection.user.as_str(), "--auth=scram-sha-256"])
                .args(["-E", "UTF8"])
                .args(["--locale=C", "--no-sync"])
                .arg(format!("--pwfile={}", pwfile.display())),
        );
        std::fs::remove_file(&pwfile).ok();
        done
    }

    fn pg_ctl_start(&self) -> Result<()> {
        let place = &self.place;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories='' -c fsync=off -c full_page_writes=off",
            self.connection.port
        );
        let log = place.dir.join("server.log");
        place
            .run(
                "pg_ctl start",
                place
                    .command("pg_ctl")
                    .arg("-D")
                    .arg(place.data())
                    .args(["-w", "-t", "60", "-o", &options, "-l"])
                    .arg(&log)
                    .arg("start"),
            )
            .map_err(|e| {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                Error::new(
                    e.code,
                    format!("{} {}", e.message, super::client::last_lines(&said)),
                )
            })
    }

    /// Runs SQL through the cluster's own psql as its superuser, going on past failed
    /// statements. Returns the errors psql reported.
    pub fn run_sql(&self, sql: &mut dyn Read) -> Result<Vec<String>> {
        let mut child = self
            .place
            .command("psql")
            .envs(super::client::pg_env(&self.connection))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=0", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| drill_server_error(format!("Cannot run psql: {e}")))?;
        let said = super::client::read_all(child.stderr.take());
        let mut input = child.stdin.take().expect("stdin is piped");
        let fed = std::io::copy(sql, &mut input);
        drop(input);
        let status = child.wait()?;
        let said = said.join().unwrap_or_default();
        if !status.success() {
            return Err(drill_server_error(format!(
                "psql failed: {}",
                super::client::last_lines(&said)
            )));
        }
        fed.map_err(|e| drill_server_error(format!("Feeding psql failed: {e}")))?;
        Ok(said
            .lines()
            .filter(|l| l.contains("ERROR:"))
            .map(str::to_owned)
            .collect())
    }

    /// Stops the server and removes the cluster's files.
    pub fn remove(mut self) -> Result<()> {
        self.stop_and_remove()
    }

    fn stop_and_remove(&mut self) -> Result<()> {
        if std::mem::take(&mut self.running) {
            self.place.stop()?;
        }
        remove_dir(&self.place.dir)
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_remove() {
            tracing::warn!(dir = %self.place.dir.display(), "cannot remove a drill's scratch cluster: {}", e.message);
        }
    }
}

/// Stops and removes a scratch cluster a crash left behind.
pub fn remove_leftover(dir: &Path) -> Result<()> {
    if let Ok(bin) = std::fs::read_to_string(dir.join(BIN_FILE)) {
        let place = Place {
            dir: dir.to_path_buf(),
            bin: PathBuf::from(bin.trim()),
            account: postgres_account()?,
        };
        if server_runs_in(&place.data()) {
            place.stop().ok();
        }
    }
    remove_dir(dir)
}

/// Whether the process postmaster.pid names is a server of this data directory: a pid file a
/// dead server left may name an unrelated process by now.
fn server_runs_in(data: &Path) -> bool {
    let Ok(pid_file) = std::fs::read_to_string(data.join("postmaster.pid")) else {
        return false;
    };
    let Some(pid) = pid_file.lines().next().map(str::trim) else {
        return false;
    };
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&*data.to_string_lossy()))
}

fn create_private_dir(dir: &Path, account: Option<Account>) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    let mut builder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io_error(dir, e))?;
    if let Some(account) = account {
        std::os::unix::fs::chown(dir, Some(account.uid), Some(account.gid))
            .map_err(|e| io_error(dir, e))?;
    }
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io_error(path, e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| io_error(path, e))
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(dir, e)),
        _ => Ok(()),
    }
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| drill_server_error(format!("No free loopback port: {e}")))?;
    Ok(listener.local_addr()?.port())
}

fn check(what: &str, out: Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    Err(drill_server_error(format!(
        "The drill's scratch server failed ({what}): {}",
        super::client::last_lines(&said)
    )))
}

fn drill_server_error(message: String) -> Error {
    Error::new(ErrorCode::DrillServer, message)
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorCode::Io, format!("{}: {e}", path.display()))
}
