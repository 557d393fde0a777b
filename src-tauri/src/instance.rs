//! One app per Lifeboat home. A second launch on the same home (a second double-click, the
//! autostart entry while the app already runs) would be a second scheduler and job runner on
//! one catalog; instead it asks the running app to show its window, and exits.
//!
//! Keyed on the home rather than on the app identifier (as tauri-plugin-single-instance does,
//! over D-Bus): the catalog is what must have one owner, and tests and people with several
//! homes (LIFEBOAT_HOME) run one app for each side by side.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub enum Launch {
    /// This process owns the home; keep the value for as long as it runs.
    First(Owner),
    /// Another app owns it and was asked to show its window.
    AlreadyRunning,
}

pub struct Owner {
    /// Held (locked) for the life of the process; the system releases it if the process dies.
    _lock: File,
    #[cfg(unix)]
    listener: Option<std::os::unix::net::UnixListener>,
}

const SHOW: &str = "show";

/// Claims `home` for this process, or tells the app that has it to come to the front.
pub fn claim(home: &Path) -> std::io::Result<Launch> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(home.join("app.lock"))?;
    match lock.try_lock() {
        Ok(()) => Ok(Launch::First(Owner {
            _lock: lock,
            #[cfg(unix)]
            listener: listen(&socket_path(home)),
        })),
        Err(std::fs::TryLockError::WouldBlock) => {
            #[cfg(unix)]
            if let Ok(mut running) = std::os::unix::net::UnixStream::connect(socket_path(home)) {
                running.write_all(format!("{SHOW}\n").as_bytes()).ok();
            }
            Ok(Launch::AlreadyRunning)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

impl Owner {
    /// Calls `show` whenever another launch asks for the window, on a thread of its own.
    pub fn serve(self, show: impl Fn() + Send + 'static) {
        #[cfg(unix)]
        if let Some(listener) = self.listener {
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let mut line = String::new();
                    if BufReader::new(stream).read_line(&mut line).is_ok() && line.trim() == SHOW {
                        show();
                    }
                }
            });
        }
        // The lock must outlive the listener thread: it lives as long as the process.
        std::mem::forget(self._lock);
    }
}

fn socket_path(home: &Path) -> PathBuf {
    home.join("app.sock")
}

/// The socket a second launch knocks on. Only the lock holder gets here, so a socket file left
/// by a process that died is stale and replaced. Without it (a path too long for a socket) the
/// app still runs alone; a second launch then only exits.
#[cfg(unix)]
fn listen(path: &Path) -> Option<std::os::unix::net::UnixListener> {
    let _ = std::fs::remove_file(path);
    match std::os::unix::net::UnixListener::bind(path) {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(
                "a second launch cannot reach this one ({}): {e}",
                path.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_second_launch_on_the_same_home_shows_the_first_and_another_home_runs_alone() {
        let home = tempfile::tempdir().unwrap();
        let Launch::First(owner) = claim(home.path()).unwrap() else {
            panic!("the first launch owns its home");
        };
        let (shown, asked) = mpsc::channel();
        owner.serve(move || shown.send(()).unwrap());

        assert!(matches!(
            claim(home.path()).unwrap(),
            Launch::AlreadyRunning
        ));
        asked
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the running app was asked to show its window");

        let other = tempfile::tempdir().unwrap();
        assert!(matches!(claim(other.path()).unwrap(), Launch::First(_)));
    }
}
