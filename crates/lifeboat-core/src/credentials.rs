//! Secrets (database passwords, S3 secret keys) live only in the OS keyring: Secret Service on
//! Linux, Keychain on macOS, Credential Manager on Windows. The catalog only records that one
//! is saved. keyring calls block on D-Bus, so async callers go through `spawn_blocking`.

use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, ErrorCode, Result};

const SERVICE: &str = "lifeboat";

/// What a secret belongs to; the keyring account is derived from the owner's stable id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    DatabasePassword {
        environment_id: String,
    },
    S3SecretKey {
        target_id: String,
    },
    /// The password of an environment's drill server.
    DrillPassword {
        environment_id: String,
    },
    /// An age X25519 identity, found by its public recipient, so catalogs with different keys
    /// (another LIFEBOAT_HOME, an imported key) never overwrite each other's.
    RecoveryKey {
        recipient: String,
    },
    /// The passphrase of an SSH private key, found by the key file's path.
    SshKeyPassphrase {
        key: String,
    },
    /// The secret access key of the bucket an environment's media is in.
    MediaS3SecretKey {
        environment_id: String,
    },
}

impl SecretRef {
    fn account(&self) -> String {
        match self {
            Self::DatabasePassword { environment_id } => {
                format!("environment:{environment_id}:database-password")
            }
            Self::S3SecretKey { target_id } => format!("target:{target_id}:s3-secret-key"),
            Self::DrillPassword { environment_id } => {
                format!("environment:{environment_id}:drill-password")
            }
            Self::RecoveryKey { recipient } => format!("recovery-key:{recipient}"),
            Self::SshKeyPassphrase { key } => format!("ssh-key:{key}:passphrase"),
            Self::MediaS3SecretKey { environment_id } => {
                format!("environment:{environment_id}:media-s3-secret-key")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct KeyringStatus {
    pub available: bool,
    pub message: Option<String>,
    /// Why it is not available: `keyring_unavailable` (no keyring service runs) or
    /// `keyring_locked` (one runs but is locked or refuses), each with its own fix.
    pub code: Option<ErrorCode>,
}

#[derive(Debug, Clone, Default)]
pub struct Credentials;

impl Credentials {
    pub async fn set(&self, secret: SecretRef, value: String) -> Result<()> {
        blocking(move || entry(&secret)?.set_password(&value).map_err(map_error)).await
    }

    pub async fn get(&self, secret: SecretRef) -> Result<String> {
        blocking(move || entry(&secret)?.get_password().map_err(map_error)).await
    }

    /// Deleting a secret that is not there is not an error.
    pub async fn delete(&self, secret: SecretRef) -> Result<()> {
        blocking(move || match entry(&secret)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_error(e)),
        })
        .await
    }

    /// Removes a secret whose owner is already gone: a failure only leaves a stale keyring
    /// entry, so it is logged rather than undoing what removed the owner.
    pub async fn forget(&self, secret: SecretRef) {
        if let Err(e) = self.delete(secret.clone()).await {
            tracing::warn!(?secret, code = ?e.code, "could not remove a secret from the keyring: {}", e.message);
        }
    }

    /// Probes the keyring with a read of an entry that never exists.
    pub async fn status(&self) -> KeyringStatus {
        let probe = SecretRef::DatabasePassword {
            environment_id: "status-probe".into(),
        };
        match self.get(probe).await {
            Ok(_) => KeyringStatus {
                available: true,
                message: None,
                code: None,
            },
            Err(e) if e.code == ErrorCode::SecretMissing => KeyringStatus {
                available: true,
                message: None,
                code: None,
            },
            Err(e) => KeyringStatus {
                available: false,
                message: Some(e.message),
                code: Some(e.code),
            },
        }
    }
}

fn entry(secret: &SecretRef) -> Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, &secret.account()).map_err(map_error)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorCode::Internal, format!("Keyring task failed: {e}")))?
}

fn map_error(e: keyring::Error) -> Error {
    let (code, message, cause) = match e {
        keyring::Error::NoEntry => {
            return Error::new(
                ErrorCode::SecretMissing,
                "No saved secret was found in the OS keyring; enter it again.",
            )
        }
        keyring::Error::NoStorageAccess(cause) => (
            ErrorCode::KeyringLocked,
            "The OS keyring is locked or refused access: unlock it (e.g. the “Login” keyring in Passwords and Keys) and try again.",
            cause.to_string(),
        ),
        keyring::Error::PlatformFailure(cause) => (
            ErrorCode::KeyringUnavailable,
            "No OS keyring is running: start a Secret Service (GNOME Keyring or KWallet) and try again.",
            cause.to_string(),
        ),
        other => (
            ErrorCode::KeyringUnavailable,
            "The OS keyring failed.",
            other.to_string(),
        ),
    };
    Error {
        detail: Some(cause),
        ..Error::new(code, message)
    }
}
