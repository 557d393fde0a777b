//! Environments (production, staging…): a PostgreSQL connection, a media directory and the
//! storage target its backups go to.

use crate::model::hooks::{HookPhase, Hooks};
use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::environments::EnvironmentRecord;
use crate::catalog::new_id;
use crate::connection::{PgConnection, PgConnectionInput};
use crate::context::Context;
use crate::credentials::SecretRef;
use crate::error::{Error, ErrorCode, Result};
use crate::jobs::{JobLock, Lane};
use crate::media::{self, MediaStats, ServerDir};
use crate::media_bucket::{BucketMedia, MediaBucketCheck};
pub use crate::model::setup::DrillPlace;
pub use crate::model::setup::Environment;
use crate::model::setup::{MediaBucket, MediaBucketInput, TargetConfig};
use crate::postgres::{self, ConnectionReport};
use crate::ssh::{SshHostKey, SshSession};
use crate::validation;

/// A database as this machine reaches it; an SSH tunnel to it stays open while this lives.
pub(crate) struct Reached {
    pub connection: PgConnectionInput,
    /// The connection as the environment's server sees it (the saved one): what a program
    /// run there connects with.
    pub as_server_sees_it: PgConnectionInput,
    pub session: Option<SshSession>,
}

fn is_ssh(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::SshHostUnknown
            | ErrorCode::SshHostKeyChanged
            | ErrorCode::SshAuthFailed
            | ErrorCode::SshKeyLocked
            | ErrorCode::SshUnreachable
            | ErrorCode::SshFailed
    )
}

/// A database error met through a server, said with the server in it: the connection settings
/// are as the server sees them.
fn through_server(mut e: Error, server: &str, saved: &PgConnectionInput) -> Error {
    if matches!(e.code, ErrorCode::PgUnreachable | ErrorCode::PgTimeout) {
        e.message = format!(
            "{server} could not reach PostgreSQL at {}:{}: check Host and Port as the server sees them (localhost, or its socket directory), and that its sshd allows forwarding (AllowTcpForwarding, AllowStreamLocalForwarding).",
            saved.host, saved.port
        );
    }
    e
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct EnvironmentInput {
    pub application_id: String,
    pub name: String,
    pub connection: Option<PgConnectionInput>,
    pub media_dir: Option<String>,
    /// `None` = the default (local folder) target.
    pub target_id: Option<String>,
}

/// One part of an environment changed on its own: each section of the environment page saves
/// only what it edits, so two saves in flight never undo each other.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(tag = "field", content = "value", rename_all = "camelCase")]
#[ts(export)]
pub enum EnvironmentChange {
    Name(String),
    /// `None` forgets the connection and its password; a `None` password keeps the saved one.
    Connection(Option<PgConnectionInput>),
    MediaDir(Option<String>),
    /// `None` = the default (local folder) target.
    TargetId(Option<String>),
}

impl From<&Environment> for EnvironmentInput {
    /// The environment as stored, its saved password kept.
    fn from(env: &Environment) -> Self {
        Self {
            application_id: env.application_id.clone(),
            name: env.name.clone(),
            connection: env
                .connection
                .clone()
                .map(|c| PgConnectionInput::from_saved(c, None)),
            media_dir: env.media_dir.clone(),
            target_id: Some(env.target_id.clone()),
        }
    }
}

struct ValidInput {
    name: String,
    connection: Option<PgConnectionInput>,
    media_dir: Option<String>,
    target_id: String,
}

impl Context {
    /// Sets the commands run around the environment's backups and restores.
    pub async fn set_hooks(&self, environment_id: &str, hooks: &Hooks) -> Result<Environment> {
        const MAX_TIMEOUT: u32 = 24 * 60 * 60;
        if hooks.timeout_seconds == 0 || hooks.timeout_seconds > MAX_TIMEOUT {
            return Err(Error::validation(
                "timeoutSeconds",
                format!("A hook's timeout is 1 to {MAX_TIMEOUT} seconds."),
            ));
        }
        let mut cleaned = Hooks {
            timeout_seconds: hooks.timeout_seconds,
            ..Hooks::default()
        };
        for phase in HookPhase::ALL {
            cleaned.set(phase, hooks.command(phase).map(|c| c.trim().to_owned()));
        }
        let _editing = self.environment_edits().lock().await;
        self.catalog().environment(environment_id).await?;
        self.catalog().set_hooks(environment_id, &cleaned).await
    }

    pub async fn create_environment(&self, input: &EnvironmentInput) -> Result<Environment> {
        self.catalog().application(&input.application_id).await?;
        let valid = self.validate_environment(input, None).await?;
        let id = new_id();
        let password = valid.connection.as_ref().and_then(|c| c.password.clone());
        if let Some(password) = &password {
            self.credentials()
                .set(secret_of(&id), password.clone())
                .await?;
        }
        let record = EnvironmentRecord {
            id: &id,
            application_id: &input.application_id,
            name: &valid.name,
            connection: valid.connection.as_ref(),
            password_saved: password.is_some(),
            media_dir: valid.media_dir.as_deref(),
            target_id: &valid.target_id,
        };
        let created = self.catalog().insert_environment(&record).await;
        if created.is_err() && password.is_some() {
            self.forget_secret(secret_of(&id)).await;
        }
        created
    }

    pub async fn change_environment(
        &self,
        id: &str,
        change: &EnvironmentChange,
    ) -> Result<Environment> {
        let _editing = self.environment_edits().lock().await;
        let existing = self.catalog().environment(id).await?;
        let mut input = EnvironmentInput::from(&existing);
        match change.clone() {
            EnvironmentChange::Name(name) => input.name = name,
            EnvironmentChange::Connection(connection) => input.connection = connection,
            EnvironmentChange::MediaDir(dir) => input.media_dir = dir,
            EnvironmentChange::TargetId(target) => input.target_id = target,
        }
        self.write_environment(&existing, &input).await
    }

    pub async fn update_environment(
        &self,
        id: &str,
        input: &EnvironmentInput,
    ) -> Result<Environment> {
        let _editing = self.environment_edits().lock().await;
        let existing = self.catalog().environment(id).await?;
        self.write_environment(&existing, input).await
    }

    /// Writes `input` over `existing` (read under the edits lock the caller holds).
    async fn write_environment(
        &self,
        existing: &Environment,
        input: &EnvironmentInput,
    ) -> Result<Environment> {
        let id = existing.id.as_str();
        let valid = self.validate_environment(input, Some(existing)).await?;
        let had_password = existing.connection.as_ref().is_some_and(|c| c.has_password);
        let password_saved = match &valid.connection {
            Some(PgConnectionInput {
                password: Some(password),
                ..
            }) => {
                self.credentials()
                    .set(secret_of(id), password.clone())
                    .await?;
                true
            }
            // Kept only for the server it was saved for; another host, port or user asks again.
            Some(input)
                if existing
                    .connection
                    .as_ref()
                    .is_some_and(|c| c.password_fits(input)) =>
            {
                true
            }
            _ => {
                if had_password {
                    self.credentials().delete(secret_of(id)).await?;
                }
                false
            }
        };
        let record = EnvironmentRecord {
            id,
            application_id: &existing.application_id,
            name: &valid.name,
            connection: valid.connection.as_ref(),
            password_saved,
            media_dir: valid.media_dir.as_deref(),
            target_id: &valid.target_id,
        };
        let updated = self.catalog().update_environment(&record).await?;
        // A media directory replaces a media bucket: the environment has one or the other.
        if valid.media_dir.is_some() && existing.media_bucket.is_some() {
            self.forget_secret(media_secret_of(id)).await;
            return self.catalog().set_media_bucket(id, None).await;
        }
        Ok(updated)
    }

    pub async fn delete_environment(&self, id: &str) -> Result<()> {
        let _editing = self.environment_edits().lock().await;
        refuse_if_busy(self, id)?;
        self.catalog().delete_environment(id).await?;
        self.forget_secret(secret_of(id)).await;
        self.forget_secret(media_secret_of(id)).await;
        Ok(())
    }

    /// Sets the bucket the environment's media is in (replacing a media directory), once its
    /// objects can be listed with the key given; `None` forgets the bucket and its key.
    pub async fn set_media_bucket(
        &self,
        environment_id: &str,
        input: Option<&MediaBucketInput>,
    ) -> Result<Environment> {
        let _editing = self.environment_edits().lock().await;
        let env = self.catalog().environment(environment_id).await?;
        let Some(input) = input else {
            self.forget_secret(media_secret_of(environment_id)).await;
            return self.catalog().set_media_bucket(environment_id, None).await;
        };
        let (bucket, secret) = self.valid_media_bucket(&env, input).await?;
        BucketMedia::open(&bucket, &secret)?
            .list()
            .await
            .map_err(|e| Error {
                field: e.field.clone().or(Some("bucket".into())),
                ..e
            })?;
        if input.secret_access_key.is_some() {
            self.credentials()
                .set(media_secret_of(environment_id), secret)
                .await?;
        }
        self.catalog()
            .set_media_bucket(environment_id, Some(&bucket))
            .await
    }

    /// What the key may do in the bucket (given, or the environment's saved one), each
    /// permission on its own, and how many objects and bytes there are. Writing is checked
    /// (with a probe object written and deleted) only when `write` asks.
    pub async fn check_media_bucket(
        &self,
        environment_id: &str,
        input: Option<&MediaBucketInput>,
        write: bool,
    ) -> Result<MediaBucketCheck> {
        let env = self.catalog().environment(environment_id).await?;
        let bucket = match input {
            Some(input) => {
                let (bucket, secret) = self.valid_media_bucket(&env, input).await?;
                BucketMedia::open(&bucket, &secret)?
            }
            None => self.open_media_bucket(&env).await?.ok_or_else(|| {
                Error::validation("media", "This environment's media is not in a bucket.")
            })?,
        };
        Ok(bucket.check(write).await)
    }

    /// The environment's media bucket, opened with its key from the keyring.
    pub(crate) async fn open_media_bucket(&self, env: &Environment) -> Result<Option<BucketMedia>> {
        let Some(bucket) = &env.media_bucket else {
            return Ok(None);
        };
        let secret = self.credentials().get(media_secret_of(&env.id)).await?;
        BucketMedia::open(bucket, &secret).map(Some)
    }

    /// The bucket as it will be saved, with the secret key to use: the one given, else the saved
    /// one while the endpoint and access key are the ones it was saved for.
    async fn valid_media_bucket(
        &self,
        env: &Environment,
        input: &MediaBucketInput,
    ) -> Result<(MediaBucket, String)> {
        let given = &input.bucket;
        let bucket = MediaBucket {
            endpoint: given
                .endpoint
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| e.trim_end_matches('/').to_owned()),
            region: match given.region.trim() {
                "" => "us-east-1".to_owned(),
                region => region.to_owned(),
            },
            bucket: given.bucket.trim().to_owned(),
            prefix: given.prefix.trim().trim_matches('/').to_owned(),
            path_style: given.path_style,
            access_key_id: given.access_key_id.trim().to_owned(),
            insecure_http: given.insecure_http.filter(|&allowed| allowed),
        };
        if bucket.bucket.is_empty() || bucket.bucket.contains('/') {
            return Err(Error::validation(
                "bucket",
                "Give the bucket's name alone (the folder inside it goes in Prefix).",
            ));
        }
        if bucket.access_key_id.is_empty() {
            return Err(Error::validation("accessKeyId", "Give the access key ID."));
        }
        if let Some(endpoint) = &bucket.endpoint {
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
                || url::Url::parse(endpoint).is_err()
            {
                return Err(Error::validation(
                    "endpoint",
                    "Give the endpoint as a URL, e.g. https://s3.example.com.",
                ));
            }
        }
        if let Some(refusal) = bucket.s3_settings().plain_http_refusal() {
            return Err(refusal);
        }
        let secret = match input.secret_access_key.as_deref().map(str::trim) {
            Some(secret) if !secret.is_empty() => secret.to_owned(),
            _ => {
                let saved_for = env.media_bucket.as_ref().is_some_and(|saved| {
                    saved.endpoint == bucket.endpoint && saved.access_key_id == bucket.access_key_id
                });
                let saved = match saved_for {
                    true => self.credentials().get(media_secret_of(&env.id)).await.ok(),
                    false => None,
                };
                saved.ok_or_else(|| {
                    Error::validation("secretAccessKey", "Give the secret access key.")
                })?
            }
        };
        Ok((bucket, secret))
    }

    pub async fn test_connection(
        &self,
        input: &PgConnectionInput,
        environment_id: Option<&str>,
    ) -> Result<ConnectionReport> {
        let mut input = input.validated()?;
        let (mut server, mut dump_on_server) = (None, false);
        if let Some(id) = environment_id {
            let env = self.catalog().environment(id).await?;
            if input.password.is_none() && env.connection.is_some_and(|c| c.password_fits(&input)) {
                input.password = Some(self.credentials().get(secret_of(id)).await?);
            }
            (server, dump_on_server) = (env.server, env.dump_on_server);
        }
        let settings = self.settings().await?;
        let pg_bin_dir = settings.pg_bin_dir.as_deref().map(Path::new);
        let Some(server) = server else {
            return postgres::probe(&input, pg_bin_dir).await;
        };
        let session = self.connect_server(&server).await?;
        let forwarded = session.forward_postgres(&input).await?;
        let mut report = postgres::probe(&forwarded, pg_bin_dir)
            .await
            .map_err(|e| through_server(e, &server, &input))?;
        if dump_on_server || report.pg_dump.is_none() {
            let found = postgres::tools::find_on_server(&session).await;
            report.pg_dump_on_server =
                postgres::tools::choose_pg_dump(&found, report.server_major).cloned();
        }
        report.server = Some(server);
        Ok(report)
    }

    pub async fn environment_connection(&self, environment_id: &str) -> Result<PgConnectionInput> {
        let env = self.catalog().environment(environment_id).await?;
        let saved = env.connection.ok_or_else(|| {
            Error::validation(
                "database",
                "This environment has no database connection yet.",
            )
        })?;
        self.with_password(saved, secret_of(environment_id)).await
    }

    /// The environment's database as this machine reaches it: directly, or through its server
    /// over SSH for as long as the returned value lives.
    pub(crate) async fn reach_database(&self, environment_id: &str) -> Result<Reached> {
        let connection = self.environment_connection(environment_id).await?;
        let env = self.catalog().environment(environment_id).await?;
        let Some(server) = env.server else {
            return Ok(Reached {
                as_server_sees_it: connection.clone(),
                connection,
                session: None,
            });
        };
        let session = self.connect_server(&server).await?;
        let forwarded = session.forward_postgres(&connection).await?;
        // The tunnel is proven here, so that a failure says which hop it is at.
        postgres::connect(&forwarded)
            .await
            .map_err(|e| through_server(e, &server, &connection))?;
        Ok(Reached {
            connection: forwarded,
            as_server_sees_it: connection,
            session: Some(session),
        })
    }

    /// Sets (or with `None` clears) the server the environment is reached through. Moving it
    /// from one server to another forgets the database password: “localhost” is another
    /// database there.
    pub async fn set_server(&self, environment_id: &str, server: &str) -> Result<Environment> {
        let server = crate::ssh::parse_server(server)?;
        let _editing = self.environment_edits().lock().await;
        let env = self.catalog().environment(environment_id).await?;
        let moved = env.server.is_some() && env.server != server;
        if moved && env.connection.as_ref().is_some_and(|c| c.has_password) {
            self.credentials().delete(secret_of(environment_id)).await?;
            let connection = env
                .connection
                .clone()
                .map(|c| PgConnectionInput::from_saved(c, None));
            let record = EnvironmentRecord {
                id: environment_id,
                application_id: &env.application_id,
                name: &env.name,
                connection: connection.as_ref(),
                password_saved: false,
                media_dir: env.media_dir.as_deref(),
                target_id: &env.target_id,
            };
            self.catalog().update_environment(&record).await?;
        }
        self.catalog()
            .set_server(environment_id, server.as_deref())
            .await
    }

    /// Whether pg_dump runs on the environment's server (which it must have).
    pub async fn set_dump_on_server(
        &self,
        environment_id: &str,
        on_server: bool,
    ) -> Result<Environment> {
        let _editing = self.environment_edits().lock().await;
        let env = self.catalog().environment(environment_id).await?;
        if on_server && env.server.is_none() {
            return Err(Error::validation(
                "dumpOnServer",
                "Set the environment's server first.",
            ));
        }
        self.catalog()
            .set_dump_on_server(environment_id, on_server)
            .await
    }

    /// The Host aliases of the user's SSH configuration, to offer as servers.
    pub async fn ssh_hosts(&self) -> Result<Vec<String>> {
        let settings = self.settings().await?;
        Ok(self.ssh(&settings).host_aliases())
    }

    /// The host keys the server offers that nobody has trusted yet (empty: all known).
    pub async fn unknown_host_keys(&self, server: &str) -> Result<Vec<SshHostKey>> {
        let server = crate::ssh::parse_server(server)?
            .ok_or_else(|| Error::validation("server", "Give a server."))?;
        let settings = self.settings().await?;
        self.ssh(&settings).unknown_host_keys(&server).await
    }

    /// Connects to `server` as a job would (host key checked, keys unlocked from the keyring).
    pub async fn test_server(&self, server: &str) -> Result<()> {
        let server = crate::ssh::parse_server(server)?
            .ok_or_else(|| Error::validation("server", "Give a server."))?;
        self.connect_server(&server).await.map(drop)
    }

    /// Keeps the passphrase of an SSH key in the keyring, once it is shown to unlock the key.
    pub async fn set_ssh_key_passphrase(&self, key: &str, passphrase: &str) -> Result<()> {
        let path = Path::new(key.trim());
        if !path.is_absolute() || !path.is_file() {
            return Err(Error::validation(
                "key",
                format!("{} is not a key file.", path.display()),
            ));
        }
        if passphrase.is_empty() {
            return Err(Error::validation(
                "passphrase",
                "Enter the key's passphrase.",
            ));
        }
        let settings = self.settings().await?;
        self.ssh(&settings)
            .check_passphrase(path, passphrase)
            .await?;
        let secret = SecretRef::SshKeyPassphrase {
            key: path.display().to_string(),
        };
        self.credentials().set(secret, passphrase.to_owned()).await
    }

    /// Trusts the server's host keys, if they are still the ones the user compared.
    pub async fn trust_host_keys(
        &self,
        server: &str,
        fingerprints: &[String],
    ) -> Result<Vec<SshHostKey>> {
        let server = crate::ssh::parse_server(server)?
            .ok_or_else(|| Error::validation("server", "Give a server."))?;
        let settings = self.settings().await?;
        self.ssh(&settings).trust(&server, fingerprints).await
    }

    /// Saved connection settings with their password from the keyring, when one was saved.
    pub(crate) async fn with_password(
        &self,
        saved: PgConnection,
        secret: SecretRef,
    ) -> Result<PgConnectionInput> {
        let password = if saved.has_password {
            Some(self.credentials().get(secret).await?)
        } else {
            None
        };
        Ok(PgConnectionInput::from_saved(saved, password))
    }

    /// The files and bytes under `path`: on the environment's server when it has one.
    pub async fn media_stats(
        &self,
        path: &str,
        environment_id: Option<&str>,
    ) -> Result<MediaStats> {
        if let Some(id) = environment_id {
            if let Some(server) = self.catalog().environment(id).await?.server {
                return self.server_media_stats(&server, path).await;
            }
        }
        media::stats(Path::new(path)).await
    }

    async fn server_media_stats(&self, server: &str, dir: &str) -> Result<MediaStats> {
        let session = self.connect_server(server).await?;
        ServerDir {
            session: &session,
            dir,
        }
        .stats()
        .await
    }

    /// A restore replaces the media directory whole: one that is the root, the home directory,
    /// or holds (or sits inside) Lifeboat's own state or a local storage target would take
    /// them with it.
    async fn refuse_unsafe_media_dir(&self, dir: &Path) -> Result<()> {
        let refuse = |why: String| Err(Error::validation("mediaDir", why));
        let real = std::fs::canonicalize(dir)?;
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
        if real.parent().is_none()
            || home.is_some_and(|h| std::fs::canonicalize(h).is_ok_and(|h| h == real))
        {
            return refuse(format!(
                "{} is too broad: a restore replaces the whole media directory. Choose the folder the application keeps its uploads in.",
                dir.display()
            ));
        }
        let mut kept = vec![(
            "Lifeboat's own data".to_owned(),
            self.home().root().to_owned(),
        )];
        for target in self.catalog().targets().await? {
            if let TargetConfig::Local(local) = &target.config {
                kept.push((
                    format!("the storage target “{}”", target.name),
                    local.path.clone().into(),
                ));
            }
        }
        for (what, path) in kept {
            let Ok(path) = std::fs::canonicalize(&path) else {
                continue;
            };
            if real.starts_with(&path) || path.starts_with(&real) {
                return refuse(format!(
                    "{} overlaps {what} ({}): a restore would replace it. Choose a folder apart from it.",
                    dir.display(),
                    path.display()
                ));
            }
        }
        Ok(())
    }

    /// Checks an environment as it is to be saved. A media directory already saved is not
    /// checked again: renaming must not fail because a media drive is unmounted right now.
    async fn validate_environment(
        &self,
        input: &EnvironmentInput,
        existing: Option<&Environment>,
    ) -> Result<ValidInput> {
        let name = validation::name("name", &input.name)?;
        let connection = input
            .connection
            .as_ref()
            .map(|c| c.validated())
            .transpose()?;
        let media_dir = match input.media_dir.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(dir) if existing.is_some_and(|e| e.media_dir.as_deref() == Some(dir)) => {
                Some(dir.to_owned())
            }
            // On the server, relative to the SSH user's home unless absolute, as with scp.
            Some(dir) if existing.is_some_and(|e| e.server.is_some()) => {
                let server = existing.and_then(|e| e.server.clone()).unwrap_or_default();
                match self.server_media_stats(&server, dir).await {
                    Ok(_) => {}
                    // A server not trusted or reached yet cannot say; backups and the media
                    // section will, once it can.
                    Err(e) if is_ssh(e.code) => {}
                    Err(e) => return Err(Error::field(e.code, "mediaDir", e.message)),
                }
                Some(dir.to_owned())
            }
            Some(dir) => {
                if !Path::new(dir).is_absolute() {
                    return Err(Error::validation(
                        "mediaDir",
                        "Use an absolute path for the media directory.",
                    ));
                }
                media::check_dir(Path::new(dir))
                    .map_err(|e| Error::field(e.code, "mediaDir", e.message))?;
                self.refuse_unsafe_media_dir(Path::new(dir)).await?;
                Some(dir.to_owned())
            }
        };
        let target_id = match &input.target_id {
            Some(id) => {
                self.catalog()
                    .target(id)
                    .await
                    .map_err(|_| {
                        Error::field(
                            ErrorCode::NotFound,
                            "targetId",
                            "That storage target no longer exists.",
                        )
                    })?
                    .id
            }
            None => self.catalog().default_target().await?.id,
        };
        Ok(ValidInput {
            name,
            connection,
            media_dir,
            target_id,
        })
    }
}

pub(crate) fn refuse_if_busy(lifeboat: &Context, environment_id: &str) -> Result<()> {
    // Another process on the same catalog (the app, a cron'd CLI run) counts too.
    let elsewhere = Lane::Environment(environment_id.to_owned())
        .lock_name()
        .is_some_and(|name| JobLock::is_held(&lifeboat.home().lane_lock_path(&name)));
    if lifeboat.jobs().is_busy(environment_id) || elsewhere {
        return Err(Error::new(
            ErrorCode::AlreadyRunning,
            "A backup or restore of this environment is running; cancel it or wait before deleting.",
        ));
    }
    Ok(())
}

fn media_secret_of(environment_id: &str) -> SecretRef {
    SecretRef::MediaS3SecretKey {
        environment_id: environment_id.to_owned(),
    }
}

fn secret_of(environment_id: &str) -> SecretRef {
    SecretRef::DatabasePassword {
        environment_id: environment_id.to_owned(),
    }
}
