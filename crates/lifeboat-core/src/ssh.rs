//! Reaching an environment's server over SSH: the database through a socket forwarded to it,
//! hooks run on it, and the host keys the user trusts.
//!
//! Why the system's OpenSSH (through the `openssh` crate) and not an SSH library: people's
//! servers are set up for their `ssh` (Host aliases, HostName, User, Port, IdentityFile,
//! ProxyJump bastions, the agent), and `ssh` honours all of it the way they expect, where a
//! library would re-implement a subset of ssh_config and get bastions and agents subtly wrong.
//! The crate runs one master connection per session and multiplexes forwards and commands over
//! it; it needs only `ssh` on PATH, which every machine that reaches servers has.
//!
//! Every connection reads a configuration Lifeboat writes, whose first block pins what must not
//! be left to the user's files (first value wins in ssh_config), then includes the user's own:
//! never a prompt (BatchMode, so a headless CLI fails with a code instead of hanging), host keys
//! checked against Lifeboat's own known_hosts and the user's, nothing forwarded to the server,
//! no ControlMaster of the user's reused (it would skip the host key check).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use openssh::{ControlPersist, ForwardType, KnownHosts, SessionBuilder, Socket};
use serde::Serialize;
use tempfile::TempDir;
use ts_rs::TS;

use crate::connection::{PgConnectionInput, SslMode};
use crate::error::{Error, ErrorCode, Result};
use crate::home::Home;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a master outlives its last channel. Each session holds one channel open while it
/// lives, so this only matters when Lifeboat was killed: the orphaned master then goes away.
const ORPHAN_LINGER: usize = 30;

/// A host key a server (or a jump host on the way) offered that nobody has trusted yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SshHostKey {
    /// As known_hosts names it: `host`, or `[host]:port` for another port.
    pub host: String,
    /// ED25519, ECDSA, RSA…
    pub key_type: String,
    /// `SHA256:…`, as `ssh` and `ssh-keygen -lf` print it.
    pub fingerprint: String,
}

/// Checks an environment's server as typed: `[user@]host[:port]` or a Host alias of the user's
/// ssh_config. Returns it trimmed, `None` for empty.
pub fn parse_server(text: &str) -> Result<Option<String>> {
    let server = text.trim();
    if server.is_empty() {
        return Ok(None);
    }
    let invalid = |why: &str| Error::validation("server", why);
    if server.starts_with('-') {
        return Err(invalid("A server cannot start with “-”."));
    }
    if !server
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-@:%".contains(c))
    {
        return Err(invalid(
            "Give the server as user@host, host:port or a Host alias from your SSH config.",
        ));
    }
    let host = server.rsplit_once('@').map_or(server, |(_, host)| host);
    if let Some((name, port)) = host.split_once(':') {
        if name.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(invalid(
                "The port after “:” must be a number from 1 to 65535.",
            ));
        }
    }
    if host.is_empty() || server.starts_with('@') {
        return Err(invalid("The server names no host."));
    }
    Ok(Some(server.to_owned()))
}

/// `~/x` under `home`; an Include's relative path is relative to `~/.ssh`, as ssh reads it.
fn expand(path: &str, home: &Path) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if Path::new(path).is_relative() => home.join(".ssh").join(path),
        None => PathBuf::from(path),
    }
}

/// The keyword of an ssh_config line and the rest of it.
fn keyword(line: &str) -> Option<(&str, &str)> {
    line.trim()
        .split_once(|c: char| c.is_whitespace() || c == '=')
}

fn collect_aliases(file: &Path, home: &Path, depth: u32, aliases: &mut Vec<String>) {
    // ssh itself stops at 16 levels; a few are enough to offer names.
    if depth > 4 {
        return;
    }
    let text = std::fs::read_to_string(file).unwrap_or_default();
    for (word, rest) in text.lines().filter_map(keyword) {
        if word.eq_ignore_ascii_case("host") {
            aliases.extend(
                rest.split_whitespace()
                    .filter(|alias| !alias.contains(['*', '?', '!']))
                    .map(str::to_owned),
            );
        } else if word.eq_ignore_ascii_case("include") {
            for pattern in rest.split_whitespace() {
                for included in matching(&expand(pattern, home)) {
                    collect_aliases(&included, home, depth + 1, aliases);
                }
            }
        }
    }
}

/// The files a pattern names: itself, or with one `*` in its last part, those matching it.
fn matching(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let (Some(name), Some(dir)) = (name, pattern.parent()) else {
        return Vec::new();
    };
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![pattern.to_path_buf()];
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    found.sort();
    found
}

/// `ssh`'s destination for a server: a port needs the `ssh://` form.
fn destination(server: &str) -> String {
    if server.contains(':') {
        format!("ssh://{server}")
    } else {
        server.to_owned()
    }
}

/// Where and how Lifeboat connects: its own known_hosts and the user's ssh_config.
pub struct Ssh {
    dir: PathBuf,
    user_config: String,
}

impl Ssh {
    /// `user_config`: the OpenSSH configuration to honour; the user's `~/.ssh/config` when `None`.
    pub fn new(home: &Home, user_config: Option<&str>) -> Self {
        Self {
            dir: home.ssh_dir(),
            user_config: user_config.unwrap_or("~/.ssh/config").to_owned(),
        }
    }

    /// The Host aliases of the user's SSH configuration (patterns left out), to offer as
    /// servers, with those of the files it includes (`Include conf.d/*`).
    pub fn host_aliases(&self) -> Vec<String> {
        let Some(home) = dirs::home_dir() else {
            return Vec::new();
        };
        let mut aliases = Vec::new();
        collect_aliases(&expand(&self.user_config, &home), &home, 0, &mut aliases);
        let mut seen = std::collections::HashSet::new();
        aliases.retain(|alias| seen.insert(alias.clone()));
        aliases
    }

    /// Lifeboat's own known_hosts: the hosts trusted through it. `~/.ssh/known_hosts` is read
    /// too, never written.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// A private directory for one connection: its configuration, control socket and forwards.
    fn session_dir(&self) -> Result<TempDir> {
        std::fs::create_dir_all(&self.dir)?;
        // tempfile makes it 0700: the forwarded database socket inside is this user's alone.
        Ok(tempfile::Builder::new().prefix("s").tempdir_in(&self.dir)?)
    }

    fn write_config(&self, dir: &Path, known_hosts: &[PathBuf], strict: &str) -> Result<PathBuf> {
        let quoted = |p: &Path| format!("\"{}\"", p.display());
        let files: Vec<String> = known_hosts
            .iter()
            .map(|p| quoted(p))
            .chain(["\"~/.ssh/known_hosts\"".to_owned()])
            .collect();
        let text = format!(
            "# Written by Lifeboat for one connection; the first value of each option wins.\n\
             Host *\n  BatchMode yes\n  StrictHostKeyChecking {strict}\n  UserKnownHostsFile {files}\n  \
             HashKnownHosts no\n  UpdateHostKeys no\n  CheckHostIP no\n  PasswordAuthentication no\n  \
             KbdInteractiveAuthentication no\n  ForwardAgent no\n  ForwardX11 no\n  \
             PermitLocalCommand no\n  ControlMaster no\n  ControlPath none\n  \
             ConnectTimeout {timeout}\n  ServerAliveInterval 15\n  ServerAliveCountMax 4\n  \
             Include \"{user}\"\n  Include /etc/ssh/ssh_config\n",
            files = files.join(" "),
            timeout = CONNECT_TIMEOUT.as_secs(),
            user = self.user_config,
        );
        let path = dir.join("config");
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Connects to `server`, checking its host key against what the user trusted. `unlocked`:
    /// passphrase-protected keys with their passphrases, offered through an agent of this
    /// session's own (the user's agent is then not asked).
    pub async fn connect(
        &self,
        server: &str,
        unlocked: &[(PathBuf, String)],
    ) -> Result<SshSession> {
        let dir = self.session_dir()?;
        let config = self.write_config(dir.path(), &[self.known_hosts()], "yes")?;
        let mut builder = SessionBuilder::default();
        builder
            .config_file(&config)
            .control_directory(dir.path())
            .known_hosts_check(KnownHosts::Strict)
            .control_persist(ControlPersist::IdleFor(
                NonZeroUsize::new(ORPHAN_LINGER).expect("not zero"),
            ));
        let agent = if unlocked.is_empty() {
            None
        } else {
            let agent = Agent::start(dir.path()).await?;
            for (key, passphrase) in unlocked {
                agent.add(key, passphrase).await?;
            }
            builder.ssh_auth_sock(&agent.socket);
            Some(agent)
        };
        let session = match builder.connect(destination(server)).await {
            Ok(session) => session,
            // Why it failed is learned by connecting again with everything on stderr: the
            // master's log misses what a jump host said.
            Err(e) => return Err(self.diagnose(server, &e.to_string()).await),
        };
        let mut session = SshSession {
            server: server.to_owned(),
            keepalive: None,
            config,
            session,
            _agent: agent,
            dir,
        };
        let mut keepalive = tokio::process::Command::from(session.command("cat"));
        keepalive
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        session.keepalive = Some(keepalive.spawn().map_err(ssh_missing)?);
        Ok(session)
    }

    /// The identity files `ssh` would offer `server` (its configuration's IdentityFile, else
    /// the defaults) that exist and are protected by a passphrase.
    pub async fn encrypted_keys(&self, server: &str) -> Result<Vec<PathBuf>> {
        let dir = self.session_dir()?;
        let config = self.write_config(dir.path(), &[self.known_hosts()], "yes")?;
        let resolved = tokio::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(&config)
            .arg("--")
            .arg(destination(server))
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(ssh_missing)?;
        let mut encrypted = Vec::new();
        for line in String::from_utf8_lossy(&resolved.stdout).lines() {
            let Some(file) = line.strip_prefix("identityfile ") else {
                continue;
            };
            let key = match file.strip_prefix("~/") {
                Some(rest) => dirs::home_dir().unwrap_or_default().join(rest),
                None => PathBuf::from(file),
            };
            if key.is_file() && is_encrypted(&key).await {
                encrypted.push(key);
            }
        }
        Ok(encrypted)
    }

    /// Whether `passphrase` unlocks `key`: it is added to an agent of its own, then forgotten.
    pub async fn check_passphrase(&self, key: &Path, passphrase: &str) -> Result<()> {
        let dir = self.session_dir()?;
        Agent::start(dir.path()).await?.add(key, passphrase).await
    }

    /// The host keys `server` (and any jump host on the way) offers that nobody has trusted:
    /// empty when every key is known. A key that differs from the trusted one is an error.
    pub async fn unknown_host_keys(&self, server: &str) -> Result<Vec<SshHostKey>> {
        Ok(self.learn(server).await?.keys)
    }

    /// Records `server`'s keys in Lifeboat's known_hosts, but only when what it offers now is
    /// exactly what the user compared (`fingerprints`): nothing else gets trusted in between.
    pub async fn trust(&self, server: &str, fingerprints: &[String]) -> Result<Vec<SshHostKey>> {
        let learned = self.learn(server).await?;
        let mut offered: Vec<&str> = learned
            .keys
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect();
        let mut confirmed: Vec<&str> = fingerprints.iter().map(String::as_str).collect();
        offered.sort_unstable();
        confirmed.sort_unstable();
        if offered != confirmed {
            return Err(Error::field(
                ErrorCode::SshHostUnknown,
                "server",
                format!(
                    "{server} now offers other host keys than the ones you compared: nothing was trusted. Check them again."
                ),
            ));
        }
        if !learned.lines.is_empty() {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.known_hosts())?;
            file.write_all(learned.lines.as_bytes())?;
        }
        Ok(learned.keys)
    }

    /// Connects once with new host keys accepted into a scratch file and stderr kept: what it
    /// learned, and why the connection failed if it did.
    async fn learn(&self, server: &str) -> Result<Learned> {
        let dir = self.session_dir()?;
        let scratch = dir.path().join("learned");
        let config = self.write_config(
            dir.path(),
            &[scratch.clone(), self.known_hosts()],
            "accept-new",
        )?;
        // It authenticates and runs `true`: keys are proven only in a real handshake, and a
        // server reached through a bastion can only be asked after the bastion let us in.
        // Nothing is forwarded, and an authentication signature is bound to this session.
        let run = tokio::process::Command::new("ssh")
            .arg("-F")
            .arg(&config)
            .args(["-o", "ClearAllForwardings=yes", "-T", "--"])
            .arg(destination(server))
            .arg("true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(CONNECT_TIMEOUT * 2, run)
            .await
            .map_err(|_| unreachable_error(server, "it did not answer in time".to_owned()))?
            .map_err(ssh_missing)?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let lines = std::fs::read_to_string(&scratch).unwrap_or_default();
        let keys = fingerprints(&scratch, &lines).await?;
        if !keys.is_empty() || output.status.success() {
            return Ok(Learned { keys, lines });
        }
        Err(classify(server, &stderr, self))
    }

    /// The error for a connection that failed, said as what to do.
    async fn diagnose(&self, server: &str, master_said: &str) -> Error {
        match self.learn(server).await {
            Ok(learned) if !learned.keys.is_empty() => unknown_host(server, &learned.keys),
            Ok(_) => {
                let mut e = Error::field(
                    ErrorCode::SshFailed,
                    "server",
                    format!("The SSH connection to {server} failed."),
                );
                e.detail = Some(master_said.to_owned());
                e
            }
            Err(e) => e,
        }
    }
}

/// Whether a private key needs a passphrase: `ssh-keygen -y` with an empty one fails.
async fn is_encrypted(key: &Path) -> bool {
    tokio::process::Command::new("ssh-keygen")
        .args(["-y", "-P", "", "-f"])
        .arg(key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| !s.success())
}

/// An ssh-agent of one session's own, holding keys unlocked with passphrases from the keyring
/// (the only way to hand `ssh` a passphrase without a prompt). It runs `cat` reading a pipe
/// from Lifeboat: when Lifeboat drops it, or dies, the pipe closes, `cat` ends, and the agent,
/// whose parent `cat` is, exits with it, the keys with it.
struct Agent {
    socket: PathBuf,
    askpass: PathBuf,
    _life: tokio::process::Child,
}

impl Agent {
    async fn start(dir: &Path) -> Result<Self> {
        use tokio::io::AsyncBufReadExt;
        let socket = dir.join("agent.sock");
        let mut life = tokio::process::Command::new("ssh-agent")
            .arg("-a")
            .arg(&socket)
            .args(["--", "sh", "-c", "echo ready; exec cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(ssh_missing)?;
        // The command runs once the agent listens: its first line says the socket is there.
        let mut ready = String::new();
        let stdout = life.stdout.take().expect("stdout is piped");
        tokio::io::BufReader::new(stdout)
            .read_line(&mut ready)
            .await
            .map_err(ssh_missing)?;
        if ready.trim() != "ready" {
            return Err(Error::new(ErrorCode::SshFailed, "ssh-agent did not start."));
        }
        // Prints the passphrase ssh-add is given in its environment (nothing secret on disk,
        // nothing in an argument list), once: ssh-add asks again after a wrong one, and a
        // second answer would loop forever; refusing it makes ssh-add give up.
        let askpass = dir.join("askpass");
        std::fs::write(
            &askpass,
            "#!/bin/sh\n[ -e \"$0.asked\" ] && exit 1\n: > \"$0.asked\"\nprintf '%s\\n' \"$LIFEBOAT_SSH_PASSPHRASE\"\n",
        )?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            socket,
            askpass,
            _life: life,
        })
    }

    async fn add(&self, key: &Path, passphrase: &str) -> Result<()> {
        std::fs::remove_file(self.askpass.with_extension("asked")).ok();
        let adding = tokio::process::Command::new("ssh-add")
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .env("SSH_ASKPASS", &self.askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("LIFEBOAT_SSH_PASSPHRASE", passphrase)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        // An ssh-add too old for SSH_ASKPASS_REQUIRE would wait for a terminal instead.
        let added = tokio::time::timeout(CONNECT_TIMEOUT, adding)
            .await
            .map_err(|_| {
                Error::new(
                    ErrorCode::SshFailed,
                    "ssh-add did not take the passphrase: OpenSSH 8.4 or newer is needed.",
                )
            })?
            .map_err(ssh_missing)?;
        if added.status.success() {
            return Ok(());
        }
        let mut e = Error::field(
            ErrorCode::SshKeyLocked,
            "passphrase",
            format!("This passphrase does not unlock {}.", key.display()),
        );
        e.detail = Some(String::from_utf8_lossy(&added.stderr).trim().to_owned())
            .filter(|d| !d.is_empty());
        Err(e)
    }
}

/// The error for a key the server may want that needs a passphrase nobody gave yet.
pub fn key_locked(server: &str, key: &Path) -> Error {
    let mut e = Error::field(
        ErrorCode::SshKeyLocked,
        "passphrase",
        format!(
            "{server} refused the keys offered, and {} is protected by a passphrase: enter it once and Lifeboat keeps it in the system keyring.",
            key.display()
        ),
    );
    e.detail = Some(key.display().to_string());
    e
}

struct Learned {
    keys: Vec<SshHostKey>,
    /// The known_hosts lines for them, as ssh wrote them.
    lines: String,
}

/// The fingerprints of the keys in a known_hosts file, by `ssh-keygen -l`.
async fn fingerprints(file: &Path, lines: &str) -> Result<Vec<SshHostKey>> {
    if lines.trim().is_empty() {
        return Ok(Vec::new());
    }
    let output = tokio::process::Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(file)
        .output()
        .await
        .map_err(ssh_missing)?;
    // "256 SHA256:abc… [127.0.0.1]:2222 (ED25519)"
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (_bits, fingerprint, host, kind) =
                (words.next()?, words.next()?, words.next()?, words.next()?);
            Some(SshHostKey {
                host: host.to_owned(),
                key_type: kind.trim_matches(|c| c == '(' || c == ')').to_owned(),
                fingerprint: fingerprint.to_owned(),
            })
        })
        .collect())
}

fn unknown_host(server: &str, keys: &[SshHostKey]) -> Error {
    let mut e = Error::field(
        ErrorCode::SshHostUnknown,
        "server",
        format!(
            "{server} is not a server you have trusted yet: compare its host key fingerprint with the one its administrator gives you, then trust it. Nothing was sent to it."
        ),
    );
    e.detail = Some(
        keys.iter()
            .map(|k| format!("{} {} {}", k.host, k.key_type, k.fingerprint))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    e
}

fn unreachable_error(server: &str, why: String) -> Error {
    let mut e = Error::field(
        ErrorCode::SshUnreachable,
        "server",
        format!("Cannot reach {server} over SSH: check the host, the port and the network."),
    );
    e.detail = Some(why);
    e
}

/// What a failed `ssh` said, as the error the user can act on.
fn classify(server: &str, stderr: &str, ssh: &Ssh) -> Error {
    let detail = stderr.trim().to_owned();
    let (code, message) = if stderr.contains("IDENTIFICATION HAS CHANGED")
        || stderr.contains("HOST KEY HAS CHANGED")
    {
        (
            ErrorCode::SshHostKeyChanged,
            format!(
                "{server} presented a different host key than the one trusted before: someone may be intercepting the connection, or the server was reinstalled. Nothing was sent to it. If its administrator confirms a new key, remove the old one from {} (or ~/.ssh/known_hosts) with `ssh-keygen -R HOST -f FILE` and trust it again.",
                ssh.known_hosts().display()
            ),
        )
    } else if stderr.contains("Permission denied") || stderr.contains("Too many authentication") {
        (
            ErrorCode::SshAuthFailed,
            format!(
                "{server} refused every key offered: load the key into your SSH agent or name it with IdentityFile in your SSH config, and check the user."
            ),
        )
    } else if stderr.contains("Host key verification failed") {
        (
            ErrorCode::SshHostUnknown,
            format!("{server}'s host key could not be checked: trust it first."),
        )
    } else if [
        "Could not resolve",
        "Connection refused",
        "timed out",
        "No route",
        "Network is unreachable",
        "Connection closed",
        "Connection reset",
        "kex_exchange_identification",
    ]
    .iter()
    .any(|s| stderr.contains(s))
    {
        return unreachable_error(server, detail);
    } else {
        (
            ErrorCode::SshFailed,
            format!("The SSH connection to {server} failed."),
        )
    };
    let mut e = Error::field(code, "server", message);
    e.detail = Some(detail).filter(|d| !d.is_empty());
    e
}

fn ssh_missing(e: std::io::Error) -> Error {
    Error::new(
        ErrorCode::SshFailed,
        format!("Cannot run OpenSSH's client (ssh, ssh-keygen): {e}. Install it (openssh-client)."),
    )
}

/// `text` as one word for the server's shell.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// One connection to a server, open while this lives.
pub struct SshSession {
    server: String,
    /// A channel held open: the master stays while this session lives, and goes soon after
    /// Lifeboat does, however it ends. Dropped first, then the master, then the directory.
    keepalive: Option<tokio::process::Child>,
    config: PathBuf,
    session: openssh::Session,
    _agent: Option<Agent>,
    dir: TempDir,
}

impl std::fmt::Debug for SshSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSession")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SshSession {
    /// Whether the connection still stands (its master answers).
    pub async fn alive(&self) -> bool {
        self.session.check().await.is_ok()
    }

    /// `e`, or when this connection has dropped meanwhile, that: the cause a failed job on it
    /// should name, rather than what the drop did to a program using it.
    pub async fn explain(&self, e: Error) -> Error {
        if e.code == ErrorCode::Cancelled || self.alive().await {
            return e;
        }
        let mut lost = Error::field(
            ErrorCode::SshUnreachable,
            "server",
            format!(
                "The connection to {} was lost during the job; nothing was stored.",
                self.server
            ),
        );
        lost.detail = Some(e.message);
        lost
    }

    /// The server as the user gave it.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// `remote` (a shell command line, see `quote`) run on the server over this connection.
    pub fn command(&self, remote: &str) -> std::process::Command {
        let mut command = std::process::Command::new("ssh");
        command
            .arg("-F")
            .arg(&self.config)
            .arg("-S")
            .arg(self.session.control_socket())
            .args(["-T", "--", "none", remote]);
        command
    }

    /// A connection to `conn` as the server sees it (`localhost`, a host of its network, or a
    /// socket directory), reached from here through a socket in this session's private
    /// directory: nothing listens on the network on this side. TLS settings do not apply to a
    /// socket; SSH encrypts the way to the server.
    pub async fn forward_postgres(&self, conn: &PgConnectionInput) -> Result<PgConnectionInput> {
        let local = self.dir.path().join(format!(".s.PGSQL.{}", conn.port));
        let remote = if conn.host.starts_with('/') {
            Socket::UnixSocket {
                path: Path::new(&conn.host)
                    .join(format!(".s.PGSQL.{}", conn.port))
                    .into(),
            }
        } else {
            Socket::TcpSocket {
                host: conn.host.clone().into(),
                port: conn.port,
            }
        };
        self.session
            .request_port_forward(
                ForwardType::Local,
                Socket::UnixSocket { path: local.into() },
                remote,
            )
            .await
            .map_err(|e| {
                let mut err = Error::field(
                    ErrorCode::SshFailed,
                    "server",
                    format!(
                        "{} would not forward a connection to the database.",
                        self.server
                    ),
                );
                err.detail = Some(e.to_string());
                err
            })?;
        Ok(PgConnectionInput {
            host: self.dir.path().display().to_string(),
            ssl_mode: SslMode::Disable,
            ssl_root_cert: None,
            ..conn.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_aliases_leave_patterns_out_and_follow_includes() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            &config,
            format!(
                "Host prod staging\n  HostName 10.0.0.1\nHost *.internal !bastion\nhost=web1\nInclude {}/conf.d/*.conf\nMatch all\n",
                dir.path().display()
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/b.conf"), "Host bastion prod\n").unwrap();
        std::fs::write(dir.path().join("conf.d/a.conf"), "Host db1\n").unwrap();
        std::fs::write(dir.path().join("conf.d/notes.txt"), "Host ignored\n").unwrap();
        let ssh = Ssh::new(&Home::at(dir.path()), config.to_str());
        assert_eq!(
            ssh.host_aliases(),
            ["prod", "staging", "web1", "db1", "bastion"]
        );
    }

    #[test]
    fn servers_are_hosts_users_ports_or_aliases() {
        for ok in [
            "prod",
            "deploy@web1.example.com",
            "web1:2222",
            "app@10.0.0.5:22",
        ] {
            assert_eq!(parse_server(ok).unwrap().as_deref(), Some(ok), "{ok}");
        }
        assert_eq!(parse_server("  ").unwrap(), None);
        for bad in [
            "-oProxyCommand=x",
            "a b",
            "host:0",
            "host:ssh",
            "user@",
            "@host",
            "h;rm",
        ] {
            assert_eq!(
                parse_server(bad).unwrap_err().field.as_deref(),
                Some("server"),
                "{bad}"
            );
        }
        assert_eq!(destination("app@h:2222"), "ssh://app@h:2222");
        assert_eq!(destination("prod"), "prod");
    }
}
