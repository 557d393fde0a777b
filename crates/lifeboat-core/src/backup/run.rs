//! Running a backup: claim the environment, stream each artifact, commit the manifest, record
//! it. Any failure aborts uploads and removes what was written, so only committed backups are
//! ever listed; what cannot be removed right away is retried at the next start.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::deduplicated::Dedup;
use super::{database, media, writer_error, BackupEntry, BackupRequest};
use crate::catalog::new_id;
use crate::context::Context;
use crate::error::{Error, ErrorCode, Result};
use crate::hooks::HookPhase;
use crate::jobs::{Job, JobRequest, JobStatus, Lane};
use crate::media::ServerDir;
use crate::repository::chunks::Chunks;
use crate::repository::{Encoding, NewBackup, Place};
use crate::running::{finished, nothing_produced, JobSpec};
use crate::storage::Storage;
use lifeboat_format::authentication::ManifestKey;
use lifeboat_format::layout::{
    backup_dir, DATABASE_FILE, DATABASE_TREE_FILE, GLOBALS_FILE, MEDIA_FILE, MEDIA_TREE_FILE,
};
use lifeboat_format::manifest::{
    BackupManifest, Compression, DatabasePart, Encryption, GlobalsPart, MediaPart, NamedRef,
    FORMAT_VERSION,
};

impl Context {
    pub async fn start_backup(&self, request: &BackupRequest) -> Result<Job> {
        Ok(self.spawn_backup(request).await?.0)
    }

    pub async fn backup(&self, request: &BackupRequest) -> Result<BackupManifest> {
        finished(self.spawn_backup(request).await?.1).await
    }

    pub async fn list_backups(&self, environment_id: &str) -> Result<Vec<BackupEntry>> {
        let mut backups = self.catalog().backups_of(environment_id).await?;
        let jobs = self.catalog().jobs_of(environment_id).await?;
        Ok(jobs
            .into_iter()
            .filter(|j| matches!(j.request, JobRequest::Backup(_)))
            .filter_map(|job| {
                let at = backups
                    .iter()
                    .position(|b| b.job_id.as_deref() == Some(job.id.as_str()));
                let backup = at.map(|i| backups.swap_remove(i));
                // A run whose backup retention has since deleted is history, not a backup.
                let pruned = backup.is_none() && job.status == JobStatus::Succeeded;
                (!pruned).then_some(BackupEntry { backup, job })
            })
            .collect())
    }

    pub(crate) async fn spawn_backup(
        &self,
        request: &BackupRequest,
    ) -> Result<(Job, JoinHandle<Result<BackupManifest>>)> {
        let request = self.check_backup_request(request).await?;
        let (job, running) = self
            .start_job(
                backup_job(&request),
                move |this, job_id, cancel| async move {
                    let hooks = (HookPhase::BeforeBackup, HookPhase::AfterBackup);
                    let backup = async {
                        let manifest = this.run_backup(&job_id, &request, &cancel).await?;
                        this.verify_after_backup(&job_id, &manifest.backup_id, &cancel)
                            .await;
                        Ok(manifest)
                    };
                    this.with_hooks(&job_id, &request.environment_id, hooks, &cancel, backup)
                        .await
                },
            )
            .await?;
        let (this, environment_id) = (self.clone(), job.environment_id.clone());
        let running = tokio::spawn(async move {
            let outcome = finished(running).await;
            // Retention follows every backup once its lane is free; a failure to prune never
            // fails the backup.
            if outcome.is_ok() {
                if let Err(e) = this.prune(&environment_id, false).await {
                    tracing::warn!(
                        environment_id,
                        "retention after the backup failed: {}",
                        e.message
                    );
                }
            }
            outcome
        });
        Ok((job, running))
    }

    /// Reads a just-made backup back when the setting asks for it; the outcome is recorded on
    /// the backup (a failed verification does not undo the backup, it marks it). Cancelling the
    /// backup here stops the verification; the backup stays, unverified.
    async fn verify_after_backup(&self, job_id: &str, backup_id: &str, cancel: &CancellationToken) {
        let wanted = self
            .settings()
            .await
            .map_or(true, |s| s.verify_after_backup);
        if !wanted {
            return;
        }
        if let Err(e) = self.set_phase(job_id, "verifying", 0, false).await {
            tracing::warn!(job_id, "cannot show the verification: {}", e.message);
        }
        match self.verify_stored(backup_id, true, cancel).await {
            Ok(report) if !report.ok => {
                tracing::warn!(backup_id, "the new backup failed verification")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(backup_id, "cannot verify the new backup: {}", e.message),
        }
    }

    /// A backup run as part of another job that already holds the environment (a restore's
    /// safety backup); it is recorded as a backup job of its own.
    pub(crate) async fn backup_within(
        &self,
        request: &BackupRequest,
        cancel: &CancellationToken,
    ) -> Result<BackupManifest> {
        let request = self.check_backup_request(request).await?;
        self.run_within(backup_job(&request), |job_id| async move {
            self.run_backup(&job_id, &request, cancel).await
        })
        .await
    }

    /// The request as it will run, or why it cannot.
    async fn check_backup_request(&self, request: &BackupRequest) -> Result<BackupRequest> {
        if !request.database && !request.media {
            return Err(Error::validation(
                "what",
                "Choose the database, the media or both.",
            ));
        }
        let env = self.catalog().environment(&request.environment_id).await?;
        if request.database && env.connection.is_none() {
            return Err(Error::validation(
                "database",
                "This environment has no database connection yet.",
            ));
        }
        if request.media && !env.has_media() {
            return Err(Error::validation(
                "media",
                "This environment has no media directory yet.",
            ));
        }
        let mut request = request.clone();
        request.note = request
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        Ok(request)
    }

    async fn run_backup(
        &self,
        job_id: &str,
        request: &BackupRequest,
        cancel: &CancellationToken,
    ) -> Result<BackupManifest> {
        // Preparing waits on the keyring, the database server and a walk of the media tree;
        // any of them can be slow, and nothing has been written yet, so cancel may drop it.
        let Prepared {
            env,
            app,
            target,
            storage,
            recipient,
            manifest_key,
            zstd_level,
            database_plan,
            media_root,
            media_bytes,
            dedup,
            earlier_media,
        } = tokio::select! {
            _ = cancel.cancelled() => return Err(Error::cancelled()),
            prepared = self.prepare_backup(request) => prepared?,
        };
        let started = chrono::Utc::now();
        let backup_id = format!("{}-{}", started.format("%Y%m%dT%H%M%SZ"), &new_id()[..8]);
        let dir = backup_dir(&app.name, &env.name, &backup_id);
        let database_bytes = database_plan
            .as_ref()
            .map_or(0, |(_, r, _)| r.database_size_bytes);

        let bytes_total = database_bytes + media_bytes;
        self.set_phase(job_id, "streaming", bytes_total, true)
            .await?;
        let progress = Arc::new(AtomicU64::new(0));
        let ticker = self.report_progress(job_id, bytes_total, progress.clone());
        // The first artifact to fail stops the other, which then aborts its own upload.
        let sink = NewBackup::begin(
            self,
            job_id,
            Place {
                backup_id: backup_id.clone(),
                target_id: target.id.clone(),
                storage,
                dir,
            },
            Encoding {
                recipient: recipient.clone(),
                manifest_key,
                zstd_level,
            },
            progress.clone(),
            cancel.child_token(),
        )
        .await?;
        let database_part = async {
            let Some((reached, report, pg_dump)) = &database_plan else {
                return Ok(None);
            };
            let connection = &reached.connection;
            let migrations = {
                let mut db = crate::postgres::connect(connection).await?;
                crate::postgres::migrations::read(&mut db, None).await?
            };
            let dumper = match (&pg_dump.on_server, &reached.session) {
                (Some(local_pg_restore), Some(session)) => database::Dumper::on_server(
                    session,
                    &pg_dump.tool.path,
                    &reached.as_server_sees_it,
                    local_pg_restore.as_deref(),
                ),
                _ => database::Dumper::here(std::path::Path::new(&pg_dump.tool.path), connection),
            };
            let dumped = match &dedup {
                Some(dedup) => {
                    let (dedup, counted) = (dedup.clone(), progress.clone());
                    sink.store(DATABASE_TREE_FILE, database_bytes, move |out, cancel| {
                        database::dump_deduplicated(dumper, &dedup, out, counted, cancel)
                    })
                    .await
                }
                None => {
                    sink.store(DATABASE_FILE, database_bytes, move |out, cancel| {
                        database::dump(dumper, out, cancel)
                    })
                    .await
                }
            };
            let outcome = match (dumped, &reached.session) {
                (Ok(outcome), _) => outcome,
                (Err(e), session) => {
                    sink.stop();
                    return Err(match session {
                        Some(session) => session.explain(e).await,
                        None => e,
                    });
                }
            };
            let globals = store_globals(&sink, pg_dump, reached)
                .await
                .inspect_err(|_| sink.stop())?;
            Ok(Some((
                DatabasePart {
                    artifact: outcome.artifact,
                    server_version: report.server_version.clone(),
                    pg_dump_version: pg_dump.tool.version.clone(),
                    toc_entries: outcome.toc_entries,
                    migrations,
                },
                globals,
                outcome.packs,
            )))
        };
        let media_part = async {
            let readable = match (&media_root, &dedup) {
                (Some(MediaSource::Local(root)), Some(dedup)) => {
                    Some((media::Readable::Folder(root.clone()), dedup.clone()))
                }
                (Some(MediaSource::Bucket { bucket, listed }), Some(dedup)) => Some((
                    media::Readable::Bucket(bucket.clone(), listed.clone()),
                    dedup.clone(),
                )),
                (Some(MediaSource::Server { dir, session }), Some(dedup)) => {
                    let on_server = ServerDir { session, dir };
                    let readable = media::Readable::Server(Box::new(media::OnServer {
                        list: on_server.list(),
                        tar_named: on_server.tar_named(),
                        server: session.server().to_owned(),
                        dir: dir.clone(),
                    }));
                    Some((readable, dedup.clone()))
                }
                _ => None,
            };
            let stored = match (&media_root, readable) {
                (None, _) => return Ok(None),
                (_, Some((readable, dedup))) => {
                    let counted = progress.clone();
                    let stored = sink
                        .store(MEDIA_TREE_FILE, media_bytes, move |out, cancel| {
                            media::archive_deduplicated(
                                readable,
                                &dedup,
                                earlier_media,
                                out,
                                counted,
                                cancel,
                            )
                        })
                        .await;
                    match (stored, &media_root) {
                        (Err(e), Some(MediaSource::Server { session, .. })) => {
                            Err(session.explain(e).await)
                        }
                        (stored, _) => stored,
                    }
                }
                (Some(MediaSource::Local(root)), None) => {
                    let root = root.clone();
                    sink.store(MEDIA_FILE, media_bytes, move |out, cancel| {
                        media::archive(&root, out, cancel)
                    })
                    .await
                }
                (Some(MediaSource::Bucket { bucket, listed }), None) => {
                    let (bucket, listed) = (bucket.clone(), listed.clone());
                    sink.store(MEDIA_FILE, media_bytes, move |out, cancel| {
                        media::archive_from_bucket(&bucket, listed, out, cancel)
                    })
                    .await
                }
                (Some(MediaSource::Server { dir, session }), None) => {
                    let on_server = ServerDir { session, dir };
                    let tar = on_server.tar();
                    let (server, dir) = (session.server().to_owned(), dir.clone());
                    let read = sink
                        .store(MEDIA_FILE, media_bytes, move |out, cancel| {
                            let failure = |code: Option<i32>, said: &str| {
                                ServerDir::failure_at(&server, &dir, code, said)
                            };
                            media::archive_from_server(tar, failure, out, cancel)
                        })
                        .await;
                    match read {
                        Err(e) => Err(session.explain(e).await),
                        read => read,
                    }
                }
            };
            let outcome = stored.inspect_err(|_| sink.stop())?;
            Ok::<_, Error>(Some((
                MediaPart {
                    artifact: outcome.artifact,
                    file_count: outcome.file_count,
                    total_bytes: outcome.total_bytes,
                },
                outcome.packs,
            )))
        };
        let (database_part, media_part) = tokio::join!(database_part, media_part);
        drop(ticker);
        let parts = match (database_part, media_part) {
            (Ok(d), Ok(m)) => Ok((d, m)),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
            // The cause, not the other artifact's reaction to being stopped.
            (Err(a), Err(b)) => Err(
                if a.code == ErrorCode::Cancelled && !cancel.is_cancelled() {
                    b
                } else {
                    a
                },
            ),
        };
        // A deduplicated backup's new packs are indexed before its manifest commits it, so a
        // committed backup's blobs can always be found.
        let parts = parts.map(|(database, media)| {
            let mut packs = Vec::new();
            let database = database.map(|(part, globals, added)| {
                packs.extend(added);
                (part, globals)
            });
            let media = media.map(|(part, added)| {
                packs.extend(added);
                part
            });
            (database, media, packs)
        });
        let parts = match (parts, &dedup) {
            (Ok((database, media, packs)), Some(dedup)) => {
                let indexed = match dedup.check_still_usable(&packs).await {
                    Ok(()) if packs.is_empty() => Ok(()),
                    Ok(()) => dedup.chunks.write_index(&backup_id, packs.clone()).await,
                    Err(e) => Err(e),
                };
                match indexed {
                    Ok(()) => Ok((database, media)),
                    Err(e) => {
                        dedup.chunks.forget_packs(&packs).await;
                        Err(e)
                    }
                }
            }
            (parts, _) => parts.map(|(database, media, _)| (database, media)),
        };
        match parts {
            Ok((database, media)) => {
                let chunked = media
                    .as_ref()
                    .is_some_and(|m: &MediaPart| m.artifact.chunked.is_some())
                    || database
                        .as_ref()
                        .is_some_and(|(d, _): &(DatabasePart, _)| d.artifact.chunked.is_some());
                let (database, (globals, globals_note)) = match database {
                    Some((part, globals)) => (Some(part), globals),
                    None => (None, (None, None)),
                };
                let manifest = BackupManifest {
                    // Readers older than format 2 refuse a deduplicated backup rather than
                    // misread it; any other backup stays readable by them.
                    format: if chunked { FORMAT_VERSION } else { 1 },
                    backup_id: backup_id.clone(),
                    application: NamedRef {
                        id: app.id.clone(),
                        name: app.name.clone(),
                    },
                    environment: NamedRef {
                        id: env.id.clone(),
                        name: env.name.clone(),
                    },
                    kind: request.kind,
                    created_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    finished_at: chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    note: request.note.clone(),
                    database,
                    media,
                    globals,
                    globals_note,
                    compression: Compression {
                        algorithm: "zstd".into(),
                        level: zstd_level,
                    },
                    encryption: Encryption {
                        scheme: "age-x25519".into(),
                        recipient: recipient.to_string(),
                    },
                    authentication: None,
                };
                sink.commit(manifest).await
            }
            Err(e) => {
                sink.discard().await;
                Err(e)
            }
        }
    }

    async fn prepare_backup(&self, request: &BackupRequest) -> Result<Prepared> {
        let env = self.catalog().environment(&request.environment_id).await?;
        let app = self.catalog().application(&env.application_id).await?;
        let target = self.catalog().target(&env.target_id).await?;
        let storage = self.target_storage(&target).await?;
        let recipient = self.keys().recovery_recipient().await?;
        let manifest_key = self.keys().manifest_key(&recipient.to_string()).await?;
        let settings = self.settings().await?;
        let database_plan = if request.database {
            let reached = self.reach_database(&env.id).await?;
            let report = crate::postgres::probe(
                &reached.connection,
                settings.pg_bin_dir.as_deref().map(std::path::Path::new),
            )
            .await?;
            let pg_dump = self
                .choose_dumper(&env, &reached, &report, &settings)
                .await?;
            Some((reached, report, pg_dump))
        } else {
            None
        };
        let bucket = match request.media {
            true => self.open_media_bucket(&env).await?,
            false => None,
        };
        let (media_root, media_bytes) = if let Some(bucket) = bucket {
            let listed = bucket.list().await?;
            let bytes = listed.iter().map(|l| l.size).sum();
            (Some(MediaSource::Bucket { bucket, listed }), bytes)
        } else {
            match (request.media, &env.media_dir, &env.server) {
                (true, Some(dir), None) => {
                    let root = std::path::PathBuf::from(dir);
                    let bytes = crate::media::stats(&root).await?.total_bytes;
                    (Some(MediaSource::Local(root)), bytes)
                }
                (true, Some(dir), Some(server)) => {
                    let session = self.connect_server(server).await?;
                    let on_server = ServerDir {
                        session: &session,
                        dir,
                    };
                    let bytes = on_server.stats().await?.total_bytes;
                    let source = MediaSource::Server {
                        dir: dir.clone(),
                        session: Box::new(session),
                    };
                    (Some(source), bytes)
                }
                _ => (None, 0),
            }
        };
        let dedup = match settings.deduplicate {
            true => {
                let identity = self
                    .keys()
                    .recovery_identity_for(&recipient.to_string())
                    .await?;
                let chunks = Chunks::new(storage.clone(), identity);
                let known = chunks.usable().await?;
                Some(Dedup {
                    chunks,
                    known: Arc::new(Mutex::new(known)),
                    reused: Arc::default(),
                    zstd_level: settings.zstd_level,
                })
            }
            false => None,
        };
        let rescan = request.full_rescan || settings.rescan_media;
        let earlier_media = match (&dedup, &media_root) {
            (Some(_), Some(_)) if !rescan => self.earlier_media(&env.id, &target.id).await,
            _ => Default::default(),
        };
        Ok(Prepared {
            dedup,
            earlier_media,
            env,
            app,
            target,
            storage,
            recipient,
            manifest_key,
            zstd_level: settings.zstd_level,
            database_plan,
            media_root,
            media_bytes,
        })
    }
}

/// A backup as a job: in its environment's lane, producing nothing but its backup.
fn backup_job(request: &BackupRequest) -> JobSpec<BackupManifest> {
    JobSpec {
        environment_id: request.environment_id.clone(),
        lane: Lane::Environment(request.environment_id.clone()),
        request: JobRequest::Backup(request.clone()),
        record: nothing_produced,
    }
}

/// Everything a backup needs before it writes anything.
struct Prepared {
    env: crate::environments::Environment,
    app: crate::applications::Application,
    target: crate::targets::StorageTarget,
    storage: Storage,
    recipient: age::x25519::Recipient,
    manifest_key: ManifestKey,
    zstd_level: i32,
    database_plan: Option<(
        crate::environments::Reached,
        crate::postgres::ConnectionReport,
        DumpWith,
    )>,
    media_root: Option<MediaSource>,
    media_bytes: u64,
    /// Set when backups are deduplicated: the target's repository and the blobs it has. Media
    /// read from a server is still archived whole.
    dedup: Option<Dedup>,
    /// Media files as the environment's previous deduplicated backup stored them, by path.
    earlier_media: std::collections::HashMap<String, lifeboat_format::chunked::StoredContent>,
}

/// The pg_dump a backup runs, and where.
struct DumpWith {
    tool: crate::postgres::PgDumpTool,
    /// Set when `tool` is on the environment's server: the pg_restore here that can check what
    /// it writes, if one is new enough (else the one beside it there checks it).
    on_server: Option<Option<std::path::PathBuf>>,
}

impl Context {
    /// Here when this machine has a pg_dump new enough and the environment does not ask for
    /// its server's; on the server when it has one new enough.
    async fn choose_dumper(
        &self,
        env: &crate::environments::Environment,
        reached: &crate::environments::Reached,
        report: &crate::postgres::ConnectionReport,
        settings: &crate::model::settings::Settings,
    ) -> Result<DumpWith> {
        let major = report.server_major;
        match (&reached.session, report.pg_dump.clone()) {
            (Some(session), here) if env.dump_on_server || here.is_none() => {
                let found = crate::postgres::tools::find_on_server(session).await;
                let tool = crate::postgres::tools::choose_pg_dump(&found, major)
                    .cloned()
                    .ok_or_else(|| {
                        Error::new(
                            ErrorCode::PgDumpMissing,
                            format!(
                                "Neither this computer nor {} has pg_dump {major} or newer; install the PostgreSQL {major} client tools on either.",
                                session.server()
                            ),
                        )
                    })?;
                let bin_dir = settings.pg_bin_dir.as_deref().map(std::path::Path::new);
                let checker = crate::postgres::tools::pg_restore_for(bin_dir, tool.major).await;
                Ok(DumpWith {
                    tool,
                    on_server: Some(checker),
                })
            }
            (_, Some(tool)) => Ok(DumpWith {
                tool,
                on_server: None,
            }),
            (_, None) => Err(Error::new(
                ErrorCode::PgDumpMissing,
                format!(
                    "No pg_dump of version {major} or newer is installed; install the PostgreSQL {major} client tools."
                ),
            )),
        }
    }
}

/// Where a backup reads the media tree.
enum MediaSource {
    Local(std::path::PathBuf),
    /// The objects of a media bucket, as listed before the backup began.
    Bucket {
        bucket: crate::media_bucket::BucketMedia,
        listed: Vec<crate::media_bucket::Listed>,
    },
    /// A directory on the environment's server, over this session for the backup's length.
    Server {
        dir: String,
        session: Box<crate::ssh::SshSession>,
    },
}

/// The server's roles beside the dump, when the role may read them: a backup never fails for
/// want of them, it says why they are missing.
async fn store_globals(
    backup: &NewBackup<'_>,
    pg_dump: &DumpWith,
    reached: &crate::environments::Reached,
) -> Result<(Option<GlobalsPart>, Option<String>)> {
    let sql = match (&pg_dump.on_server, &reached.session) {
        (Some(_), Some(session)) => {
            let (command, password) = crate::postgres::roles::globals_on_server(
                session,
                &pg_dump.tool.path,
                &reached.as_server_sees_it,
            );
            crate::running::blocking(move || {
                Ok(crate::postgres::roles::read_globals(
                    command,
                    Some(password),
                ))
            })
            .await?
        }
        _ => {
            let tool = std::path::PathBuf::from(&pg_dump.tool.path);
            let conn = reached.connection.clone();
            crate::running::blocking(move || Ok(crate::postgres::roles::dump_globals(&tool, &conn)))
                .await?
        }
    };
    let sql = match sql {
        Ok(sql) => sql,
        Err(why) => {
            tracing::info!("the backup has no roles artifact: {why}");
            return Ok((None, Some(format!("The roles were not backed up: {why}."))));
        }
    };
    let roles = crate::postgres::roles::count_roles(&sql);
    let artifact = backup
        .store(GLOBALS_FILE, sql.len() as u64, move |mut out, _| {
            std::io::Write::write_all(&mut out, &sql).map_err(writer_error)?;
            out.finish().map_err(writer_error)
        })
        .await?;
    Ok((Some(GlobalsPart { artifact, roles }), None))
}
