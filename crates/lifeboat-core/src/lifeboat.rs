//! The entry point both the desktop app and the CLI use: one `Lifeboat` per process, holding
//! the catalog and the keyring, with the operations as methods (spread over the area modules).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::Catalog;
use crate::credentials::{Credentials, KeyringStatus, SecretRef};
use crate::error::{Error, Result};
use crate::home::Home;
use crate::jobs::JobRegistry;

const PG_BIN_DIR: &str = "pg_bin_dir";
const ZSTD_LEVEL: &str = "zstd_level";
const RESTORE_PRIVILEGES: &str = "restore_privileges";
/// The same setting before owners always followed the destination.
const RESTORE_OWNERSHIP: &str = "restore_ownership";
const KEEP_REPLACED_MEDIA: &str = "keep_replaced_media";
const VERIFY_AFTER_BACKUP: &str = "verify_after_backup";
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Clone)]
pub struct Lifeboat {
    home: Home,
    catalog: Catalog,
    credentials: Credentials,
    jobs: Arc<JobRegistry>,
    /// Woken when a schedule changes, so a sleeping scheduler looks again.
    schedule_changes: Arc<tokio::sync::Notify>,
    /// Held while an environment is read, changed and written back, so changes made side by
    /// side never undo each other.
    environment_edits: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Settings {
    /// Searched for pg_dump before /usr/lib/postgresql/<version>/bin and PATH.
    pub pg_bin_dir: Option<String>,
    /// zstd level for backups: 1 (fastest) to 19 (smallest).
    pub zstd_level: i32,
    /// Restores recreate the grants recorded in the dump (off: they are skipped, which works
    /// across servers with other roles). Owners always follow the destination: restored
    /// objects belong to the role the restore runs as.
    pub restore_privileges: bool,
    /// A media restore keeps the directory it replaced as `<dir>.before-restore-<time>`.
    pub keep_replaced_media: bool,
    /// Every backup is read back and verified right after it is made (on unless turned off).
    pub verify_after_backup: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    pub home: String,
    pub keyring: KeyringStatus,
}

impl Lifeboat {
    /// Opens (creating and migrating if needed) the catalog under `home`.
    pub async fn open(home: Home) -> Result<Self> {
        home.ensure()?;
        let catalog = Catalog::open(&home.catalog_path()).await?;
        // The catalog is shared with other Lifeboat processes: a job still marked running was
        // cut off by a crash only if no process holds its lock.
        for job_id in catalog.running_job_ids().await? {
            if !crate::jobs::JobLock::is_held(&home.job_lock_path(&job_id)) {
                tracing::warn!(
                    job_id,
                    "a job was interrupted when its Lifeboat process stopped"
                );
                catalog.interrupt_job(&job_id).await?;
            }
        }
        let lifeboat = Self {
            home,
            catalog,
            credentials: Credentials,
            jobs: Arc::default(),
            schedule_changes: Arc::default(),
            environment_edits: Arc::default(),
        };
        lifeboat.ensure_default_target().await?;
        Ok(lifeboat)
    }

    pub(crate) fn schedule_changes(&self) -> &tokio::sync::Notify {
        &self.schedule_changes
    }

    pub(crate) fn environment_edits(&self) -> &tokio::sync::Mutex<()> {
        &self.environment_edits
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn jobs(&self) -> &Arc<JobRegistry> {
        &self.jobs
    }

    pub async fn info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            home: self.home.root().display().to_string(),
            keyring: self.credentials.status().await,
        }
    }

    pub async fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            pg_bin_dir: self.catalog.setting(PG_BIN_DIR).await?,
            zstd_level: self
                .catalog
                .setting(ZSTD_LEVEL)
                .await?
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_ZSTD_LEVEL),
            restore_privileges: self
                .flag(
                    RESTORE_PRIVILEGES,
                    self.flag(RESTORE_OWNERSHIP, false).await?,
                )
                .await?,
            keep_replaced_media: self.flag(KEEP_REPLACED_MEDIA, false).await?,
            verify_after_backup: self.flag(VERIFY_AFTER_BACKUP, true).await?,
        })
    }

    async fn flag(&self, key: &str, unset: bool) -> Result<bool> {
        Ok(self
            .catalog
            .setting(key)
            .await?
            .map_or(unset, |v| v == "true"))
    }

    pub async fn update_settings(&self, settings: &Settings) -> Result<Settings> {
        let dir = settings
            .pg_bin_dir
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty());
        if let Some(dir) = dir {
            if !std::path::Path::new(dir).is_dir() {
                return Err(Error::validation(
                    "pgBinDir",
                    format!("{dir} is not a directory."),
                ));
            }
        }
        if !(1..=19).contains(&settings.zstd_level) {
            return Err(Error::validation(
                "zstdLevel",
                "Use a compression level from 1 to 19.",
            ));
        }
        self.catalog.set_setting(PG_BIN_DIR, dir).await?;
        self.catalog
            .set_setting(ZSTD_LEVEL, Some(&settings.zstd_level.to_string()))
            .await?;
        for (key, on) in [
            (RESTORE_PRIVILEGES, settings.restore_privileges),
            (KEEP_REPLACED_MEDIA, settings.keep_replaced_media),
            (VERIFY_AFTER_BACKUP, settings.verify_after_backup),
        ] {
            self.catalog.set_setting(key, Some(&on.to_string())).await?;
        }
        self.settings().await
    }

    /// Puts right what failed and interrupted jobs left (the shells call this in the
    /// background after start-up): uploads and objects in storage, then each kind's local work,
    /// by the operation that made it. Returns how many leftovers were cleaned.
    pub async fn clean_up_leftovers(&self) -> Result<usize> {
        let mut cleaned = self.clean_up_storage_leftovers().await?;
        for (job_id, kind, local) in self.catalog().pending_local_repairs().await? {
            let repaired = match kind.as_str() {
                "restore" => self.repair_interrupted_restore(&job_id, &local).await,
                "download" => self.repair_interrupted_download(&local).await,
                "drill" => self.repair_interrupted_drill(&job_id, &local).await,
                other => {
                    tracing::warn!(job_id, other, "no repair is known for this kind of job");
                    continue;
                }
            };
            match repaired {
                Ok(()) => {
                    self.catalog().set_job_local_dir(&job_id, None).await?;
                    cleaned += 1;
                }
                Err(e) => tracing::warn!(
                    job_id,
                    local,
                    "what the job left stays until the next start: {}",
                    e.message
                ),
            }
        }
        Ok(cleaned)
    }

    /// Removing a secret whose owner is already gone from the catalog: a failure only means a
    /// stale keyring entry, so it is logged rather than undoing the deletion.
    pub(crate) async fn forget_secret(&self, secret: SecretRef) {
        if let Err(e) = self.credentials.delete(secret.clone()).await {
            tracing::warn!(?secret, code = ?e.code, "could not remove a secret from the keyring: {}", e.message);
        }
    }
}
