//! Restore drills: prove a backup restorable by restoring it for real, into a temporary
//! database (and its media into a temporary directory), checking the result, measuring how
//! long the restore took, and removing everything again, whatever happened.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sqlx::Connection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::connection::{PgConnection, PgConnectionInput};
use crate::context::Context;
use crate::credentials::SecretRef;
use crate::environments::{DrillPlace, Environment, Reached};
use crate::error::{Error, ErrorCode, Result};
use crate::jobs::{Job, JobOutcome, JobRequest, Lane};
pub use crate::model::drill::DrillReport;
pub use crate::model::drill::DrillRequest;
use crate::model::verify::VerifyCheck;
use crate::postgres::migrations::{self, quote_ident, MigrationRecord};
use crate::postgres::scratch::{self, ScratchCluster};
use crate::postgres::tools::find_servers;
use crate::postgres::tools::major_of;
use crate::repository::{Plaintext, StoredBackup};
use crate::restore::{database, media};
use crate::running::{blocking, finished, JobSpec};
use crate::schedule::{Recurrence, StoredRecurrence};
use lifeboat_format::manifest::{BackupManifest, DatabasePart, GlobalsPart};

/// Where drills restore, as a shell asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum DrillPlaceInput {
    Scratch,
    EnvironmentServer,
    Server { connection: PgConnectionInput },
}

/// Prefix of every drill's temporary database, so a leftover is recognisable.
pub const DRILL_DATABASE_PREFIX: &str = "lifeboat_drill_";

impl Context {
    pub async fn start_drill(&self, request: &DrillRequest) -> Result<Job> {
        self.start_drill_on(request, None).await
    }

    pub async fn start_drill_on(
        &self,
        request: &DrillRequest,
        server: Option<PgConnectionInput>,
    ) -> Result<Job> {
        Ok(self.spawn_drill(request, server).await?.0)
    }

    pub async fn drill(
        &self,
        request: &DrillRequest,
        server: Option<PgConnectionInput>,
    ) -> Result<DrillReport> {
        finished(self.spawn_drill(request, server).await?.1).await
    }

    pub async fn drills(&self, environment_id: &str) -> Result<Vec<DrillReport>> {
        self.catalog().drills_of(environment_id).await
    }

    pub async fn set_drill_schedule(
        &self,
        environment_id: &str,
        recurrence: Option<Recurrence>,
    ) -> Result<Environment> {
        if let Some(recurrence) = &recurrence {
            recurrence.validate()?;
        }
        let stored = recurrence.map(|recurrence| StoredRecurrence {
            recurrence,
            since: chrono::Utc::now(),
        });
        let env = self
            .catalog()
            .set_drill_schedule(environment_id, stored.as_ref())
            .await?;
        self.schedule_changes().notify_waiters();
        Ok(env)
    }

    pub async fn set_drill_place(
        &self,
        environment_id: &str,
        place: DrillPlaceInput,
    ) -> Result<Environment> {
        let env = self.catalog().environment(environment_id).await?;
        let secret = SecretRef::DrillPassword {
            environment_id: env.id.clone(),
        };
        let server = match place {
            DrillPlaceInput::Scratch | DrillPlaceInput::EnvironmentServer => {
                let place = match place {
                    DrillPlaceInput::Scratch => DrillPlace::Scratch,
                    _ => DrillPlace::EnvironmentServer,
                };
                let updated = self.catalog().set_drill_place(&env.id, &place).await?;
                self.forget_secret(secret).await;
                return Ok(updated);
            }
            DrillPlaceInput::Server { connection } => connection.validated()?,
        };
        // The saved password stays only with the server it was saved for.
        let had_password = matches!(&env.drill_place, DrillPlace::Server { connection } if connection.password_fits(&server));
        match &server.password {
            Some(password) => self.credentials().set(secret, password.clone()).await?,
            None if !had_password => self.forget_secret(secret).await,
            None => {}
        }
        let connection = PgConnection {
            host: server.host,
            port: server.port,
            database: server.database,
            user: server.user,
            ssl_mode: server.ssl_mode,
            ssl_root_cert: server.ssl_root_cert,
            has_password: server.password.is_some() || had_password,
        };
        self.catalog()
            .set_drill_place(&env.id, &DrillPlace::Server { connection })
            .await
    }

    /// The server an environment's drills restore on, when it is not a scratch cluster.
    async fn drill_server(&self, environment_id: &str) -> Result<Option<Reached>> {
        let env = self.catalog().environment(environment_id).await?;
        match env.drill_place {
            DrillPlace::Scratch => Ok(None),
            DrillPlace::EnvironmentServer => Ok(Some(self.reach_database(environment_id).await?)),
            DrillPlace::Server { connection } => {
                let secret = SecretRef::DrillPassword {
                    environment_id: env.id.clone(),
                };
                let connection = self.with_password(connection, secret).await?;
                Ok(Some(Reached {
                    as_server_sees_it: connection.clone(),
                    connection,
                    session: None,
                }))
            }
        }
    }

    pub async fn drill_checks(&self, environment_id: &str) -> Result<Vec<String>> {
        self.catalog().drill_checks(environment_id).await
    }

    pub async fn set_drill_checks(&self, environment_id: &str, checks: &[String]) -> Result<()> {
        let checks: Vec<String> = checks
            .iter()
            .map(|c| c.trim().trim_end_matches(';').trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        self.catalog()
            .set_drill_checks(environment_id, &checks)
            .await
    }

    async fn spawn_drill(
        &self,
        request: &DrillRequest,
        server: Option<PgConnectionInput>,
    ) -> Result<(Job, JoinHandle<Result<DrillReport>>)> {
        let env = self.catalog().environment(&request.environment_id).await?;
        let backup_id = match &request.backup_id {
            Some(id) => id.clone(),
            None => self
                .catalog()
                .backups_of(&env.id)
                .await?
                .first()
                .map(|b| b.id.clone())
                .ok_or_else(|| {
                    Error::new(
                        ErrorCode::NotFound,
                        format!("{} has no backup to drill yet.", env.name),
                    )
                })?,
        };
        let request = DrillRequest {
            environment_id: env.id.clone(),
            backup_id: Some(backup_id.clone()),
        };
        let spec: JobSpec<DrillReport> = JobSpec {
            environment_id: env.id.clone(),
            // One drill per environment at a time; backups and restores may run beside it.
            lane: Lane::Drill(env.id.clone()),
            request: JobRequest::Drill(request),
            // A drill that ran but failed a check is a failed job, listed and notified as one.
            record: |outcome| match outcome {
                Ok(report) => match report.failure() {
                    Some(failure) => Err(failure),
                    None => Ok(Some(JobOutcome::Drill(report.clone()))),
                },
                Err(e) => Err(e.clone()),
            },
        };
        let environment_id = env.id.clone();
        self.start_job(spec, move |this, job_id, cancel| async move {
            let report = this
                .run_drill(&job_id, &environment_id, &backup_id, server, &cancel)
                .await?;
            this.catalog().insert_drill(&report).await?;
            Ok(report)
        })
        .await
    }

    async fn run_drill(
        &self,
        job_id: &str,
        environment_id: &str,
        backup_id: &str,
        server: Option<PgConnectionInput>,
        cancel: &CancellationToken,
    ) -> Result<DrillReport> {
        let on = match server {
            Some(connection) => DrillOn::Server(Box::new(Reached {
                as_server_sees_it: connection.clone(),
                connection,
                session: None,
            })),
            None => match self.drill_server(environment_id).await? {
                Some(server) => DrillOn::Server(Box::new(server)),
                None => DrillOn::Scratch(scratch::scratch_dir(&self.home().scratch_dir(), job_id)),
            },
        };
        // Recorded first, so a drill cut off by a crash has its database dropped (or its
        // scratch cluster stopped and removed) and its directory removed at the next start;
        // cleared once all are gone.
        let leftover = match &on {
            DrillOn::Server(_) => scratch_database(job_id),
            DrillOn::Scratch(dir) => dir.display().to_string(),
        };
        self.catalog()
            .set_job_local_dir(job_id, Some(&leftover))
            .await?;
        let report = self
            .drill_parts(job_id, environment_id, backup_id, &on, cancel)
            .await;
        let left_behind = report
            .as_ref()
            .is_ok_and(|r| r.checks.iter().any(|c| !c.ok && c.name == "drill server"));
        if !left_behind {
            self.catalog().set_job_local_dir(job_id, None).await?;
        }
        report
    }

    async fn drill_parts(
        &self,
        job_id: &str,
        environment_id: &str,
        backup_id: &str,
        on: &DrillOn,
        cancel: &CancellationToken,
    ) -> Result<DrillReport> {
        let started_at = chrono::Utc::now();
        let source = self.open_backup(backup_id).await?;
        let manifest = source.record.manifest.clone();
        check_space(&manifest, on, job_id)?;
        let mut checks = Vec::new();
        let mut database_restore_ms = 0;
        let mut media_restore_ms = 0;
        let bytes_total = manifest
            .database
            .as_ref()
            .map_or(0, |p| p.artifact.stored_bytes)
            + manifest
                .media
                .as_ref()
                .map_or(0, |p| p.artifact.stored_bytes);
        self.set_phase(job_id, "drilling", bytes_total, true)
            .await?;
        let progress = Arc::new(AtomicU64::new(0));
        let _ticker = self.report_progress(job_id, bytes_total, progress.clone());
        if let Some(part) = &manifest.database {
            let started = Instant::now();
            let drilled = match on {
                DrillOn::Server(server) => {
                    let server = &server.connection;
                    self.drill_database(job_id, &source, part, server, false, &progress, cancel)
                        .await
                }
                DrillOn::Scratch(dir) => {
                    self.drill_on_scratch(job_id, dir, &source, part, &progress, cancel)
                        .await
                }
            };
            match drilled {
                Ok(found) => checks.extend(found),
                Err(_) if cancel.is_cancelled() => return Err(Error::cancelled()),
                Err(e) => checks.push(failed_check(&e)),
            }
            database_restore_ms = started.elapsed().as_millis() as u64;
        }
        if let Some(part) = &manifest.media {
            let started = Instant::now();
            checks.push(drill_media(&source, &part.artifact, job_id, &progress, cancel).await?);
            media_restore_ms = started.elapsed().as_millis() as u64;
        }
        Ok(DrillReport {
            id: job_id.to_owned(),
            environment_id: environment_id.to_owned(),
            backup_id: backup_id.to_owned(),
            started_at: started_at.to_rfc3339(),
            finished_at: chrono::Utc::now().to_rfc3339(),
            ok: checks.iter().all(|c| c.ok),
            checks,
            database_restore_ms,
            media_restore_ms,
        })
    }

    /// Starts a scratch cluster in `dir` with a server new enough for the dump, drills the
    /// database on it, then stops and removes the cluster whatever happened.
    async fn drill_on_scratch(
        &self,
        job_id: &str,
        dir: &Path,
        source: &StoredBackup,
        part: &DatabasePart,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<Vec<VerifyCheck>> {
        let needed = major_of(&part.server_version).max(major_of(&part.pg_dump_version));
        let configured = self.settings().await?.pg_bin_dir;
        let servers = find_servers(configured.as_deref().map(Path::new)).await;
        let server = servers
            .into_iter()
            .find(|s| s.major >= needed)
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::DrillServer,
                    format!(
                        "No PostgreSQL server of version {needed} or newer is installed on this computer to run the drill's scratch server: install the postgresql-{needed} package (Debian, Ubuntu), or choose a drill server."
                    ),
                )
            })?;
        let dir = dir.to_path_buf();
        let cluster = Arc::new(blocking(move || ScratchCluster::start(&dir, &server)).await?);
        // With the backup's roles in place, the dump restores as it was: owners and grants.
        let roles = match &source.record.manifest.globals {
            Some(globals) => Some(apply_roles(&cluster, source, globals, progress, cancel).await),
            None => None,
        };
        let recorded_owners = roles.as_ref().is_some_and(|check| check.ok);
        let checks = self
            .drill_database(
                job_id,
                source,
                part,
                cluster.connection(),
                recorded_owners,
                progress,
                cancel,
            )
            .await
            .map(|found| roles.into_iter().chain(found).collect());
        let cluster = Arc::into_inner(cluster).expect("the drill holds the cluster alone");
        blocking(move || cluster.remove()).await.map_err(|e| {
            Error::new(
                ErrorCode::DrillServer,
                format!(
                    "The drill's scratch server could not be removed: {}",
                    e.message
                ),
            )
        })?;
        checks
    }

    /// Restores the dump into a temporary database on `server` (with the owners and grants it
    /// records when `recorded_owners`), checks it, and drops it.
    #[allow(clippy::too_many_arguments)] // the scratch and server paths share it
    async fn drill_database(
        &self,
        job_id: &str,
        source: &StoredBackup,
        part: &DatabasePart,
        server: &PgConnectionInput,
        recorded_owners: bool,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<Vec<VerifyCheck>> {
        let pg_restore = self.restore_tool(part, server, "the drill server").await?;
        let scratch = scratch_database(job_id);
        create_database(server, &scratch).await?;
        let target = PgConnectionInput {
            database: scratch.clone(),
            ..server.clone()
        };
        let checks = self
            .restore_and_check(
                &target,
                &pg_restore,
                source,
                part,
                recorded_owners,
                progress,
                cancel,
            )
            .await;
        drop_database(server, &scratch).await?;
        checks
    }

    #[allow(clippy::too_many_arguments)] // drill_database's, passed on
    async fn restore_and_check(
        &self,
        target: &PgConnectionInput,
        pg_restore: &Path,
        source: &StoredBackup,
        part: &DatabasePart,
        recorded_owners: bool,
        progress: &Arc<AtomicU64>,
        cancel: &CancellationToken,
    ) -> Result<Vec<VerifyCheck>> {
        let restored = async {
            let dump = source
                .fetch_proven(&part.artifact, progress, cancel)
                .await?;
            // Fetching was the progress, unless the dump streams: a fetched copy's bytes are
            // not counted again.
            let uncounted = Arc::new(AtomicU64::new(0));
            let (toc, decision) = self
                .decide_database(dump.open(&uncounted)?, target, pg_restore, cancel)
                .await?;
            if let Some(refusal) = decision.plan.refusal() {
                return Err(refusal);
            }
            let reader = dump.open(if dump.streams() { progress } else { &uncounted })?;
            let (tool, conn, info, stop) = (
                pg_restore.to_path_buf(),
                target.clone(),
                part.artifact.clone(),
                cancel.clone(),
            );
            let options = database::Options {
                privileges: recorded_owners,
                owners: recorded_owners,
                // The drill's server has none of the source's tablespaces.
                tablespaces: false,
            };
            blocking(move || {
                database::stage(
                    &tool, &conn, &options, &toc, &decision, reader, &info, &stop,
                )?
                .commit()
            })
            .await
        }
        .await;
        let contents = match restored {
            Ok(contents) => contents,
            Err(_) if cancel.is_cancelled() => return Err(Error::cancelled()),
            Err(e) => return Ok(vec![failed_check(&e)]),
        };
        let mut checks = vec![VerifyCheck {
            name: "restore".into(),
            ok: true,
            detail: "pg_restore finished cleanly in one transaction".into(),
        }];
        let (_, found) = database::check(target, &contents).await?;
        checks.extend(found.into_iter().filter(|c| c.name != "django migrations"));
        let mut db = crate::postgres::connect(target).await?;
        let restored_migrations = migrations::read(&mut db, None).await?;
        checks.extend(compare_migrations(
            part.migrations.as_ref(),
            restored_migrations.as_ref(),
        ));
        let environment_id = &source.record.manifest.environment.id;
        for sql in self.catalog().drill_checks(environment_id).await? {
            checks.push(user_check(&mut db, &sql).await);
        }
        db.close().await.ok();
        Ok(checks)
    }

    /// A drill cut off by a crash: its media directory removed, and its scratch cluster or its
    /// temporary database on the drill server.
    pub(crate) async fn repair_interrupted_drill(
        &self,
        job_id: &str,
        leftover: &str,
    ) -> Result<()> {
        let job = self.catalog().job(job_id).await?;
        let directory = drill_directory(job_id);
        blocking(move || match std::fs::remove_dir_all(&directory) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::new(
                ErrorCode::Io,
                format!("Cannot remove {}: {e}", directory.display()),
            )),
            _ => Ok(()),
        })
        .await?;
        self.remove_drill_leftover(&job.environment_id, leftover)
            .await
    }

    /// Removes what a drill that was cut off left: its scratch cluster (`leftover` is its
    /// directory), or its temporary database on the drill server.
    async fn remove_drill_leftover(&self, environment_id: &str, leftover: &str) -> Result<()> {
        if Path::new(leftover).is_absolute() {
            let dir = PathBuf::from(leftover);
            return blocking(move || scratch::remove_leftover(&dir)).await;
        }
        if !leftover.starts_with(DRILL_DATABASE_PREFIX) {
            return Ok(());
        }
        match self.drill_server(environment_id).await? {
            Some(server) => drop_database(&server.connection, leftover).await,
            None => Ok(()),
        }
    }
}

/// Creates the backup's roles on the scratch cluster, as a check: the roles artifact must
/// match its manifest and apply cleanly.
async fn apply_roles(
    cluster: &Arc<ScratchCluster>,
    source: &StoredBackup,
    globals: &GlobalsPart,
    progress: &Arc<AtomicU64>,
    cancel: &CancellationToken,
) -> VerifyCheck {
    let applied = async {
        let mut reader = source
            .open(&globals.artifact, progress, cancel, Plaintext::Unhashed)
            .await?;
        let (cluster, info) = (cluster.clone(), globals.artifact.clone());
        blocking(move || {
            // Checked whole before psql sees a line of it: psql obeys backslash commands.
            let sql = crate::postgres::roles::read_roles(&mut reader)?;
            reader.finish(&info).map_err(|e| {
                Error::new(
                    ErrorCode::ChecksumMismatch,
                    format!("The roles artifact does not match its manifest: {e}"),
                )
            })?;
            cluster.run_sql(&mut sql.as_bytes())
        })
        .await
    }
    .await;
    // Roles the scratch cluster has already (its own superuser) are not a failure.
    let (ok, detail) = match applied {
        Ok(errors) => match errors.iter().find(|e| !e.contains("already exists")) {
            None => (
                true,
                format!(
                    "the backup's {} roles were created; owners and grants are restored as recorded",
                    globals.roles
                ),
            ),
            Some(error) => (false, format!("creating the backup's roles failed: {error}")),
        },
        Err(e) => (false, e.message),
    };
    VerifyCheck {
        name: "roles".into(),
        ok,
        detail,
    }
}

/// Where a drill restores the database.
enum DrillOn {
    /// A server, through SSH while the drill runs when it is the environment's behind one.
    Server(Box<Reached>),
    /// A scratch cluster to run in this directory.
    Scratch(PathBuf),
}

/// Room for what the drill writes on this machine, checked before anything starts: the
/// scratch cluster (an empty cluster, and the restored database, which with its indexes can
/// take twice the dump) and the media directory.
fn check_space(manifest: &BackupManifest, on: &DrillOn, job_id: &str) -> Result<()> {
    const EMPTY_CLUSTER: u64 = 64 * 1024 * 1024;
    if let (Some(part), DrillOn::Scratch(dir)) = (&manifest.database, on) {
        let needed = EMPTY_CLUSTER + 2 * part.artifact.plaintext_bytes;
        crate::disk::ensure_space(existing_ancestor(dir), needed)?;
    }
    if let Some(part) = &manifest.media {
        crate::disk::ensure_space(
            existing_ancestor(&drill_directory(job_id)),
            part.total_bytes,
        )?;
    }
    Ok(())
}

fn existing_ancestor(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
}

/// A drill step that could not finish, as the check it failed.
fn failed_check(e: &Error) -> VerifyCheck {
    let name = match e.code {
        ErrorCode::ChecksumMismatch => "checksums",
        ErrorCode::ArtifactCorrupt | ErrorCode::UnsafeArchive => "archive",
        ErrorCode::DrillServer
        | ErrorCode::PgUnreachable
        | ErrorCode::PgTimeout
        | ErrorCode::PgAuthFailed
        | ErrorCode::PgDatabaseMissing
        | ErrorCode::PgTls
        | ErrorCode::PgServerTooOld => "drill server",
        _ => "restore",
    };
    VerifyCheck {
        name: name.into(),
        ok: false,
        detail: e.message.clone(),
    }
}

/// The restored `django_migrations` against what the manifest recorded at backup time.
fn compare_migrations(
    recorded: Option<&MigrationRecord>,
    restored: Option<&MigrationRecord>,
) -> Option<VerifyCheck> {
    let recorded = recorded?;
    let (ok, detail) = match restored {
        None => (
            false,
            format!(
                "the backup recorded {} migrations, but the restored database has no django_migrations",
                recorded.count
            ),
        ),
        Some(restored) if restored != recorded => (
            false,
            format!(
                "the backup recorded {} migrations, the restored database holds {}{}",
                recorded.count,
                restored.count,
                latest_differences(recorded, restored)
            ),
        ),
        Some(restored) => (
            true,
            format!(
                "{} migrations, the latest of {} apps as recorded",
                restored.count,
                restored.latest.len()
            ),
        ),
    };
    Some(VerifyCheck {
        name: "django migrations".into(),
        ok,
        detail,
    })
}

fn latest_differences(recorded: &MigrationRecord, restored: &MigrationRecord) -> String {
    let differing: Vec<String> = recorded
        .latest
        .iter()
        .filter(|m| !restored.latest.contains(m))
        .map(|m| format!("{} {}", m.app, m.name))
        .collect();
    if differing.is_empty() {
        String::new()
    } else {
        format!("; missing {}", differing.join(", "))
    }
}

/// Runs one user check: passes when its first value is true, a non-zero number or non-empty text.
async fn user_check(db: &mut sqlx::PgConnection, sql: &str) -> VerifyCheck {
    let wrapped = format!("SELECT to_json(q)::text FROM ({sql}) AS q LIMIT 1");
    let answer: std::result::Result<Option<String>, sqlx::Error> =
        sqlx::query_scalar(&wrapped).fetch_optional(&mut *db).await;
    let (ok, detail) = match answer {
        Err(e) => (false, format!("{sql} failed: {e}")),
        Ok(None) => (false, format!("{sql} returned no rows")),
        Ok(Some(row)) => {
            let first = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&row)
                .ok()
                .and_then(|m| m.into_iter().next().map(|(_, v)| v));
            let ok = match &first {
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
                Some(serde_json::Value::String(s)) => !s.is_empty(),
                _ => false,
            };
            let shown = first.map_or_else(|| "nothing".to_owned(), |v| v.to_string());
            (ok, format!("{sql} returned {shown}"))
        }
    };
    VerifyCheck {
        name: "sql check".into(),
        ok,
        detail,
    }
}

async fn create_database(server: &PgConnectionInput, name: &str) -> Result<()> {
    let mut db = crate::postgres::connect(server).await?;
    sqlx::query(&format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(&mut db)
        .await
        .map_err(|e| {
            Error::new(
                ErrorCode::DrillServer,
                format!(
                    "Cannot create the drill's temporary database on {}:{} ({e}). The role needs CREATEDB, or drill on another server.",
                    server.host, server.port
                ),
            )
        })?;
    db.close().await.ok();
    Ok(())
}

/// Drops a drill database, ending any session still in it.
async fn drop_database(server: &PgConnectionInput, name: &str) -> Result<()> {
    let mut db = crate::postgres::connect(server).await?;
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(name)
        .execute(&mut db)
        .await
        .ok();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {}", quote_ident(name)))
        .execute(&mut db)
        .await
        .map_err(|e| {
            Error::new(
                ErrorCode::DrillServer,
                format!("Cannot drop the drill database {name}: {e}"),
            )
        })?;
    db.close().await.ok();
    Ok(())
}

/// Extracts the media archive into a temporary directory, checking every file against the
/// manifest, then removes it.
async fn drill_media(
    source: &StoredBackup,
    artifact: &lifeboat_format::artifact::ArtifactInfo,
    job_id: &str,
    progress: &Arc<AtomicU64>,
    cancel: &CancellationToken,
) -> Result<VerifyCheck> {
    let reader = source
        .open(artifact, progress, cancel, Plaintext::Unhashed)
        .await?;
    let scratch = drill_directory(job_id);
    let (info, job, stop, dir) = (
        artifact.clone(),
        job_id.to_owned(),
        cancel.clone(),
        scratch.clone(),
    );
    let staged = blocking(move || {
        let staged = media::stage(reader, &info, &dir.join("media"), &job, &stop)?;
        Ok(staged.files())
    })
    .await;
    if let Err(e) = std::fs::remove_dir_all(&scratch) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(
                "could not remove the drill directory {}: {e}",
                scratch.display()
            );
        }
    }
    Ok(match staged {
        Ok(files) => VerifyCheck {
            name: "media".into(),
            ok: true,
            detail: format!("{files} files extracted and matched the manifest"),
        },
        Err(_) if cancel.is_cancelled() => return Err(Error::cancelled()),
        Err(e) => failed_check(&e),
    })
}

fn scratch_database(job_id: &str) -> String {
    format!("{DRILL_DATABASE_PREFIX}{}", &job_id[..8])
}

/// Where a drill extracts media: under the system's temporary directory, named by its job.
fn drill_directory(job_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lifeboat-drill-{job_id}"))
}
