//! Where Lifeboat keeps its state: the catalog, the embedded local storage target, logs.
//! `LIFEBOAT_HOME` relocates all of it (tests, portable installs); otherwise the OS data directory.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorCode, Result};

pub const HOME_ENV: &str = "LIFEBOAT_HOME";
/// Matches the Tauri bundle identifier, so the app and the CLI share one catalog.
pub const APP_IDENTIFIER: &str = "io.lifeboat.desktop";

#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn from_env() -> Result<Self> {
        if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::at(dir));
        }
        dirs::data_dir()
            .map(|d| Self::at(d.join(APP_IDENTIFIER)))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Io,
                    format!("No data directory is known for this user; set {HOME_ENV}."),
                )
            })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.root.join("catalog.sqlite")
    }

    /// Lock files held by the process running each job (see jobs::JobLock).
    pub fn job_lock_path(&self, job_id: &str) -> PathBuf {
        self.root.join("locks").join(format!("{job_id}.lock"))
    }

    /// The lock file of a lane (see `Lane::lock_name`), shared by every process on this home.
    pub fn lane_lock_path(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(format!("{name}.lock"))
    }

    /// The embedded default storage target: backups land here when no cloud target is set up.
    pub fn local_storage_dir(&self) -> PathBuf {
        self.root.join("storage")
    }

    /// Where drills run their scratch PostgreSQL clusters.
    pub fn scratch_dir(&self) -> PathBuf {
        self.root.join("scratch")
    }

    /// SSH: Lifeboat's known_hosts, and one private directory per open connection.
    pub fn ssh_dir(&self) -> PathBuf {
        self.root.join("ssh")
    }

    /// Creates the home, readable by its owner only: it holds the catalog (where every database
    /// and bucket is) and the default local storage target. A home made before is tightened.
    pub fn ensure(&self) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::new(
                ErrorCode::Io,
                format!("Cannot create {}: {e}", self.root.display()),
            )
        };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                .map_err(io)?;
        }
        Ok(())
    }
}
