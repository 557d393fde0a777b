//! Where backups are kept. One small interface (object_store's) over several backends:
//! a local folder (the embedded default) and S3-compatible buckets.

mod errors;
mod upload;

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, RetryConfig,
};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorCode, Result};
use crate::model::setup::S3Settings;
pub use errors::{map_store_error, map_store_io_error};
pub use upload::Upload;

/// What a producer sends the uploader.
pub enum Chunk {
    Data(bytes::Bytes),
    /// Sent once everything was written, so the uploader can tell completion from a producer
    /// that failed (and just dropped its sender).
    End,
}

/// An S3 client for `settings`' bucket, opened as every bucket Lifeboat reads or writes is:
/// bounded retries and timeouts, plain HTTP only to loopback unless allowed.
pub fn s3_store(settings: &S3Settings, secret_access_key: &str) -> Result<AmazonS3> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        .with_access_key_id(&settings.access_key_id)
        .with_secret_access_key(secret_access_key)
        .with_virtual_hosted_style_request(!settings.path_style)
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        })
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(10))
                .with_timeout(Duration::from_secs(120)),
        );
    if settings.server_side_encryption.unwrap_or(true) {
        // object_store exposes SSE only through its configuration keys.
        let key: AmazonS3ConfigKey = "aws_server_side_encryption"
            .parse()
            .map_err(|e| Error::new(ErrorCode::Internal, format!("Unknown S3 setting: {e}")))?;
        builder = builder.with_config(key, "AES256");
    }
    // Targets saved before plain HTTP needed saying so are refused here, not silently used.
    if let Some(refusal) = settings.plain_http_refusal() {
        return Err(refusal);
    }
    let plain_http = settings
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint).with_allow_http(plain_http);
    }
    // Over TLS the transport already protects the body, so signing it would only hash every
    // stored byte once more (as the AWS SDKs also decide); plain HTTP keeps the signature.
    builder = builder.with_unsigned_payload(!plain_http);
    // Every upload carries its SHA-256 (each part's, for a multipart one), which the server
    // checks before it stores the object: what it keeps is what was sent, without reading it
    // back. Servers that do not know the header ignore it.
    builder = builder.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
    builder.build().map_err(|e| {
        Error::new(
            ErrorCode::StorageError,
            format!("The S3 settings are not usable: {e}"),
        )
    })
}

/// An opened target: a store plus the key prefix under which Lifeboat writes.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// The same store through its low-level multipart API, where it has one (S3).
    multipart: Option<Arc<AmazonS3>>,
    prefix: Path,
    attributes: Attributes,
    /// For a local folder: where it is, so cleanup can also remove unfinished temporary files
    /// (which object_store's listing hides) and empty directories.
    local_root: Option<std::path::PathBuf>,
}

impl Storage {
    pub fn local(dir: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::new(
                ErrorCode::StorageError,
                format!("Cannot create the storage folder {}: {e}", dir.display()),
            )
        })?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| map_store_error(e, &dir.display().to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            multipart: None,
            prefix: Path::default(),
            attributes: Attributes::new(),
            local_root: Some(dir.to_path_buf()),
        })
    }

    pub fn s3(settings: &S3Settings, secret_access_key: &str) -> Result<Self> {
        let store = Arc::new(s3_store(settings, secret_access_key)?);
        let mut attributes = Attributes::new();
        if !settings.storage_class.is_empty() {
            attributes.insert(
                Attribute::StorageClass,
                settings.storage_class.clone().into(),
            );
        }
        Ok(Self {
            store: store.clone(),
            multipart: Some(store),
            prefix: Path::from(settings.prefix.trim_matches('/')),
            attributes,
            local_root: None,
        })
    }

    fn key(&self, name: &str) -> Path {
        let mut key = self.prefix.clone();
        for part in name.split('/').filter(|p| !p.is_empty()) {
            key = key.join(part);
        }
        key
    }

    pub async fn put(&self, name: &str, body: Vec<u8>) -> Result<()> {
        self.put_with(name, body, self.attributes.clone()).await
    }

    /// Small objects read on every listing (manifests) stay in the default storage class, so
    /// an archival class on the target never makes them slow or costly to read.
    pub async fn put_manifest(&self, name: &str, body: Vec<u8>) -> Result<()> {
        self.put_with(name, body, Attributes::new()).await
    }

    async fn put_with(&self, name: &str, body: Vec<u8>, attributes: Attributes) -> Result<()> {
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&self.key(name), PutPayload::from(body), options)
            .await
            .map(drop)
            .map_err(|e| map_store_error(e, &format!("writing {name}")))
    }

    pub async fn get(&self, name: &str) -> Result<bytes::Bytes> {
        let read = async { self.store.get(&self.key(name)).await?.bytes().await };
        read.await
            .map_err(|e| map_store_error(e, &format!("reading {name}")))
    }

    /// An object, or `None` when there is none by that name.
    pub async fn get_optional(&self, name: &str) -> Result<Option<bytes::Bytes>> {
        let read = async { self.store.get(&self.key(name)).await?.bytes().await };
        match read.await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(map_store_error(e, &format!("reading {name}"))),
        }
    }

    /// Some bytes of an object.
    pub async fn get_range(&self, name: &str, range: std::ops::Range<u64>) -> Result<bytes::Bytes> {
        self.store
            .get_range(&self.key(name), range)
            .await
            .map_err(|e| map_store_error(e, &format!("reading {name}")))
    }

    /// A streaming reader of an object and its size, for reading large artifacts back. Once
    /// `cancel` fires, reads fail at once, even while the network is stalled.
    pub async fn reader(
        &self,
        name: &str,
        cancel: &CancellationToken,
    ) -> Result<(u64, impl tokio::io::AsyncRead + Send + Unpin + use<>)> {
        use futures_util::{StreamExt, TryStreamExt};
        let got = self
            .store
            .get(&self.key(name))
            .await
            .map_err(|e| map_store_error(e, &format!("reading {name}")))?;
        let size = got.meta.size;
        let chunks = got.into_stream().map_err(std::io::Error::other);
        let stream = futures_util::stream::unfold(
            (chunks, cancel.clone()),
            |(mut chunks, cancel)| async move {
                let next = tokio::select! {
                    biased;
                    () = cancel.cancelled() => Some(Err(std::io::Error::other("cancelled"))),
                    next = chunks.next() => next,
                };
                next.map(|item| (item, (chunks, cancel)))
            },
        );
        Ok((size, tokio_util::io::StreamReader::new(Box::pin(stream))))
    }

    /// Names (relative to `dir`) of every object under `dir`.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>> {
        Ok(self
            .list_sizes(dir)
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Names (relative to `dir`) and sizes of every object under `dir`.
    pub async fn list_sizes(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        use futures_util::TryStreamExt;
        let base = self.key(dir);
        let objects: Vec<_> = self
            .store
            .list(Some(&base))
            .try_collect()
            .await
            .map_err(|e| map_store_error(e, &format!("listing {dir}")))?;
        Ok(objects
            .into_iter()
            .filter_map(|o| {
                let name = o.location.prefix_match(&base).map(|parts| {
                    parts
                        .map(|p| p.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                })?;
                Some((name, o.size))
            })
            .collect())
    }

    /// Deletes one object; one that is not there is already deleted.
    pub async fn delete(&self, name: &str) -> Result<()> {
        match self.store.delete(&self.key(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_store_error(e, &format!("deleting {name}"))),
        }
    }

    /// Deletes every object under `dir`, the manifest first, so a cleanup cut short never
    /// leaves a commit marker beside missing artifacts.
    pub async fn delete_dir(&self, dir: &str) -> Result<()> {
        let mut names = self.list(dir).await?;
        names.sort_by_key(|n| n != lifeboat_format::layout::MANIFEST_FILE);
        for name in names {
            self.delete(&lifeboat_format::layout::object_key(dir, &name))
                .await?;
        }
        if let Some(root) = &self.local_root {
            let path = root.join(dir);
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::new(
                        ErrorCode::StorageError,
                        format!("Cannot remove {}: {e}", path.display()),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Lists the prefix, then writes, reads back and deletes a probe object: everything backups
    /// will need, known to work before one depends on it.
    pub async fn probe(&self) -> Result<()> {
        // Listing first: some S3 servers create a missing bucket on write, none on list.
        self.store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| map_store_error(e, "listing the target"))?;
        let key = self.key(&format!(".lifeboat-probe-{}", uuid::Uuid::new_v4()));
        let body = format!("lifeboat probe {key}");
        let options = PutOptions {
            attributes: self.attributes.clone(),
            ..PutOptions::default()
        };
        self.store
            .put_opts(&key, PutPayload::from(body.clone()), options)
            .await
            .map_err(|e| map_store_error(e, "writing a probe object"))?;
        let read = async {
            let got = self.store.get(&key).await?.bytes().await?;
            Ok::<_, object_store::Error>(got)
        }
        .await;
        let deleted = self.store.delete(&key).await;
        let got = read.map_err(|e| map_store_error(e, "reading the probe object back"))?;
        if got != body.as_bytes() {
            return Err(Error::new(
                ErrorCode::StorageError,
                "The probe object read back differs from what was written.",
            ));
        }
        deleted.map_err(|e| map_store_error(e, "deleting the probe object"))
    }
}
