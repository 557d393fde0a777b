//! The recovery key: an age X25519 identity generated on first use. The secret half lives in
//! the OS keyring; the public half (the recipient every backup is encrypted to) is also kept in
//! the catalog so backups can be written without unlocking anything secret.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519::{Identity, Recipient};

use crate::catalog::Catalog;
use crate::credentials::{Credentials, SecretRef};
use crate::error::{Error, ErrorCode, Result};
use lifeboat_format::authentication::ManifestKey;

const RECIPIENT_SETTING: &str = "age_recipient";
/// When the key last went to a file (exported, or imported from one): until then the user is
/// asked to save it.
const SAVED_AT_SETTING: &str = "recovery_key_saved_at";

/// The recovery keys of one catalog: the recipient in the catalog, the identities in the
/// keyring.
pub(crate) struct RecoveryKeys<'a> {
    catalog: &'a Catalog,
    credentials: &'a Credentials,
}

impl<'a> RecoveryKeys<'a> {
    pub fn new(catalog: &'a Catalog, credentials: &'a Credentials) -> Self {
        Self {
            catalog,
            credentials,
        }
    }

    /// The recipient backups are encrypted to, creating the key pair on first use.
    pub async fn recovery_recipient(&self) -> Result<Recipient> {
        if let Some(saved) = self.catalog.setting(RECIPIENT_SETTING).await? {
            return Recipient::from_str(&saved).map_err(|e| {
                Error::new(
                    ErrorCode::Catalog,
                    format!("The saved recovery key recipient is unreadable: {e}"),
                )
            });
        }
        let identity = Identity::generate();
        let recipient = identity.to_public();
        let secret = SecretRef::RecoveryKey {
            recipient: recipient.to_string(),
        };
        self.credentials
            .set(
                secret.clone(),
                identity.to_string().expose_secret().to_owned(),
            )
            .await?;
        // Two first backups at once (two environments, the app and the CLI) both get here;
        // the first recipient recorded wins and the other key is dropped unused.
        let inserted = self
            .catalog
            .insert_setting_if_absent(RECIPIENT_SETTING, &recipient.to_string())
            .await?;
        if inserted {
            return Ok(recipient);
        }
        self.credentials.forget(secret).await;
        let saved = self
            .catalog
            .setting(RECIPIENT_SETTING)
            .await?
            .unwrap_or_default();
        Recipient::from_str(&saved).map_err(|e| {
            Error::new(
                ErrorCode::Catalog,
                format!("The saved recovery key recipient is unreadable: {e}"),
            )
        })
    }

    /// The identity that decrypts this catalog's backups, from the keyring.
    pub async fn recovery_identity(&self) -> Result<Identity> {
        let recipient = self.recovery_recipient().await?.to_string();
        self.recovery_identity_for(&recipient).await
    }

    /// The identity for one recipient: keys are kept by recipient, so backups made before a
    /// key import stay readable while the older key is still in the keyring.
    pub async fn recovery_identity_for(&self, recipient: &str) -> Result<Identity> {
        let text = self
            .credentials
            .get(SecretRef::RecoveryKey {
                recipient: recipient.to_owned(),
            })
            .await
            .map_err(|e| {
                if e.code == ErrorCode::SecretMissing {
                    Error::new(
                        ErrorCode::RecoveryKeyMissing,
                        format!("This machine has no recovery key for {recipient}: import the one the backups were made with."),
                    )
                } else {
                    e
                }
            })?;
        Identity::from_str(text.trim()).map_err(|e| {
            Error::new(
                ErrorCode::RecoveryKeyMissing,
                format!("The saved recovery key is unreadable: {e}"),
            )
        })
    }

    /// The key that seals and checks the manifests of backups encrypted to `recipient`.
    pub async fn manifest_key(&self, recipient: &str) -> Result<ManifestKey> {
        let identity = self.recovery_identity_for(recipient).await?;
        Ok(ManifestKey::from_identity(&identity))
    }

    /// Makes the identity in an age key file this catalog's recovery key: backups made from now
    /// on are encrypted to it, and backups made with it elsewhere can be read here.
    pub async fn import_recovery_key(&self, path: &Path) -> Result<String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorCode::Io,
                format!("Cannot read {}: {e}", path.display()),
            )
        })?;
        let identity = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .and_then(|l| Identity::from_str(l).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Validation,
                    format!(
                        "{} holds no age X25519 identity (AGE-SECRET-KEY-…).",
                        path.display()
                    ),
                )
            })?;
        let recipient = identity.to_public().to_string();
        self.credentials
            .set(
                SecretRef::RecoveryKey {
                    recipient: recipient.clone(),
                },
                identity.to_string().expose_secret().to_owned(),
            )
            .await?;
        self.catalog
            .set_setting(RECIPIENT_SETTING, Some(&recipient))
            .await?;
        self.note_saved().await?;
        Ok(recipient)
    }

    /// Writes the identity in age's key-file format (usable with `age -d -i FILE`), mode 0600.
    pub async fn export_recovery_key(&self, path: &Path) -> Result<()> {
        let identity = self.recovery_identity().await?;
        let contents = format!(
            "# Lifeboat recovery key: decrypts every backup made with it. Keep it safe and offline.\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        );
        let mut options = std::fs::OpenOptions::new();
        // The native save dialog has already asked before replacing an existing file.
        options.write(true).create(true).truncate(true);
        // Never through a symlink: that would overwrite whatever file it points at.
        #[cfg(unix)]
        {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
        }
        let mut file = options.open(path).map_err(|e| {
            let why = if e.raw_os_error() == Some(libc::ELOOP) {
                "it is a symbolic link; choose a file name of its own".to_owned()
            } else {
                e.to_string()
            };
            Error::new(
                ErrorCode::Io,
                format!("Cannot write the recovery key to {}: {why}", path.display()),
            )
        })?;
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        self.note_saved().await?;
        Ok(())
    }

    /// When the key was last saved to a file, if ever.
    pub async fn saved_at(&self) -> Result<Option<String>> {
        self.catalog.setting(SAVED_AT_SETTING).await
    }

    async fn note_saved(&self) -> Result<()> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.catalog.set_setting(SAVED_AT_SETTING, Some(&now)).await
    }
}
