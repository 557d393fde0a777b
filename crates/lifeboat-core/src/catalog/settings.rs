use super::Catalog;
use crate::error::{Error, Result};
use crate::model::settings::{Settings, DEFAULT_ZSTD_LEVEL};

const PG_BIN_DIR: &str = "pg_bin_dir";
const ZSTD_LEVEL: &str = "zstd_level";
const RESTORE_PRIVILEGES: &str = "restore_privileges";
/// The same setting before owners always followed the destination.
const RESTORE_OWNERSHIP: &str = "restore_ownership";
const KEEP_REPLACED_MEDIA: &str = "keep_replaced_media";
const VERIFY_AFTER_BACKUP: &str = "verify_after_backup";
const SSH_CONFIG: &str = "ssh_config";
const DEDUPLICATE: &str = "deduplicate";
const RESCAN_MEDIA: &str = "rescan_media";

impl Catalog {
    pub async fn settings(&self) -> Result<Settings> {
        Ok(Settings {
            pg_bin_dir: self.setting(PG_BIN_DIR).await?,
            zstd_level: self
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
            ssh_config: self.setting(SSH_CONFIG).await?,
            deduplicate: self.flag(DEDUPLICATE, false).await?,
            rescan_media: self.flag(RESCAN_MEDIA, false).await?,
        })
    }

    async fn flag(&self, key: &str, unset: bool) -> Result<bool> {
        Ok(self.setting(key).await?.map_or(unset, |v| v == "true"))
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
        let ssh_config = settings
            .ssh_config
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        if let Some(file) = ssh_config {
            if !std::path::Path::new(file).is_absolute() || !std::path::Path::new(file).is_file() {
                return Err(Error::validation(
                    "sshConfig",
                    format!("{file} is not a file: give the SSH configuration's absolute path."),
                ));
            }
        }
        self.set_setting(PG_BIN_DIR, dir).await?;
        self.set_setting(SSH_CONFIG, ssh_config).await?;
        self.set_setting(ZSTD_LEVEL, Some(&settings.zstd_level.to_string()))
            .await?;
        for (key, on) in [
            (RESTORE_PRIVILEGES, settings.restore_privileges),
            (KEEP_REPLACED_MEDIA, settings.keep_replaced_media),
            (VERIFY_AFTER_BACKUP, settings.verify_after_backup),
            (DEDUPLICATE, settings.deduplicate),
            (RESCAN_MEDIA, settings.rescan_media),
        ] {
            self.set_setting(key, Some(&on.to_string())).await?;
        }
        self.settings().await
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
                .bind(key)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Records `value` unless the key already has one; true if it was recorded.
    pub async fn insert_setting_if_absent(&self, key: &str, value: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES (?, ?)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(v)
                .execute(self.pool())
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = ?")
                    .bind(key)
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(())
    }
}
