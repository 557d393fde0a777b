//! Restores: a backup's database and/or media into any environment, safely. In order: checks
//! that can fail without touching anything (versions, tools, key, space), a safety backup of
//! the destination, then both artifacts streamed from storage and checked against the
//! manifest while pg_restore works inside its transaction and the media lands in a staging
//! directory; only when both have matched does the job pass its point of no return (commit,
//! then swap). Checks of the restored database end it.

mod bucket_media;
pub mod database;
pub mod media;
pub mod plan;
mod server_media;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connection::PgConnectionInput;
use crate::context::Context;
use crate::environments::Environment;
use crate::error::{Error, ErrorCode, Result};
use crate::hooks::HookPhase;
use crate::jobs::{Job, JobOutcome, JobRequest, Lane};
use crate::model::backup::BackupRequest;
pub use crate::model::restore::RestorePreview;
pub use crate::model::restore::RestoreRequest;
pub use crate::model::restore::RestoreSummary;
use crate::model::setup::MediaBucket;
use crate::model::verify::VerifyCheck;
use crate::postgres::toc;
use crate::repository::{Plaintext, ProvenArtifact, StoredBackup};
use crate::running::{blocking, finished, produced, JobSpec};
pub use database::DatabaseRestoreSummary;
use lifeboat_format::manifest::{BackupKind, DatabasePart};
use lifeboat_format::read::ArtifactReader;
pub use media::MediaRestoreSummary;
pub use plan::DatabaseRestorePlan;

/// Environments whose names say they serve real users.
fn looks_like_production(name: &str) -> bool {
    let name = name.to_lowercase();
    name.starts_with("prod") || name == "live" || name == "main"
}

/// Everything a restore needs, gathered before anything changes.
struct Plan {
    source: StoredBackup,
    database: Option<DatabaseTarget>,
    /// The media artifact's tree, proven, when it is deduplicated.
    media_tree: Option<ProvenArtifact>,
    media_dir: Option<MediaDest>,
    privileges: bool,
    keep_replaced_media: bool,
}

/// Where the media goes.
enum MediaDest {
    Local(PathBuf),
    /// A media bucket's prefix, its key proven able to write.
    Bucket(crate::media_bucket::BucketMedia),
    /// A directory on the environment's server, over this session until the restore ends.
    Server {
        dir: String,
        session: Box<crate::ssh::SshSession>,
    },
}

impl Plan {
    /// The media artifact's plaintext, through the tree proven while planning when it is
    /// deduplicated (read from storage once however often the media is read).
    async fn open_media(
        &self,
        artifact: &lifeboat_format::artifact::ArtifactInfo,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<lifeboat_format::read::ArtifactReader> {
        match &self.media_tree {
            Some(proven) => proven.open(progress),
            None => {
                let opened = self
                    .source
                    .open(artifact, progress, cancel, Plaintext::Unhashed);
                opened.await
            }
        }
    }
}

impl MediaDest {
    /// What is recorded for a repair after a crash: a local path (always absolute), or the
    /// server and directory on lines of their own.
    fn recorded(&self) -> Option<String> {
        match self {
            Self::Local(dir) => Some(dir.display().to_string()),
            Self::Server { dir, session } => Some(format!("ssh\n{}\n{dir}", session.server())),
            // Nothing is staged beside a bucket: an interrupted restore is completed by running
            // it again.
            Self::Bucket(_) => None,
        }
    }
}

/// Where a dump goes, with what pg_restore will leave out there.
struct DatabaseTarget {
    connection: PgConnectionInput,
    /// The SSH connection `connection` goes through, open until the restore ends.
    tunnel: Option<crate::ssh::SshSession>,
    pg_restore: PathBuf,
    /// The dump, proven to be what the manifest says before pg_restore sees a byte of it.
    dump: ProvenArtifact,
    toc: toc::Toc,
    decision: plan::Decision,
}

impl Context {
    pub async fn restore_preview(
        &self,
        backup_id: &str,
        environment_id: &str,
    ) -> Result<RestorePreview> {
        let record = self.catalog().backup(backup_id).await?;
        let env = self.catalog().environment(environment_id).await?;
        let app = self.catalog().application(&env.application_id).await?;
        let same_environment = record.manifest.environment.id == env.id;
        Ok(RestorePreview {
            application_name: app.name,
            requires_typed_confirmation: !same_environment || looks_like_production(&env.name),
            same_environment,
            database: env
                .connection
                .as_ref()
                .map(|c| format!("{} on {}:{}", c.database, c.host, c.port)),
            media_dir: env
                .media_dir
                .clone()
                .or(env.media_bucket.as_ref().map(MediaBucket::url)),
            environment_name: env.name,
        })
    }

    pub async fn restore_database_plan(
        &self,
        backup_id: &str,
        environment_id: &str,
    ) -> Result<DatabaseRestorePlan> {
        let source = self.open_backup(backup_id).await?;
        let env = self.catalog().environment(environment_id).await?;
        let part = source
            .record
            .manifest
            .database
            .as_ref()
            .ok_or_else(|| Error::validation("database", "This backup has no database."))?;
        if env.connection.is_none() {
            return Err(Error::validation(
                "database",
                format!("{} has no database connection to restore into.", env.name),
            ));
        }
        let reached = self.reach_database(&env.id).await?;
        let connection = reached.connection;
        let pg_restore = self.restore_tool(part, &connection, &env.name).await?;
        let never = CancellationToken::new();
        // Only the table of contents is read, by `pg_restore --list`, which runs nothing and
        // connects nowhere: a preview need not fetch the whole dump. The restore itself reads
        // nothing before the dump is proven.
        let uncounted = Arc::new(AtomicU64::new(0));
        let dump = source
            .open(&part.artifact, &uncounted, &never, Plaintext::Unhashed)
            .await?;
        let (_, decision) = self
            .decide_database(dump, &connection, &pg_restore, &never)
            .await?;
        Ok(decision.plan)
    }

    /// Reads the dump's table of contents (only the start of the artifact) and decides what
    /// restoring it into `connection` does.
    pub(crate) async fn decide_database(
        &self,
        mut reader: ArtifactReader,
        connection: &PgConnectionInput,
        pg_restore: &Path,
        cancel: &CancellationToken,
    ) -> Result<(toc::Toc, plan::Decision)> {
        let (tool, stop) = (pg_restore.to_path_buf(), cancel.clone());
        let toc = blocking(move || toc::read(&tool, &mut reader, &stop)).await?;
        let destination = plan::Destination::inspect(connection).await?;
        let decision = plan::decide(&toc, &destination, &connection.database);
        Ok((toc, decision))
    }

    pub async fn start_restore(&self, request: &RestoreRequest) -> Result<Job> {
        Ok(self.spawn_restore(request).await?.0)
    }

    pub async fn restore(&self, request: &RestoreRequest) -> Result<RestoreSummary> {
        finished(self.spawn_restore(request).await?.1).await
    }

    async fn spawn_restore(
        &self,
        request: &RestoreRequest,
    ) -> Result<(Job, JoinHandle<Result<RestoreSummary>>)> {
        let env = self.check_restore_request(request).await?;
        let spec: JobSpec<RestoreSummary> = JobSpec {
            environment_id: env.id.clone(),
            lane: Lane::Environment(env.id.clone()),
            request: JobRequest::Restore(request.clone()),
            record: |outcome| produced(outcome, JobOutcome::Restore),
        };
        let request = request.clone();
        self.start_job(spec, move |this, job_id, cancel| async move {
            this.run_restore(&job_id, &request, &cancel).await
        })
        .await
    }

    /// A restore cut off by a crash: its media staging removed, or a swap it was in the
    /// middle of finished or undone.
    pub(crate) async fn repair_interrupted_restore(&self, job_id: &str, local: &str) -> Result<()> {
        if let Some(("ssh", rest)) = local.split_once('\n') {
            let (server, dir) = rest.split_once('\n').unwrap_or((rest, ""));
            let session = self.connect_server(server).await?;
            let mut recover = server_media::recover_command(&session, dir, job_id);
            let out =
                blocking(move || Ok(recover.stdin(std::process::Stdio::null()).output()?)).await?;
            if !out.status.success() {
                return Err(Error::new(
                    ErrorCode::SshFailed,
                    format!(
                        "Cannot put {dir} on {server} right: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                ));
            }
            return Ok(());
        }
        let (id, local) = (job_id.to_owned(), PathBuf::from(local));
        blocking(move || media::recover(&local, &id)).await
    }

    /// The checks a person would want before confirming; returns the destination.
    async fn check_restore_request(&self, request: &RestoreRequest) -> Result<Environment> {
        if !request.database && !request.media {
            return Err(Error::validation(
                "what",
                "Choose the database, the media or both.",
            ));
        }
        let record = self.catalog().backup(&request.backup_id).await?;
        let env = self.catalog().environment(&request.environment_id).await?;
        if request.database && record.manifest.database.is_none() {
            return Err(Error::validation(
                "database",
                "This backup has no database.",
            ));
        }
        if request.media && record.manifest.media.is_none() {
            return Err(Error::validation("media", "This backup has no media."));
        }
        if request.database && env.connection.is_none() {
            return Err(Error::validation(
                "database",
                format!("{} has no database connection to restore into.", env.name),
            ));
        }
        if request.media && !env.has_media() {
            return Err(Error::validation(
                "media",
                format!(
                    "{} has no media directory or bucket to restore into.",
                    env.name
                ),
            ));
        }
        let preview = self.restore_preview(&record.id, &env.id).await?;
        if preview.requires_typed_confirmation
            && request.confirmation.as_deref().map(str::trim) != Some(env.name.as_str())
        {
            return Err(Error::validation(
                "confirmation",
                format!(
                    "Type {} to confirm that its current content will be overwritten.",
                    env.name
                ),
            ));
        }
        Ok(env)
    }

    async fn run_restore(
        &self,
        job_id: &str,
        request: &RestoreRequest,
        cancel: &CancellationToken,
    ) -> Result<RestoreSummary> {
        let started = std::time::Instant::now();
        self.set_phase(job_id, "checking", 0, true).await?;
        let plan = tokio::select! {
            _ = cancel.cancelled() => return Err(Error::cancelled()),
            plan = self.plan_restore(job_id, request, cancel) => plan?,
        };
        // Everything that can fail without touching anything has passed: the environment's
        // before-restore hook (maintenance mode on) runs now, before the safety backup.
        let hooks = (HookPhase::BeforeRestore, HookPhase::AfterRestore);
        let restore = async {
            let safety_backup_id = if request.safety_backup {
                self.set_phase(job_id, "safety-backup", 0, true).await?;
                Some(self.safety_backup(request, &plan, cancel).await?)
            } else {
                None
            };
            if let Some(recorded) = plan.media_dir.as_ref().and_then(MediaDest::recorded) {
                self.catalog()
                    .set_job_local_dir(job_id, Some(&recorded))
                    .await?;
            }
            let outcome = self.restore_artifacts(job_id, &plan, cancel).await.map(
                |(database, media, checks)| RestoreSummary {
                    backup_id: plan.source.record.id.clone(),
                    safety_backup_id,
                    database,
                    media,
                    checks,
                    duration_ms: started.elapsed().as_millis() as u64,
                },
            );
            if plan
                .media_dir
                .as_ref()
                .and_then(MediaDest::recorded)
                .is_some()
            {
                self.catalog().set_job_local_dir(job_id, None).await?;
            }
            outcome
        };
        self.with_hooks(job_id, &request.environment_id, hooks, cancel, restore)
            .await
    }

    async fn plan_restore(
        &self,
        job_id: &str,
        request: &RestoreRequest,
        cancel: &CancellationToken,
    ) -> Result<Plan> {
        let source = self.open_backup(&request.backup_id).await?;
        let record = &source.record;
        let env = self.catalog().environment(&request.environment_id).await?;
        let settings = self.settings().await?;
        // A fetch is blocking work that dropping its future does not stop: whichever part of the
        // planning fails first stops it.
        let stop_fetch = cancel.child_token();
        let database = async {
            let target = match (&record.manifest.database, request.database) {
                (Some(part), true) => {
                    // The destination is reached while the dump is fetched: the first to fail
                    // stops the other.
                    let reach = async {
                        let reached = self.reach_database(&env.id).await?;
                        let pg_restore = self
                            .restore_tool(part, &reached.connection, &env.name)
                            .await?;
                        Ok::<_, Error>((reached, pg_restore))
                    };
                    let fetch = self.fetch_dump(job_id, &source, part, &stop_fetch);
                    let ((reached, pg_restore), dump) = tokio::try_join!(reach, fetch)?;
                    let connection = reached.connection;
                    // Not counted as the job's progress: the restore reads these bytes again.
                    let uncounted = Arc::new(AtomicU64::new(0));
                    let (toc, decision) = self
                        .decide_database(dump.open(&uncounted)?, &connection, &pg_restore, cancel)
                        .await?;
                    if let Some(refusal) = decision.plan.refusal() {
                        return Err(refusal);
                    }
                    Some(DatabaseTarget {
                        connection,
                        tunnel: reached.session,
                        pg_restore,
                        dump,
                        toc,
                        decision,
                    })
                }
                _ => None,
            };
            Ok::<_, Error>(target)
        };
        // A deduplicated media artifact's tree is read and proven meanwhile too: the media is
        // the longer of the two to restore, and its tree the first thing it needs.
        let media_tree = async {
            match (&record.manifest.media, request.media) {
                (Some(part), true) if part.artifact.chunked.is_some() => {
                    let uncounted = Arc::new(AtomicU64::new(0));
                    let proven = source.fetch_proven(&part.artifact, &uncounted, cancel);
                    proven.await.map(Some)
                }
                _ => Ok(None),
            }
        };
        let planned = tokio::try_join!(database, media_tree);
        if planned.is_err() {
            stop_fetch.cancel();
        }
        let (database, media_tree) = planned?;
        let bucket = match (&record.manifest.media, request.media) {
            (Some(_), true) => self.open_media_bucket(&env).await?,
            _ => None,
        };
        let media_dir = if let Some(bucket) = bucket {
            // A key that may not write is refused before anything changes.
            bucket.probe_write().await?;
            Some(MediaDest::Bucket(bucket))
        } else {
            match (&record.manifest.media, request.media, &env.server) {
                (Some(part), true, Some(server)) => {
                    let session = self.connect_server(server).await?;
                    let dir = env.media_dir.clone().unwrap_or_default();
                    server_media::ensure_space(&session, &dir, job_id, part.total_bytes).await?;
                    Some(MediaDest::Server {
                        dir,
                        session: Box::new(session),
                    })
                }
                (Some(part), true, None) => {
                    let dir = PathBuf::from(env.media_dir.clone().unwrap_or_default());
                    let parent = dir.parent().unwrap_or(&dir).to_path_buf();
                    let existing = parent
                        .ancestors()
                        .find(|p| p.exists())
                        .unwrap_or(&parent)
                        .to_path_buf();
                    crate::disk::ensure_space(&existing, part.total_bytes)?;
                    Some(MediaDest::Local(dir))
                }
                _ => None,
            }
        };
        Ok(Plan {
            source,
            database,
            media_tree,
            media_dir,
            privileges: settings.restore_privileges,
            keep_replaced_media: settings.keep_replaced_media,
        })
    }

    /// Fetches the dump and proves it, as the job's "fetching" phase with its own progress. A
    /// deduplicated dump is proven as it streams, so only its tree is read here.
    pub(crate) async fn fetch_dump(
        &self,
        job_id: &str,
        source: &StoredBackup,
        part: &DatabasePart,
        cancel: &CancellationToken,
    ) -> Result<ProvenArtifact> {
        if part.artifact.chunked.is_some() {
            let uncounted = Arc::new(AtomicU64::new(0));
            return source
                .fetch_proven(&part.artifact, &uncounted, cancel)
                .await;
        }
        let total = part.artifact.stored_bytes;
        self.set_phase(job_id, "fetching", total, true).await?;
        let progress = Arc::new(AtomicU64::new(0));
        let ticker = self.report_progress(job_id, total, progress.clone());
        let dump = source.fetch_proven(&part.artifact, &progress, cancel).await;
        drop(ticker);
        dump
    }

    /// Backs up what the restore will overwrite; the restore does not start unless it succeeds.
    async fn safety_backup(
        &self,
        request: &RestoreRequest,
        plan: &Plan,
        cancel: &CancellationToken,
    ) -> Result<String> {
        // A media directory that does not exist yet holds nothing to lose.
        let media = match &plan.media_dir {
            None => false,
            Some(MediaDest::Local(dir)) => dir.exists(),
            Some(MediaDest::Bucket(_)) => true,
            Some(MediaDest::Server { dir, session }) => {
                let on_server = crate::media::ServerDir { session, dir };
                match on_server.stats().await {
                    Ok(_) => true,
                    Err(e) if e.code == ErrorCode::MediaDirMissing => false,
                    Err(e) => return Err(e),
                }
            }
        };
        let backup = BackupRequest {
            environment_id: request.environment_id.clone(),
            database: plan.database.is_some(),
            media,
            note: Some(format!("before restore of {}", plan.source.record.id)),
            kind: BackupKind::Safety,
            full_rescan: false,
        };
        if !backup.database && !backup.media {
            return Err(Error::new(
                ErrorCode::SafetyBackupFailed,
                "There is nothing at the destination to back up; restore without a safety backup.",
            ));
        }
        match self.backup_within(&backup, cancel).await {
            Ok(manifest) => Ok(manifest.backup_id),
            Err(e) if e.code == ErrorCode::Cancelled => Err(e),
            Err(e) => Err(Error::new(
                ErrorCode::SafetyBackupFailed,
                format!(
                    "The safety backup of the destination failed, so nothing was restored: {}",
                    e.message
                ),
            )),
        }
    }

    async fn restore_artifacts(
        &self,
        job_id: &str,
        plan: &Plan,
        cancel: &CancellationToken,
    ) -> Result<(
        Option<DatabaseRestoreSummary>,
        Option<MediaRestoreSummary>,
        Vec<VerifyCheck>,
    )> {
        let manifest = &plan.source.record.manifest;
        let db_part = plan.database.as_ref().and(manifest.database.as_ref());
        let media_part = plan.media_dir.as_ref().and(manifest.media.as_ref());
        let bytes_total = db_part.map_or(0, |p| p.artifact.stored_bytes)
            + media_part.map_or(0, |p| p.artifact.stored_bytes);
        self.set_phase(job_id, "restoring", bytes_total, true)
            .await?;
        let progress = Arc::new(AtomicU64::new(0));
        let ticker = self.report_progress(job_id, bytes_total, progress.clone());
        // The first part to fail stops the other.
        let stop = cancel.child_token();
        let staged_database = async {
            let (Some(part), Some(target)) = (db_part, &plan.database) else {
                return Ok(None);
            };
            let reader = target.dump.open(&progress)?;
            let (connection, pg_restore) = (target.connection.clone(), target.pg_restore.clone());
            let (toc, decision) = (target.toc.clone(), target.decision.clone());
            let options = database::Options {
                privileges: plan.privileges,
                owners: false,
                tablespaces: true,
            };
            let info = part.artifact.clone();
            let cancel = stop.clone();
            let staged = blocking(move || {
                database::stage(
                    &pg_restore,
                    &connection,
                    &options,
                    &toc,
                    &decision,
                    reader,
                    &info,
                    &cancel,
                )
            })
            .await;
            match (staged, &target.tunnel) {
                (Ok(staged), _) => {
                    tracing::debug!(job = job_id, "database staged");
                    Ok(Some(staged))
                }
                (Err(e), tunnel) => {
                    stop.cancel();
                    Err(match tunnel {
                        Some(tunnel) => tunnel.explain(e).await,
                        None => e,
                    })
                }
            }
        };
        let staged_media = async {
            let (Some(part), Some(dest)) = (media_part, &plan.media_dir) else {
                return Ok(None);
            };
            let reader = plan.open_media(&part.artifact, &progress, &stop).await?;
            let info = part.artifact.clone();
            let cancel = stop.clone();
            let staged = match dest {
                MediaDest::Local(dir) => {
                    let (dir, job_id) = (dir.clone(), job_id.to_owned());
                    blocking(move || media::stage(reader, &info, &dir, &job_id, &cancel))
                        .await
                        .map(Staged::Local)
                }
                MediaDest::Bucket(_) => {
                    blocking(move || bucket_media::check(reader, &info, &cancel))
                        .await
                        .map(Staged::Bucket)
                }
                MediaDest::Server { dir, session } => {
                    let commands = server_media::commands(session, dir, job_id);
                    let staged =
                        blocking(move || server_media::stage(reader, &info, commands, &cancel))
                            .await;
                    match staged {
                        Ok(staged) => Ok(Staged::Server(staged)),
                        Err(e) => Err(session.explain(e).await),
                    }
                }
            };
            tracing::debug!(job = job_id, ok = staged.is_ok(), "media staged");
            staged.map(Some).inspect_err(|_| stop.cancel())
        };
        let (staged_database, staged_media) = tokio::join!(staged_database, staged_media);
        drop(ticker);
        let (staged_database, staged_media) = match (staged_database, staged_media) {
            (Ok(d), Ok(m)) => (d, m),
            _ if cancel.is_cancelled() => return Err(Error::cancelled()),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
            (Err(a), Err(b)) => {
                return Err(
                    if a.code == ErrorCode::Cancelled && !cancel.is_cancelled() {
                        b
                    } else {
                        a
                    },
                )
            }
        };
        if !self.jobs().seal(job_id) {
            return Err(Error::cancelled());
        }
        self.set_phase(job_id, "committing", 0, false).await?;
        // Media staged here is flushed to disk while the database commits: the swap waits for
        // both, and neither waits for the other.
        let flushed = async {
            match staged_media {
                Some(Staged::Local(staged)) => blocking(move || staged.flush().map(|()| staged))
                    .await
                    .inspect(|_| tracing::debug!(job = job_id, "media flushed"))
                    .map(|staged| Some(Staged::Local(staged))),
                other => Ok(other),
            }
        };
        let committed = async {
            match staged_database {
                Some(pending) => blocking(move || pending.commit())
                    .await
                    .map(Some)
                    .inspect(|_| tracing::debug!(job = job_id, "database committed")),
                None => Ok(None),
            }
        };
        let (flushed, committed) = tokio::join!(flushed, committed);
        let mut checks = Vec::new();
        let mut database_summary = None;
        if let Some(contents) = committed? {
            let connection = &plan
                .database
                .as_ref()
                .expect("a staged database has a plan")
                .connection;
            self.set_phase(job_id, "checking-restored", 0, false)
                .await?;
            let (summary, database_checks) = database::check(connection, &contents).await?;
            database_summary = Some(summary);
            checks.extend(database_checks);
        }
        let media_not_restored = |e: Error| {
            if database_summary.is_some() {
                Error::new(
                    e.code,
                    format!(
                        "The database was restored, but the media was not: {}",
                        e.message
                    ),
                )
            } else {
                e
            }
        };
        let media_summary = match flushed.map_err(media_not_restored)? {
            Some(staged) => {
                let keep = plan.keep_replaced_media;
                let files = staged.files();
                let swapped = match (staged, &plan.media_dir) {
                    (Staged::Server(staged), Some(MediaDest::Server { dir, session })) => {
                        let swap = server_media::swap_command(session, dir, job_id, keep);
                        blocking(move || staged.swap(swap)).await
                    }
                    (Staged::Local(staged), _) => blocking(move || staged.swap(keep)).await,
                    (Staged::Bucket(proven), Some(MediaDest::Bucket(bucket))) => {
                        let part = media_part.expect("a staged media has its part");
                        self.set_phase(job_id, "writing-bucket", part.artifact.stored_bytes, true)
                            .await?;
                        let uncounted = Arc::new(AtomicU64::new(0));
                        let plain = plan
                            .open_media(&part.artifact, &uncounted, &CancellationToken::new())
                            .await?;
                        bucket_media::apply(bucket, proven, plain, &part.artifact).await
                    }
                    (Staged::Server(_) | Staged::Bucket(_), _) => {
                        unreachable!("staged for a server or bucket only for one")
                    }
                };
                let summary = swapped.map_err(media_not_restored)?;
                checks.push(VerifyCheck {
                    name: "media".into(),
                    ok: true,
                    detail: format!("{files} files match the manifest and are in place"),
                });
                Some(summary)
            }
            None => None,
        };
        Ok((database_summary, media_summary, checks))
    }
}

/// Media staged for the swap, here or on the environment's server, or proven for writing into
/// a bucket.
enum Staged {
    Local(media::StagedMedia),
    Server(server_media::StagedOnServer),
    Bucket(bucket_media::Proven),
}

impl Staged {
    fn files(&self) -> u64 {
        match self {
            Self::Local(staged) => staged.files(),
            Self::Server(staged) => staged.files(),
            Self::Bucket(proven) => proven.files(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_names_need_typing() {
        for name in ["production", "prod", "Prod-EU", "live", "main"] {
            assert!(looks_like_production(name), "{name}");
        }
        for name in ["staging", "dev", "mainline-test", "preview"] {
            assert!(!looks_like_production(name), "{name}");
        }
    }
}
