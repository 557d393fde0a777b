//! What every operation works over, shared by the clones one process hands around: the home,
//! the catalog, the keyring, the registry of running jobs, and the signals between them. The
//! operations are methods on it, each in its own module; the shells reach them through the
//! `Lifeboat` façade only.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::credentials::{Credentials, SecretRef};
use crate::error::{ErrorCode, Result};
use crate::home::Home;
use crate::jobs::{JobLock, JobRegistry};
use crate::keys::RecoveryKeys;
use crate::model::settings::Settings;
use crate::model::setup::{StorageTarget, TargetConfig};
use crate::ssh::{key_locked, Ssh, SshSession};
use crate::storage::Storage;

#[derive(Debug, Clone)]
pub(crate) struct Context {
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

impl Context {
    /// Opens (creating and migrating if needed) the catalog under `home`.
    pub async fn open(home: Home) -> Result<Self> {
        home.ensure()?;
        let catalog = Catalog::open(&home.catalog_path()).await?;
        // The catalog is shared with other Lifeboat processes: a job still marked running was
        // cut off by a crash only if no process holds its lock.
        for job_id in catalog.running_job_ids().await? {
            if !JobLock::is_held(&home.job_lock_path(&job_id)) {
                tracing::warn!(
                    job_id,
                    "a job was interrupted when its Lifeboat process stopped"
                );
                catalog.interrupt_job(&job_id).await?;
            }
        }
        Ok(Self {
            home,
            catalog,
            credentials: Credentials,
            jobs: Arc::default(),
            schedule_changes: Arc::default(),
            environment_edits: Arc::default(),
        })
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

    pub fn schedule_changes(&self) -> &tokio::sync::Notify {
        &self.schedule_changes
    }

    pub fn environment_edits(&self) -> &tokio::sync::Mutex<()> {
        &self.environment_edits
    }

    pub fn keys(&self) -> RecoveryKeys<'_> {
        RecoveryKeys::new(&self.catalog, &self.credentials)
    }

    pub async fn settings(&self) -> Result<Settings> {
        self.catalog.settings().await
    }

    /// How this machine connects to servers over SSH, with the configured ssh_config.
    pub fn ssh(&self, settings: &Settings) -> Ssh {
        Ssh::new(&self.home, settings.ssh_config.as_deref())
    }

    /// Connects to an environment's server, unlocking with the keyring's passphrases the keys
    /// it would offer; a refusal when a key's passphrase is unknown asks for that passphrase.
    pub async fn connect_server(&self, server: &str) -> Result<SshSession> {
        let settings = self.settings().await?;
        let ssh = self.ssh(&settings);
        let (mut unlocked, mut locked) = (Vec::new(), Vec::new());
        for key in ssh.encrypted_keys(server).await? {
            let secret = SecretRef::SshKeyPassphrase {
                key: key.display().to_string(),
            };
            match self.credentials.get(secret).await {
                Ok(passphrase) => unlocked.push((key, passphrase)),
                Err(e) if e.code == ErrorCode::SecretMissing => locked.push(key),
                Err(e) => return Err(e),
            }
        }
        match ssh.connect(server, &unlocked).await {
            Err(e) if e.code == ErrorCode::SshAuthFailed && !locked.is_empty() => {
                Err(key_locked(server, &locked[0]))
            }
            connected => connected,
        }
    }

    /// Removing a secret whose owner is already gone from the catalog: a failure only means a
    /// stale keyring entry, so it is logged rather than undoing the deletion.
    pub async fn forget_secret(&self, secret: SecretRef) {
        self.credentials.forget(secret).await;
    }

    /// Opens a saved target by id, with its secret from the keyring.
    pub async fn storage_of(&self, target_id: &str) -> Result<Storage> {
        let target = self.catalog.target(target_id).await?;
        self.target_storage(&target).await
    }

    /// Opens a saved target, with its secret from the keyring.
    pub async fn target_storage(&self, target: &StorageTarget) -> Result<Storage> {
        match &target.config {
            TargetConfig::Local(local) => Storage::local(std::path::Path::new(&local.path)),
            TargetConfig::S3(s3) => {
                let secret = self
                    .credentials
                    .get(SecretRef::S3SecretKey {
                        target_id: target.id.clone(),
                    })
                    .await?;
                Storage::s3(&s3.settings, &secret)
            }
        }
    }
}
