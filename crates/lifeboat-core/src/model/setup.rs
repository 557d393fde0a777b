//! What is set up: applications, their environments, and the storage targets backups go to.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::connection::PgConnection;
use crate::retention::RetentionPolicy;
use crate::schedule::{StoredRecurrence, StoredSchedule};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Application {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// An application with its environments, as the sidebar shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ApplicationTree {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub environments: Vec<Environment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Environment {
    pub id: String,
    pub application_id: String,
    pub name: String,
    pub connection: Option<PgConnection>,
    pub media_dir: Option<String>,
    pub target_id: String,
    pub created_at: String,
    pub retention: RetentionPolicy,
    pub schedule: Option<StoredSchedule>,
    pub drill_schedule: Option<StoredRecurrence>,
    /// Where drills restore the database.
    pub drill_place: DrillPlace,
    pub hooks: crate::model::hooks::Hooks,
    /// The server this environment is reached through over SSH (`[user@]host[:port]` or a Host
    /// alias); its connection, media and hooks are then as that server sees them.
    pub server: Option<String>,
    /// With a server: pg_dump runs there, with its own client tools. It also does whenever
    /// this machine has no pg_dump new enough for the database.
    pub dump_on_server: bool,
    /// Media kept in a bucket (django-storages) instead of a directory; `media_dir` is then
    /// `None`.
    pub media_bucket: Option<MediaBucket>,
}

impl Environment {
    /// Whether it has media to back up or restore into, a directory or a bucket.
    pub fn has_media(&self) -> bool {
        self.media_dir.is_some() || self.media_bucket.is_some()
    }
}

/// Where in an S3-compatible bucket an environment's media objects are: every object under
/// `prefix` is a file, its key relative to the prefix its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaBucket {
    /// For S3-compatible services; `None` means AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the whole bucket.
    pub prefix: String,
    pub path_style: bool,
    pub access_key_id: String,
    /// Allow a plain `http://` endpoint on another machine (see `S3Settings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub insecure_http: Option<bool>,
}

impl MediaBucket {
    /// `s3://bucket/prefix`, as the CLI takes it and messages name it.
    pub fn url(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            prefix => format!("s3://{}/{prefix}", self.bucket),
        }
    }

    /// The bucket as a storage target's settings are, to open it the same way: no storage class
    /// or server-side encryption of Lifeboat's, the bucket's own defaults apply.
    pub fn s3_settings(&self) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            path_style: self.path_style,
            storage_class: String::new(),
            access_key_id: self.access_key_id.clone(),
            server_side_encryption: Some(false),
            insecure_http: self.insecure_http,
        }
    }
}

/// A media bucket as the user gives it; `None` keeps the saved secret key.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaBucketInput {
    pub bucket: MediaBucket,
    pub secret_access_key: Option<String>,
}

/// Where an environment's drills restore its database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum DrillPlace {
    /// A scratch PostgreSQL cluster Lifeboat runs on this machine for each drill, then removes.
    #[default]
    Scratch,
    /// The environment's own server: each drill creates a temporary database there holding a
    /// full copy of the backup, which on production means production's disk and load.
    EnvironmentServer,
    /// Another server where the role may create databases; its password is in the keyring.
    Server { connection: PgConnection },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LocalSettings {
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct S3Settings {
    /// For S3-compatible services; `None` means AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub prefix: String,
    pub path_style: bool,
    pub storage_class: String,
    pub access_key_id: String,
    /// Ask S3 to encrypt at rest too (SSE-S3, on top of Lifeboat's own encryption). `None`
    /// means yes; turn it off for servers that reject the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub server_side_encryption: Option<bool>,
    /// Allow a plain `http://` endpoint on another machine: the requests, their signatures and
    /// which backups exist cross the network readable and changeable. Loopback needs no flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub insecure_http: Option<bool>,
}

impl S3Settings {
    /// Why this endpoint may not be used as it is: plain HTTP to another machine, unless the
    /// user said so.
    pub fn plain_http_refusal(&self) -> Option<crate::error::Error> {
        let endpoint = self.endpoint.as_deref()?;
        let url = url::Url::parse(endpoint).ok()?;
        let loopback = match url.host()? {
            url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        if url.scheme() != "http" || loopback || self.insecure_http == Some(true) {
            return None;
        }
        Some(crate::error::Error::validation(
            "endpoint",
            "Plain http:// to another machine lets anyone on the network read and change what is sent. Use https://, or allow insecure HTTP for this target if the network is yours.",
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct S3Config {
    #[serde(flatten)]
    pub settings: S3Settings,
    pub has_secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum TargetConfig {
    Local(LocalSettings),
    S3(S3Config),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct StorageTarget {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub config: TargetConfig,
    pub created_at: String,
}
