//! The native file dialogs, opened from Rust. A path that decides where production data or the
//! recovery key is written, or which programs Lifeboat runs, is one the user picked in a dialog
//! this process opened, never one a script in the window made up: the window can ask for a
//! dialog, but not for a path. What was picked is remembered here until it is used.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lifeboat_core::{Error, Result};
use tauri::{AppHandle, Runtime};
use tauri_plugin_dialog::{DialogExt, FileDialogBuilder};

/// What a picked folder is for: a folder picked for one purpose does not serve another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    DownloadFolder,
    PgBinDir,
    MediaFolder,
}

impl Purpose {
    fn title(self) -> &'static str {
        match self {
            Self::DownloadFolder => "Choose where to write the download",
            Self::PgBinDir => "Choose the folder with pg_dump and pg_restore",
            Self::MediaFolder => "Choose the media folder",
        }
    }
}

/// Paths the user picked in this process's dialogs, by purpose.
#[derive(Default)]
pub struct Picked(Mutex<HashSet<(Purpose, PathBuf)>>);

impl Picked {
    pub fn remember(&self, purpose: Purpose, path: &Path) {
        self.0.lock().unwrap().insert((purpose, path.to_path_buf()));
    }

    /// Ok when the user picked `path` for `purpose`; otherwise the error that says to pick it.
    pub fn check(&self, purpose: Purpose, path: &Path, field: &str) -> Result<()> {
        if self
            .0
            .lock()
            .unwrap()
            .contains(&(purpose, path.to_path_buf()))
        {
            return Ok(());
        }
        Err(Error::validation(
            field,
            format!(
                "{} was not chosen in Lifeboat's folder dialog: choose it with the Choose… button.",
                path.display()
            ),
        ))
    }
}

/// Where the end-to-end tests have downloads written: they cannot drive the native folder
/// dialog. Only the process's environment can set it, never the window.
const E2E_DOWNLOAD_DIR: &str = "LIFEBOAT_E2E_DOWNLOAD_DIR";

/// A folder picked for `purpose`, starting in `start`, remembered as picked for it.
pub async fn pick_folder<R: Runtime>(
    app: &AppHandle<R>,
    picked: &Picked,
    purpose: Purpose,
    start: Option<String>,
) -> Result<Option<String>> {
    let preset = match purpose {
        Purpose::DownloadFolder => std::env::var_os(E2E_DOWNLOAD_DIR).map(PathBuf::from),
        Purpose::PgBinDir | Purpose::MediaFolder => None,
    };
    let chosen = match preset {
        Some(dir) => Some(dir),
        None => {
            let dialog = with_start(app.dialog().file().set_title(purpose.title()), start);
            blocking(move || dialog.blocking_pick_folder()).await?
        }
    };
    Ok(chosen.map(|dir| {
        picked.remember(purpose, &dir);
        dir.display().to_string()
    }))
}

/// Where to write the recovery key, picked in a save dialog.
pub async fn pick_key_destination<R: Runtime>(app: &AppHandle<R>) -> Result<Option<PathBuf>> {
    let dialog = app
        .dialog()
        .file()
        .set_title("Export the recovery key")
        .set_file_name("lifeboat-recovery-key.txt")
        .add_filter("Text file", &["txt"]);
    blocking(move || dialog.blocking_save_file()).await
}

/// A recovery key file to import, picked in an open dialog.
pub async fn pick_key_file<R: Runtime>(app: &AppHandle<R>) -> Result<Option<PathBuf>> {
    let dialog = app
        .dialog()
        .file()
        .set_title("Import a recovery key")
        .add_filter("Text file", &["txt"]);
    blocking(move || dialog.blocking_pick_file()).await
}

fn with_start<R: Runtime>(
    dialog: FileDialogBuilder<R>,
    start: Option<String>,
) -> FileDialogBuilder<R> {
    match start.filter(|s| !s.is_empty()) {
        Some(dir) => dialog.set_directory(dir),
        None => dialog,
    }
}

/// Runs a blocking dialog off the async runtime's threads (it waits on the main thread, which
/// shows it) and turns what it returns into a local path.
async fn blocking(
    show: impl FnOnce() -> Option<tauri_plugin_dialog::FilePath> + Send + 'static,
) -> Result<Option<PathBuf>> {
    let picked = tauri::async_runtime::spawn_blocking(show)
        .await
        .map_err(|e| Error::new(lifeboat_core::ErrorCode::Internal, e.to_string()))?;
    picked
        .map(|p| {
            p.into_path().map_err(|e| {
                Error::validation("path", format!("Choose a local file or folder ({e})."))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_picked_for_the_purpose_passes() {
        let picked = Picked::default();
        let dir = Path::new("/home/me/Downloads");
        let e = picked
            .check(Purpose::DownloadFolder, dir, "directory")
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("directory"));
        assert!(e.message.contains("Choose"), "{}", e.message);

        picked.remember(Purpose::PgBinDir, dir);
        assert!(picked
            .check(Purpose::DownloadFolder, dir, "directory")
            .is_err());
        picked.remember(Purpose::DownloadFolder, dir);
        picked
            .check(Purpose::DownloadFolder, dir, "directory")
            .unwrap();
        assert!(picked
            .check(Purpose::DownloadFolder, Path::new("/etc"), "directory")
            .is_err());
    }
}
