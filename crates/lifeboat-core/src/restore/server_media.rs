//! Restoring a media archive into a directory on the environment's server, the way `media`
//! restores on this machine: a staging directory beside the destination (same filesystem),
//! filled by `tar` on the server from a stream checked entry by entry here, every file hashed
//! again there (`sha256sum`) against the manifest, then swapped in with two renames. The names
//! are the local ones (`.<name>.lifeboat-restore-<job>`, `.<name>.lifeboat-replaced-<job>`),
//! and `recover` puts either right at the next start.
//!
//! The commands are made up front from the session, so the blocking work owns them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode, Result};
use crate::model::restore::MediaRestoreSummary;
use crate::postgres::client::{last_lines, read_all};
use crate::ssh::{quote, SshSession};
use lifeboat_format::artifact::ArtifactInfo;
use lifeboat_format::media::MediaEntryKind;
use lifeboat_format::media_reader::{self, FileHashes, HashingRead};
use lifeboat_format::read::ArtifactReader;

/// Sets `$d` (the destination, where it points if it is a symlink), `$s` (staging) and `$r`
/// (the replaced directory during the swap), then runs `then`.
fn script(dir: &str, job_id: &str, then: &str) -> String {
    // A name starting with "-" would be read as an option.
    let dir = if dir.starts_with('-') {
        format!("./{dir}")
    } else {
        dir.to_owned()
    };
    let job = quote(job_id);
    format!(
        "d={}; if [ -L \"$d\" ]; then d=$(readlink -f -- \"$d\"); fi; p=$(dirname -- \"$d\"); \
         n=$(basename -- \"$d\"); s=\"$p/.$n.lifeboat-restore-\"{job}; r=\"$p/.$n.lifeboat-replaced-\"{job}; {then}",
        quote(&dir)
    )
}

/// What staging runs on the server: fill it, hash it and flush it, and remove it if it is not
/// swapped in.
pub struct Commands {
    fill: Command,
    verify: Command,
    discard: Command,
    /// "dir on server", for messages.
    shown: String,
}

pub fn commands(session: &SshSession, dir: &str, job_id: &str) -> Commands {
    let run = |then: &str| session.command(&script(dir, job_id, then));
    Commands {
        // Modes come from the stream, which says only permission bits; owners are the SSH user.
        fill: run(
            "mkdir -p -- \"$p\" && mkdir -- \"$s\" && exec tar -xpf - --no-same-owner -C \"$s\"",
        ),
        // Then flushed to the server's disk, as a local restore flushes before its swap: a
        // server that crashes after the swap must not come back with files never written.
        // `sync -f` (one filesystem) is GNU; elsewhere `sync` flushes them all.
        verify: run(
            "cd -- \"$s\" && find . -type f -exec sha256sum -- {} + && { sync -f . 2>/dev/null || sync; }",
        ),
        discard: run("rm -rf -- \"$s\""),
        shown: format!("{dir} on {}", session.server()),
    }
}

/// The swap: the staged tree takes the destination's name; the replaced one is removed, or
/// kept as `<dir>.before-restore-<time>` (printed as `kept:<path>`).
pub fn swap_command(session: &SshSession, dir: &str, job_id: &str, keep: bool) -> Command {
    let after = if keep {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        format!(
            "k=\"$d.before-restore-{stamp}\"; mv -- \"$r\" \"$k\" && printf 'kept:%s\\n' \"$k\""
        )
    } else {
        "rm -rf -- \"$r\"".to_owned()
    };
    session.command(&script(
        dir,
        job_id,
        &format!(
            "had=0; if [ -e \"$d\" ]; then mv -- \"$d\" \"$r\" || exit 1; had=1; fi; \
             if ! mv -- \"$s\" \"$d\"; then [ $had = 1 ] && mv -- \"$r\" \"$d\"; exit 1; fi; \
             if [ $had = 1 ]; then {after}; fi; exit 0"
        ),
    ))
}

/// Puts a destination right after a restore that was cut off, as `media::recover` does here.
pub fn recover_command(session: &SshSession, dir: &str, job_id: &str) -> Command {
    session.command(&script(
        dir,
        job_id,
        "rm -rf -- \"$s\" && if [ -e \"$r\" ]; then if [ -e \"$d\" ]; then rm -rf -- \"$r\"; \
         else mv -- \"$r\" \"$d\"; fi; fi",
    ))
}

/// Fails with `disk_full` unless the filesystem the staging directory goes on (beside the
/// destination, or its nearest existing ancestor) has room for `needed` bytes: the old tree
/// stays until the swap, so the whole backup must fit beside it.
pub async fn ensure_space(
    session: &SshSession,
    dir: &str,
    job_id: &str,
    needed: u64,
) -> Result<()> {
    let probe = script(
        dir,
        job_id,
        "q=\"$p\"; while [ ! -d \"$q\" ]; do q=$(dirname -- \"$q\"); done; df -Pk -- \"$q\"",
    );
    let out = tokio::process::Command::from(session.command(&probe))
        .stdin(Stdio::null())
        .output()
        .await?;
    let said = String::from_utf8_lossy(&out.stdout);
    // POSIX df -P: a header, then "filesystem blocks used available capacity mount".
    let available_kib = said
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|kib| kib.parse::<u64>().ok());
    match available_kib {
        Some(kib) => crate::disk::room_for(
            &format!("The disk of {dir} on {}", session.server()),
            kib * 1024,
            needed,
        ),
        None => Err(failed(
            ErrorCode::SshFailed,
            format!(
                "Cannot read the free space beside {dir} on {}.",
                session.server()
            ),
            &String::from_utf8_lossy(&out.stderr),
        )),
    }
}

/// A media tree staged on the server, checked there, waiting to be swapped in; dropping it
/// removes it.
pub struct StagedOnServer {
    discard: Option<Command>,
    files: u64,
    bytes: u64,
    shown: String,
}

impl Drop for StagedOnServer {
    fn drop(&mut self) {
        if let Some(mut discard) = self.discard.take() {
            match discard.stdin(Stdio::null()).output() {
                Ok(out) if out.status.success() => {}
                _ => tracing::warn!(
                    "the staging directory beside {} stays until the next start",
                    self.shown
                ),
            }
        }
    }
}

fn failed(code: ErrorCode, message: String, said: &str) -> Error {
    let mut e = Error::new(code, message);
    e.detail = Some(said.to_owned()).filter(|s| !s.trim().is_empty());
    e
}

/// The server's tar did not write everything; what it said is the story.
fn not_written(shown: &str, said: &str) -> Error {
    failed(
        ErrorCode::SshFailed,
        format!(
            "Writing the restored media to {shown} failed: {}",
            last_lines(said)
        ),
        said,
    )
}

pub fn stage(
    mut plain: ArtifactReader,
    info: &ArtifactInfo,
    commands: Commands,
    cancel: &CancellationToken,
) -> Result<StagedOnServer> {
    let Commands {
        mut fill,
        mut verify,
        discard,
        shown,
    } = commands;
    let mut child = fill
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(ErrorCode::SshFailed, format!("Cannot run ssh: {e}")))?;
    // From here on, whatever happens, the staging directory goes unless swapped in.
    let mut staged = StagedOnServer {
        discard: Some(discard),
        files: 0,
        bytes: 0,
        shown: shown.clone(),
    };
    let said = read_all(child.stderr.take());
    let mut tar = tar::Builder::new(child.stdin.take().expect("stdin is piped"));
    let mut links = Vec::new();
    let mut failure: Option<Error> = None;
    let hashes = FileHashes::of(&plain);
    let walked = media_reader::walk(&mut plain, hashes, |entry| {
        if cancel.is_cancelled() {
            failure = Some(Error::cancelled());
            return Err("cancelled".into());
        }
        let mut header = tar::Header::new_gnu();
        header.set_mtime(entry.mtime);
        let sent = match entry.kind {
            MediaEntryKind::Directory => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode((entry.mode & 0o777) | 0o700);
                header.set_size(0);
                tar.append_data(
                    &mut header,
                    format!("{}/", entry.relative),
                    std::io::empty(),
                )
                .map(|_| None)
            }
            MediaEntryKind::Symlink => {
                // Links are sent last, so nothing is ever written through one.
                links.push((
                    entry.relative.clone(),
                    entry.link_target.clone().expect("symlinks have targets"),
                    entry.mtime,
                ));
                return Ok(None);
            }
            MediaEntryKind::File => {
                // Permission bits only: a restore never recreates setuid or setgid files.
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(entry.mode & 0o777);
                header.set_size(entry.size);
                let body = (&mut *entry.body).take(entry.size);
                let sent = match hashes {
                    FileHashes::Compared => {
                        let mut body = HashingRead::new(body);
                        tar.append_data(&mut header, &entry.relative, &mut body)
                            .map(|_| Some(body.sha256()))
                    }
                    FileHashes::Proven => tar
                        .append_data(&mut header, &entry.relative, body)
                        .map(|_| None),
                };
                sent.inspect(|_| {
                    staged.files += 1;
                    staged.bytes += entry.size;
                })
            }
        };
        sent.map_err(|e| {
            let message = format!("sending {} to the server failed ({e})", entry.relative);
            failure = Some(Error::new(ErrorCode::SshFailed, message.clone()));
            message
        })
    });
    let listing = match (failure, walked) {
        (Some(e), _) if e.code == ErrorCode::Cancelled => {
            // The server's tar is stopped before its staging directory is removed.
            drop(tar);
            child.kill().ok();
            child.wait().ok();
            return Err(e);
        }
        (_, Ok(listing)) => listing,
        // A write refused mid-way is the server's doing: what it said is the story.
        (Some(_), Err(_)) => {
            drop(tar);
            child.wait().ok();
            return Err(not_written(&shown, &said.join().unwrap_or_default()));
        }
        (None, Err(detail)) => {
            drop(tar);
            child.kill().ok();
            child.wait().ok();
            return Err(super::media::refused(&detail));
        }
    };
    for (relative, target, mtime) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_mtime(mtime);
        header.set_size(0);
        tar.append_link(&mut header, &relative, &target)
            .map_err(|e| {
                Error::new(
                    ErrorCode::SshFailed,
                    format!("Sending {relative} failed: {e}"),
                )
            })?;
    }
    let mut stdin = tar.into_inner().map_err(|e| {
        Error::new(
            ErrorCode::SshFailed,
            format!("Ending the stream failed: {e}"),
        )
    })?;
    stdin.flush().ok();
    drop(stdin);
    let status = child.wait()?;
    if !status.success() {
        return Err(not_written(&shown, &said.join().unwrap_or_default()));
    }
    plain.finish(info).map_err(|e| {
        Error::new(
            ErrorCode::ChecksumMismatch,
            format!("The media artifact does not match its manifest, so nothing was restored: {e}"),
        )
    })?;
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    // What landed there, read back there: every file the manifest lists, and nothing else.
    let hashed = verify.stdin(Stdio::null()).output()?;
    if !hashed.status.success() {
        let said = String::from_utf8_lossy(&hashed.stderr);
        return Err(failed(
            ErrorCode::SshFailed,
            format!(
                "Checking the restored media on {shown} failed: {}",
                last_lines(&said)
            ),
            &said,
        ));
    }
    let found = sha256sums(&String::from_utf8_lossy(&hashed.stdout));
    let wanted: BTreeMap<String, String> = listing
        .entries
        .iter()
        .filter_map(|e| Some((e.path.clone(), e.sha256.clone()?)))
        .collect();
    if found != wanted {
        let differs = wanted
            .keys()
            .chain(found.keys())
            .find(|path| found.get(*path) != wanted.get(*path))
            .cloned()
            .unwrap_or_default();
        return Err(Error::new(
            ErrorCode::ChecksumMismatch,
            format!(
                "{differs} as written on the server does not match the backup, so nothing was restored."
            ),
        ));
    }
    Ok(staged)
}

/// `sha256sum`'s lines as path (without `./`) → hash; a name with a newline or backslash comes
/// escaped, its line starting with `\`.
fn sha256sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (escaped, line) = match line.strip_prefix('\\') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (hash, name) = line.split_once("  ")?;
            let name = name.strip_prefix("./").unwrap_or(name);
            let name = if escaped {
                name.replace("\\n", "\n").replace("\\\\", "\\")
            } else {
                name.to_owned()
            };
            Some((name, hash.to_owned()))
        })
        .collect()
}

impl StagedOnServer {
    pub fn files(&self) -> u64 {
        self.files
    }

    /// The point of no return for media on the server.
    pub fn swap(mut self, mut swap: Command) -> Result<MediaRestoreSummary> {
        let out = swap.stdin(Stdio::null()).output()?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            return Err(failed(
                ErrorCode::SshFailed,
                format!(
                    "Cannot swap in the restored media at {}: {}",
                    self.shown,
                    last_lines(&said)
                ),
                &said,
            ));
        }
        self.discard = None;
        let kept_copy = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("kept:").map(str::to_owned));
        Ok(MediaRestoreSummary {
            directory: self.shown.clone(),
            files: self.files,
            bytes: self.bytes,
            kept_copy,
            written: None,
            deleted: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256sum_lines_are_read_escaped_names_too() {
        let text = "abc  ./uploads/a b.txt\n\\def  ./odd\\nname\\\\x\n";
        let sums = sha256sums(text);
        assert_eq!(sums["uploads/a b.txt"], "abc");
        assert_eq!(sums["odd\nname\\x"], "def");
    }
}
