//! Running an environment's hooks: commands around its backups and restores (Django's
//! maintenance mode on and off, Celery workers stopped and started), run by `sh -c` on this
//! machine, or on the environment's server over SSH, with a timeout, what they print kept for
//! the job's record. The whole local process group is stopped at the timeout or on Cancel, so a
//! hook's own children do not linger; on a server, `timeout` stops it there.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode};
pub(crate) use crate::model::hooks::{HookPhase, HookRun};
use crate::ssh::{quote, SshSession};

/// What a hook is told about the job it runs for, as LIFEBOAT_* variables.
pub struct HookJob<'a> {
    pub application: &'a str,
    pub environment: &'a str,
    pub job_id: &'a str,
    /// For "after" hooks: how the job ended (succeeded, failed, cancelled).
    pub outcome: Option<&'a str>,
}

/// The most of a hook's output kept: the end, where the error usually is.
const KEPT_OUTPUT: usize = 64 * 1024;

impl HookJob<'_> {
    fn variables(&self, phase: HookPhase) -> [(&'static str, &str); 5] {
        [
            ("LIFEBOAT_HOOK", phase.as_str()),
            ("LIFEBOAT_APPLICATION", self.application),
            ("LIFEBOAT_ENVIRONMENT", self.environment),
            ("LIFEBOAT_JOB_ID", self.job_id),
            ("LIFEBOAT_OUTCOME", self.outcome.unwrap_or("")),
        ]
    }
}

/// `command` run by `sh -c` on this machine.
pub fn local(phase: HookPhase, command: &str, job: &HookJob<'_>) -> tokio::process::Command {
    let mut process = tokio::process::Command::new("sh");
    process.arg("-c").arg(command).envs(job.variables(phase));
    process
}

/// `command` run by `sh -c` on the server: sshd passes no variables, so `env` sets them, and
/// `timeout` stops it there (closing the channel would leave it running).
pub fn on_server(
    session: &SshSession,
    phase: HookPhase,
    command: &str,
    timeout: Duration,
    job: &HookJob<'_>,
) -> tokio::process::Command {
    let mut line = "env".to_owned();
    for (name, value) in job.variables(phase) {
        line.push_str(&format!(" {name}={}", quote(value)));
    }
    line.push_str(&format!(
        " timeout -k 5 {} sh -c {}",
        timeout.as_secs(),
        quote(command)
    ));
    session.command(&line).into()
}

/// Runs one hook (`process`, from `local` or `on_server`) to its end, its timeout, or `stop`.
pub async fn run(
    phase: HookPhase,
    command: &str,
    mut process: tokio::process::Command,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<HookRun, Error> {
    let started = Instant::now();
    // A group of its own, so that stopping the hook stops what it started too.
    #[cfg(unix)]
    process.process_group(0);
    let mut child = process
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::new(
                ErrorCode::HookFailed,
                format!("The {} hook could not start: {e}", phase.as_str()),
            )
        })?;
    let group = child.id();
    let output = tokio::spawn(collect(
        child.stdout.take().expect("stdout is piped"),
        child.stderr.take().expect("stderr is piped"),
    ));
    let (exit_code, timed_out) = tokio::select! {
        status = child.wait() => (status.ok().and_then(|s| s.code()), false),
        () = tokio::time::sleep(timeout) => (None, true),
        () = stop.cancelled() => (None, false),
    };
    if exit_code.is_none() {
        stop_group(group);
        child.wait().await.ok();
    }
    let output = output.await.unwrap_or_default();
    Ok(HookRun {
        phase,
        command: command.to_owned(),
        exit_code,
        timed_out,
        output,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The error a "before" hook that did not succeed stops its job with.
pub fn failure(run: &HookRun, timeout: Duration) -> Error {
    let why = if run.timed_out {
        format!("did not finish within {} s", timeout.as_secs())
    } else {
        match run.exit_code {
            Some(code) => format!("exited with {code}"),
            None => "was stopped".to_owned(),
        }
    };
    let mut e = Error::new(
        ErrorCode::HookFailed,
        format!(
            "The {} hook {why}, so nothing was done: `{}`",
            run.phase.as_str(),
            run.command
        ),
    );
    e.detail = Some(run.output.clone()).filter(|o| !o.is_empty());
    e
}

#[cfg(unix)]
fn stop_group(group: Option<u32>) {
    if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn stop_group(_group: Option<u32>) {}

/// Both streams, interleaved as they come, keeping the last `KEPT_OUTPUT` bytes.
async fn collect(stdout: impl AsyncRead + Unpin, stderr: impl AsyncRead + Unpin) -> String {
    let (mut out, mut err) = (stdout, stderr);
    let (mut out_open, mut err_open) = (true, true);
    let mut kept: Vec<u8> = Vec::new();
    let (mut a, mut b) = ([0u8; 4096], [0u8; 4096]);
    while out_open || err_open {
        let read = tokio::select! {
            n = out.read(&mut a), if out_open => (0, n),
            n = err.read(&mut b), if err_open => (1, n),
        };
        match read {
            (0, Ok(n)) if n > 0 => kept.extend_from_slice(&a[..n]),
            (1, Ok(n)) if n > 0 => kept.extend_from_slice(&b[..n]),
            (0, _) => out_open = false,
            _ => err_open = false,
        }
        if kept.len() > 2 * KEPT_OUTPUT {
            kept.drain(..kept.len() - KEPT_OUTPUT);
        }
    }
    if kept.len() > KEPT_OUTPUT {
        kept.drain(..kept.len() - KEPT_OUTPUT);
    }
    String::from_utf8_lossy(&kept).into_owned()
}
