//! Storage targets: where an environment's backups go.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::new_id;
use crate::context::Context;
use crate::credentials::SecretRef;
use crate::error::{Error, ErrorCode, Result};
pub use crate::model::setup::LocalSettings;
pub use crate::model::setup::S3Config;
pub use crate::model::setup::S3Settings;
pub use crate::model::setup::StorageTarget;
pub use crate::model::setup::TargetConfig;
use crate::storage::Storage;
use crate::validation;

pub const DEFAULT_STORAGE_CLASS: &str = "STANDARD_IA";
pub const DEFAULT_TARGET_NAME: &str = "Local folder";

#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct S3ConfigInput {
    #[serde(flatten)]
    pub settings: S3Settings,
    /// `None` keeps the saved secret.
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3ConfigInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3ConfigInput")
            .field("settings", &self.settings)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum TargetConfigInput {
    Local(LocalSettings),
    S3(S3ConfigInput),
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TargetInput {
    pub name: String,
    pub config: TargetConfigInput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TargetReport {
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

impl Context {
    pub async fn list_targets(&self) -> Result<Vec<StorageTarget>> {
        self.catalog().targets().await
    }

    pub async fn create_target(&self, input: &TargetInput) -> Result<StorageTarget> {
        let name = validation::name("name", &input.name)?;
        let id = new_id();
        let (config, secret) = validate_config(&input.config, false)?;
        if let Some(secret) = &secret {
            self.credentials()
                .set(secret_of(&id), secret.clone())
                .await?;
        }
        let created = self
            .catalog()
            .insert_target(&id, &name, &config, false)
            .await;
        if created.is_err() && secret.is_some() {
            self.forget_secret(secret_of(&id)).await;
        }
        created
    }

    pub async fn update_target(&self, id: &str, input: &TargetInput) -> Result<StorageTarget> {
        let existing = self.catalog().target(id).await?;
        let name = validation::name("name", &input.name)?;
        let had_secret = matches!(
            existing.config,
            TargetConfig::S3(S3Config {
                has_secret: true,
                ..
            })
        );
        let (config, secret) = validate_config(&input.config, had_secret)?;
        match (&config, secret) {
            (TargetConfig::S3(_), Some(secret)) => {
                self.credentials().set(secret_of(id), secret).await?;
            }
            (TargetConfig::Local(_), _) if had_secret => {
                self.credentials().delete(secret_of(id)).await?;
            }
            _ => {}
        }
        self.catalog().update_target(id, &name, &config).await
    }

    pub async fn delete_target(&self, id: &str) -> Result<()> {
        let target = self.catalog().target(id).await?;
        if target.is_default {
            return Err(Error::new(
                ErrorCode::TargetInUse,
                "The built-in local folder target cannot be deleted.",
            ));
        }
        let users = self.catalog().environments_using_target(id).await?;
        if users > 0 {
            return Err(Error::new(
                ErrorCode::TargetInUse,
                format!(
                    "{users} environment(s) back up to “{}”; choose another target for them first.",
                    target.name
                ),
            ));
        }
        self.catalog().delete_target(id).await?;
        self.forget_secret(secret_of(id)).await;
        Ok(())
    }

    pub async fn test_target(
        &self,
        input: &TargetInput,
        target_id: Option<&str>,
    ) -> Result<TargetReport> {
        let started = Instant::now();
        self.open_storage(input, target_id).await?.probe().await?;
        Ok(TargetReport {
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    async fn open_storage(&self, input: &TargetInput, target_id: Option<&str>) -> Result<Storage> {
        let (config, secret) = validate_config(&input.config, target_id.is_some())?;
        match config {
            TargetConfig::Local(local) => Storage::local(Path::new(&local.path)),
            TargetConfig::S3(s3) => {
                let secret = match (secret, target_id) {
                    (Some(secret), _) => secret,
                    (None, Some(id)) => self.credentials().get(secret_of(id)).await?,
                    (None, None) => {
                        unreachable!("validate_config requires a secret for unsaved targets")
                    }
                };
                Storage::s3(&s3.settings, &secret)
            }
        }
    }
    /// The built-in local folder target, created on first run so the app works without a cloud
    /// account.
    pub(crate) async fn ensure_default_target(&self) -> Result<()> {
        if self.catalog().default_target().await.is_ok() {
            return Ok(());
        }
        let config = TargetConfig::Local(LocalSettings {
            path: self.home().local_storage_dir().display().to_string(),
        });
        self.catalog()
            .insert_target(&new_id(), DEFAULT_TARGET_NAME, &config, true)
            .await
            .map(drop)
    }
}

/// Checks the settings and splits off the secret. `has_saved_secret` lets an edit omit it.
fn validate_config(
    input: &TargetConfigInput,
    has_saved_secret: bool,
) -> Result<(TargetConfig, Option<String>)> {
    match input {
        TargetConfigInput::Local(local) => {
            let path = validation::required("path", "Folder", &local.path)?;
            if !Path::new(&path).is_absolute() {
                return Err(Error::validation("path", "Use an absolute folder path."));
            }
            Ok((TargetConfig::Local(LocalSettings { path }), None))
        }
        TargetConfigInput::S3(s3) => {
            let s = &s3.settings;
            let endpoint = match s.endpoint.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(e) => {
                    let url = url::Url::parse(e).map_err(|_| {
                        Error::validation("endpoint", "Use a URL such as https://s3.example.com.")
                    })?;
                    if !matches!(url.scheme(), "http" | "https") {
                        return Err(Error::validation(
                            "endpoint",
                            "The endpoint must start with http:// or https://.",
                        ));
                    }
                    Some(e.trim_end_matches('/').to_owned())
                }
            };
            let bucket = validation::required("bucket", "Bucket", &s.bucket)?;
            if bucket.len() < 3 || bucket.len() > 63 {
                return Err(Error::validation(
                    "bucket",
                    "Bucket names have 3 to 63 characters.",
                ));
            }
            // Without path-style addressing the endpoint is taken as the bucket's own address
            // and the bucket name is not sent: an endpoint serving many buckets would then
            // receive the backups in whichever bucket it picks.
            if let Some(endpoint) = &endpoint {
                let host = url::Url::parse(endpoint)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                if !s.path_style && !host.starts_with(&format!("{bucket}.")) {
                    return Err(Error::validation(
                        "pathStyle",
                        format!(
                            "With this endpoint, turn on path-style addressing (the bucket name then goes in the path); only an endpoint that is the bucket's own address ({bucket}.…) works without it."
                        ),
                    ));
                }
            }
            let settings = S3Settings {
                endpoint,
                region: validation::required("region", "Region", &s.region)?,
                bucket,
                prefix: s.prefix.trim().trim_matches('/').to_owned(),
                path_style: s.path_style,
                storage_class: match s.storage_class.trim() {
                    "" => DEFAULT_STORAGE_CLASS.to_owned(),
                    class => class.to_ascii_uppercase(),
                },
                access_key_id: validation::required(
                    "accessKeyId",
                    "Access key id",
                    &s.access_key_id,
                )?,
                server_side_encryption: s.server_side_encryption,
                insecure_http: s.insecure_http.filter(|&on| on),
            };
            if let Some(refusal) = settings.plain_http_refusal() {
                return Err(refusal);
            }
            let secret = s3.secret_access_key.clone().filter(|k| !k.is_empty());
            if secret.is_none() && !has_saved_secret {
                return Err(Error::validation(
                    "secretAccessKey",
                    "The secret access key is required.",
                ));
            }
            Ok((
                TargetConfig::S3(S3Config {
                    settings,
                    has_secret: true,
                }),
                secret,
            ))
        }
    }
}

fn secret_of(target_id: &str) -> SecretRef {
    SecretRef::S3SecretKey {
        target_id: target_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: Option<&str>, path_style: bool) -> TargetConfigInput {
        TargetConfigInput::S3(S3ConfigInput {
            settings: S3Settings {
                endpoint: endpoint.map(str::to_owned),
                region: "us-east-1".into(),
                bucket: "backups".into(),
                prefix: String::new(),
                path_style,
                storage_class: String::new(),
                access_key_id: "key".into(),
                server_side_encryption: None,
                insecure_http: None,
            },
            secret_access_key: Some("secret".into()),
        })
    }

    #[test]
    fn an_endpoint_serving_many_buckets_needs_path_style_addressing() {
        let e = validate_config(&s3(Some("http://127.0.0.1:9000"), false), false).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::Validation, Some("pathStyle"))
        );
        assert!(validate_config(&s3(Some("http://127.0.0.1:9000"), true), false).is_ok());
        // The bucket's own address, and AWS (no endpoint), work without it.
        assert!(validate_config(&s3(Some("https://backups.s3.example.com"), false), false).is_ok());
        assert!(validate_config(&s3(None, false), false).is_ok());
    }

    #[test]
    fn plain_http_is_for_loopback_or_when_the_user_says_so() {
        for local in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            assert!(
                validate_config(&s3(Some(local), true), false).is_ok(),
                "{local}"
            );
        }
        let remote = s3(Some("http://backups.example.com:9000"), true);
        let e = validate_config(&remote, false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("endpoint"));
        assert!(e.message.contains("https://"), "{}", e.message);
        assert!(validate_config(&s3(Some("https://backups.example.com"), true), false).is_ok());

        let TargetConfigInput::S3(mut allowed) = remote else {
            unreachable!()
        };
        allowed.settings.insecure_http = Some(true);
        let (TargetConfig::S3(saved), _) =
            validate_config(&TargetConfigInput::S3(allowed), false).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(saved.settings.insecure_http, Some(true));
    }
}
