//! The one surface the desktop app, the CLI and the tests use: a `Lifeboat` per process, with
//! every operation as a method. Each method hands over to the operation's own module; nothing
//! below this file knows it exists, so internal moves never reach the shells.

use std::path::Path;

use serde::Serialize;
use ts_rs::TS;

use crate::context::Context;
use crate::*;

#[derive(Debug, Clone)]
pub struct Lifeboat {
    cx: Context,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    pub home: String,
    pub keyring: KeyringStatus,
    /// When the recovery key was last exported (or imported from a file); until then the app
    /// asks for it to be saved.
    pub recovery_key_saved_at: Option<String>,
}

impl Lifeboat {
    /// Opens (creating and migrating if needed) the catalog under `home`.
    pub async fn open(home: Home) -> Result<Self> {
        let cx = Context::open(home).await?;
        cx.ensure_default_target().await?;
        Ok(Self { cx })
    }

    pub fn home(&self) -> &Home {
        self.cx.home()
    }

    /// The catalog, read directly: for tests and diagnostics that check what was recorded.
    /// The shells go through the operations.
    pub fn catalog(&self) -> &Catalog {
        self.cx.catalog()
    }

    pub async fn info(&self) -> Result<AppInfo> {
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            home: self.cx.home().root().display().to_string(),
            keyring: self.cx.credentials().status().await,
            recovery_key_saved_at: self.cx.keys().saved_at().await?,
        })
    }

    pub async fn settings(&self) -> Result<Settings> {
        self.cx.settings().await
    }

    pub async fn update_settings(&self, settings: &Settings) -> Result<Settings> {
        self.cx.catalog().update_settings(settings).await
    }

    /// Every job's events (progress, phases, ends) from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Job> {
        self.cx.jobs().subscribe()
    }

    /// Asks a running job to stop; false if no job with this id runs in this process.
    pub fn cancel_job(&self, job_id: &str) -> bool {
        self.cx.jobs().cancel(job_id)
    }

    pub async fn job(&self, job_id: &str) -> Result<Job> {
        self.cx.catalog().job(job_id).await
    }

    /// Every job of an environment, newest first.
    pub async fn jobs_of(&self, environment_id: &str) -> Result<Vec<Job>> {
        self.cx.catalog().jobs_of(environment_id).await
    }

    /// What happened to an environment, newest first: its jobs and the prunes that deleted
    /// backups.
    pub async fn activity(&self, environment_id: &str) -> Result<Vec<ActivityItem>> {
        self.cx.activity(environment_id).await
    }

    pub async fn environment(&self, environment_id: &str) -> Result<Environment> {
        self.cx.catalog().environment(environment_id).await
    }

    pub async fn backup_record(&self, backup_id: &str) -> Result<BackupRecord> {
        self.cx.catalog().backup(backup_id).await
    }

    /// `path` when it is the folder of a recorded download: the only folders the app opens in
    /// the file manager (a script in the window must not open anything else).
    pub async fn download_folder(&self, path: &str) -> Result<std::path::PathBuf> {
        let known = self
            .cx
            .list_downloads()
            .await?
            .into_iter()
            .any(|job| matches!(&job.request, JobRequest::Download(r) if r.directory == path));
        if !known {
            return Err(Error::validation(
                "path",
                "Only the folder of a download can be shown.",
            ));
        }
        if !Path::new(path).is_dir() {
            return Err(Error::validation(
                "path",
                format!("{path} is not a folder any more."),
            ));
        }
        Ok(path.into())
    }

    /// Opens a saved target, for tools and tests that read what is stored.
    pub async fn storage_of(&self, target_id: &str) -> Result<Storage> {
        self.cx.storage_of(target_id).await
    }

    /// Makes the identity in an age key file this catalog's recovery key: backups made from
    /// now on are encrypted to it, and backups made with it elsewhere can be read here.
    /// Returns its recipient.
    pub async fn import_recovery_key(&self, path: &Path) -> Result<String> {
        self.cx.keys().import_recovery_key(path).await
    }

    /// Writes the recovery key in age's key-file format (usable with `age -d -i FILE`),
    /// mode 0600.
    pub async fn export_recovery_key(&self, path: &Path) -> Result<()> {
        self.cx.keys().export_recovery_key(path).await
    }

    /// The scheduler of a running app: the wall clock and the user's time zone.
    pub fn scheduler(&self) -> Scheduler<chrono::Local> {
        Scheduler::on_this_machine(self.cx.clone())
    }

    /// A scheduler on another clock and time zone (tests).
    pub fn scheduler_with<Tz>(&self, clock: std::sync::Arc<dyn Clock>, zone: Tz) -> Scheduler<Tz>
    where
        Tz: chrono::TimeZone + Send + Sync + 'static,
        Tz::Offset: Send + Sync,
    {
        Scheduler::new(self.cx.clone(), clock, zone)
    }

    /// Puts right what failed and interrupted jobs left (the shells call this in the
    /// background after start-up): uploads and objects in storage, then each kind's local work,
    /// by the operation that made it. Returns how many leftovers were cleaned.
    pub async fn clean_up_leftovers(&self) -> Result<usize> {
        let cx = &self.cx;
        let mut cleaned = cx.clean_up_storage_leftovers().await?;
        for (job_id, kind, local) in cx.catalog().pending_local_repairs().await? {
            let repaired = match kind.as_str() {
                "restore" => cx.repair_interrupted_restore(&job_id, &local).await,
                "download" => cx.repair_interrupted_download(&local).await,
                "drill" => cx.repair_interrupted_drill(&job_id, &local).await,
                other => {
                    tracing::warn!(job_id, other, "no repair is known for this kind of job");
                    continue;
                }
            };
            match repaired {
                Ok(()) => {
                    cx.catalog().set_job_local_dir(&job_id, None).await?;
                    cleaned += 1;
                }
                Err(e) => tracing::warn!(
                    job_id,
                    local,
                    "what the job left stays until the next start: {}",
                    e.message
                ),
            }
        }
        Ok(cleaned)
    }

    pub async fn create_application(&self, name: &str) -> Result<Application> {
        self.cx.create_application(name).await
    }

    pub async fn rename_application(&self, id: &str, name: &str) -> Result<Application> {
        self.cx.rename_application(id, name).await
    }

    /// Removes the application, its environments and their saved passwords.
    /// Backups already in storage are left alone.
    pub async fn delete_application(&self, id: &str) -> Result<()> {
        self.cx.delete_application(id).await
    }

    pub async fn list_applications(&self) -> Result<Vec<ApplicationTree>> {
        self.cx.list_applications().await
    }

    pub async fn create_environment(&self, input: &EnvironmentInput) -> Result<Environment> {
        self.cx.create_environment(input).await
    }

    /// Changes one part of an environment, leaving the rest as stored now.
    pub async fn change_environment(
        &self,
        id: &str,
        change: &EnvironmentChange,
    ) -> Result<Environment> {
        self.cx.change_environment(id, change).await
    }

    /// A `None` password in the connection keeps the saved one; no connection forgets it.
    pub async fn update_environment(
        &self,
        id: &str,
        input: &EnvironmentInput,
    ) -> Result<Environment> {
        self.cx.update_environment(id, input).await
    }

    pub async fn delete_environment(&self, id: &str) -> Result<()> {
        self.cx.delete_environment(id).await
    }

    /// Connects with the given settings; a missing password is read from the keyring when the
    /// environment has one saved.
    pub async fn test_connection(
        &self,
        input: &PgConnectionInput,
        environment_id: Option<&str>,
    ) -> Result<ConnectionReport> {
        self.cx.test_connection(input, environment_id).await
    }

    /// The saved connection with its password from the keyring.
    pub async fn environment_connection(&self, environment_id: &str) -> Result<PgConnectionInput> {
        self.cx.environment_connection(environment_id).await
    }

    /// The files and bytes under `path`; on the environment's server when it has one.
    pub async fn media_stats(
        &self,
        path: &str,
        environment_id: Option<&str>,
    ) -> Result<MediaStats> {
        self.cx.media_stats(path, environment_id).await
    }

    pub async fn list_targets(&self) -> Result<Vec<StorageTarget>> {
        self.cx.list_targets().await
    }

    pub async fn create_target(&self, input: &TargetInput) -> Result<StorageTarget> {
        self.cx.create_target(input).await
    }

    pub async fn update_target(&self, id: &str, input: &TargetInput) -> Result<StorageTarget> {
        self.cx.update_target(id, input).await
    }

    pub async fn delete_target(&self, id: &str) -> Result<()> {
        self.cx.delete_target(id).await
    }

    /// Writes, reads back and deletes a probe object with the given (possibly unsaved)
    /// settings; a missing secret is read from the keyring for a saved target.
    pub async fn test_target(
        &self,
        input: &TargetInput,
        target_id: Option<&str>,
    ) -> Result<TargetReport> {
        self.cx.test_target(input, target_id).await
    }

    pub async fn application_named(&self, name: &str) -> Result<ApplicationTree> {
        self.cx.application_named(name).await
    }

    pub async fn environment_named(
        &self,
        application: &str,
        environment: &str,
    ) -> Result<Environment> {
        self.cx.environment_named(application, environment).await
    }

    pub async fn target_named(&self, name: &str) -> Result<StorageTarget> {
        self.cx.target_named(name).await
    }

    /// Starts a backup in the background and returns its job; progress arrives as job events.
    pub async fn start_backup(&self, request: &BackupRequest) -> Result<Job> {
        self.cx.start_backup(request).await
    }

    /// Runs a backup to the end (the CLI and tests).
    pub async fn backup(&self, request: &BackupRequest) -> Result<BackupManifest> {
        self.cx.backup(request).await
    }

    /// Every backup attempt of an environment, newest first, with the backup it produced.
    pub async fn list_backups(&self, environment_id: &str) -> Result<Vec<BackupEntry>> {
        self.cx.list_backups(environment_id).await
    }

    /// Verifies a backup and records the outcome on it.
    pub async fn verify_backup(&self, backup_id: &str) -> Result<VerifyReport> {
        self.cx.verify_backup(backup_id).await
    }

    pub async fn restore_preview(
        &self,
        backup_id: &str,
        environment_id: &str,
    ) -> Result<RestorePreview> {
        self.cx.restore_preview(backup_id, environment_id).await
    }

    /// What restoring the backup's database into the environment would drop and recreate, keep
    /// as it is, and need an administrator for. Reads the dump's table of contents from
    /// storage and looks at the destination; changes nothing.
    pub async fn restore_database_plan(
        &self,
        backup_id: &str,
        environment_id: &str,
    ) -> Result<DatabaseRestorePlan> {
        self.cx
            .restore_database_plan(backup_id, environment_id)
            .await
    }

    /// Starts a restore in the background and returns its job; progress arrives as job events.
    pub async fn start_restore(&self, request: &RestoreRequest) -> Result<Job> {
        self.cx.start_restore(request).await
    }

    /// Runs a restore to the end (the CLI and tests).
    pub async fn restore(&self, request: &RestoreRequest) -> Result<RestoreSummary> {
        self.cx.restore(request).await
    }

    /// Starts preparing a download in the background; progress arrives as job events. Downloads
    /// only read storage, so they run beside any other job.
    pub async fn start_download(&self, request: &DownloadRequest) -> Result<Job> {
        self.cx.start_download(request).await
    }

    /// Prepares a download to the end (the CLI and tests).
    pub async fn download(&self, request: &DownloadRequest) -> Result<DownloadSummary> {
        self.cx.download(request).await
    }

    /// Every download, newest first, finished or not.
    pub async fn list_downloads(&self) -> Result<Vec<Job>> {
        self.cx.list_downloads().await
    }

    /// Starts a drill in the background; the report arrives as the finished job's outcome
    /// and in the environment's drill history.
    pub async fn start_drill(&self, request: &DrillRequest) -> Result<Job> {
        self.cx.start_drill(request).await
    }

    /// `start_drill` on `server` instead of the environment's drill server when given.
    pub async fn start_drill_on(
        &self,
        request: &DrillRequest,
        server: Option<PgConnectionInput>,
    ) -> Result<Job> {
        self.cx.start_drill_on(request, server).await
    }

    /// Runs a drill to the end (the CLI and tests), on `server` instead of the environment's
    /// own when given. A drill that ran but failed a check is an `Ok` report with `ok: false`.
    pub async fn drill(
        &self,
        request: &DrillRequest,
        server: Option<PgConnectionInput>,
    ) -> Result<DrillReport> {
        self.cx.drill(request, server).await
    }

    pub async fn drills(&self, environment_id: &str) -> Result<Vec<DrillReport>> {
        self.cx.drills(environment_id).await
    }

    /// Sets (or, with `None`, removes) the environment's drill schedule; the running scheduler
    /// takes it up at once.
    pub async fn set_drill_schedule(
        &self,
        environment_id: &str,
        recurrence: Option<Recurrence>,
    ) -> Result<Environment> {
        self.cx.set_drill_schedule(environment_id, recurrence).await
    }

    /// Sets where the environment's drills restore its database. A server given without a
    /// password keeps the saved one.
    pub async fn set_drill_place(
        &self,
        environment_id: &str,
        place: DrillPlaceInput,
    ) -> Result<Environment> {
        self.cx.set_drill_place(environment_id, place).await
    }

    pub async fn drill_checks(&self, environment_id: &str) -> Result<Vec<String>> {
        self.cx.drill_checks(environment_id).await
    }

    /// SQL every drill of the environment runs on the restored database; each must return a
    /// true or non-zero first value (e.g. `select count(*) from auth_user where is_superuser`).
    pub async fn set_drill_checks(&self, environment_id: &str, checks: &[String]) -> Result<()> {
        self.cx.set_drill_checks(environment_id, checks).await
    }

    /// What `policy` would do to the environment's backups now, without doing it (the
    /// retention editor's preview).
    pub async fn retention_preview(
        &self,
        environment_id: &str,
        policy: &RetentionPolicy,
    ) -> Result<Vec<RetentionDecision>> {
        self.cx.retention_preview(environment_id, policy).await
    }

    pub async fn set_retention(
        &self,
        environment_id: &str,
        policy: &RetentionPolicy,
    ) -> Result<crate::environments::Environment> {
        self.cx.set_retention(environment_id, policy).await
    }

    /// Sets the commands run around the environment's backups and restores.
    pub async fn set_hooks(&self, environment_id: &str, hooks: &Hooks) -> Result<Environment> {
        self.cx.set_hooks(environment_id, hooks).await
    }

    /// Sets the server the environment is reached through over SSH (`[user@]host[:port]` or a
    /// Host alias of the user's SSH config); empty clears it.
    pub async fn set_server(&self, environment_id: &str, server: &str) -> Result<Environment> {
        self.cx.set_server(environment_id, server).await
    }

    /// Puts the environment's media in a bucket (prefix, endpoint, key; the secret goes to the
    /// keyring), replacing a media directory, once its objects can be listed; `None` forgets it.
    pub async fn set_media_bucket(
        &self,
        environment_id: &str,
        input: Option<&crate::MediaBucketInput>,
    ) -> Result<Environment> {
        self.cx.set_media_bucket(environment_id, input).await
    }

    /// Lists, reads and (with `write`) writes in the media bucket (the one given, else the
    /// environment's), each told apart: a read-only key can back up but not restore.
    pub async fn check_media_bucket(
        &self,
        environment_id: &str,
        input: Option<&crate::MediaBucketInput>,
        write: bool,
    ) -> Result<crate::MediaBucketCheck> {
        self.cx
            .check_media_bucket(environment_id, input, write)
            .await
    }

    /// Whether pg_dump runs on the environment's server, with its client tools, rather than
    /// here (it also does whenever this machine has none new enough).
    pub async fn set_dump_on_server(
        &self,
        environment_id: &str,
        on_server: bool,
    ) -> Result<Environment> {
        self.cx.set_dump_on_server(environment_id, on_server).await
    }

    /// The Host aliases of the user's SSH configuration (the one in Settings, else
    /// `~/.ssh/config`), to offer as servers.
    pub async fn ssh_hosts(&self) -> Result<Vec<String>> {
        self.cx.ssh_hosts().await
    }

    /// The host keys `server` (and any jump host on the way) offers that nobody has trusted
    /// yet, to compare with what its administrator gives; empty when all are trusted.
    pub async fn unknown_host_keys(&self, server: &str) -> Result<Vec<SshHostKey>> {
        self.cx.unknown_host_keys(server).await
    }

    /// Connects to `server` as a job would: its host key checked, passphrase-protected keys
    /// unlocked from the keyring. `ssh_key_locked` names a key whose passphrase is needed.
    pub async fn test_server(&self, server: &str) -> Result<()> {
        self.cx.test_server(server).await
    }

    /// Keeps the passphrase of an SSH private key (an absolute path) in the system keyring,
    /// once it is shown to unlock the key; connections then unlock it without asking.
    pub async fn set_ssh_key_passphrase(&self, key: &str, passphrase: &str) -> Result<()> {
        self.cx.set_ssh_key_passphrase(key, passphrase).await
    }

    /// Trusts `server`'s host keys in Lifeboat's known_hosts, only if what it offers now is
    /// exactly `fingerprints`, the ones the user compared.
    pub async fn trust_host_keys(
        &self,
        server: &str,
        fingerprints: &[String],
    ) -> Result<Vec<SshHostKey>> {
        self.cx.trust_host_keys(server, fingerprints).await
    }

    pub async fn set_pinned(&self, backup_id: &str, pinned: bool) -> Result<()> {
        self.cx.set_pinned(backup_id, pinned).await
    }

    /// Frees a target's deduplicated storage that no backup uses: packs unused now are
    /// condemned, and those condemned at least `grace` ago and still unused are deleted. Prune
    /// runs this with a day's grace after deleting backups.
    pub async fn reclaim_storage(
        &self,
        target_id: &str,
        grace: std::time::Duration,
    ) -> Result<crate::ReclaimReport> {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        self.cx.reclaim_storage(target_id, grace).await
    }

    /// Applies the environment's retention policy (or, with `dry_run`, only says what it would
    /// delete).
    pub async fn prune(&self, environment_id: &str, dry_run: bool) -> Result<PruneReport> {
        self.cx.prune(environment_id, dry_run).await
    }

    /// Sets (or, with `None`, removes) an environment's backup schedule; a running scheduler
    /// takes it up at once. Slots before now never count as missed.
    pub async fn set_schedule(
        &self,
        environment_id: &str,
        schedule: Option<BackupSchedule>,
    ) -> Result<Environment> {
        self.cx.set_schedule(environment_id, schedule).await
    }

    /// Every environment with its schedule, next run, last backup and punctuality.
    pub async fn environment_statuses(&self) -> Result<Vec<EnvironmentStatus>> {
        self.cx.environment_statuses().await
    }

    pub async fn sync_catalog(&self, target_id: &str) -> Result<SyncReport> {
        self.cx.sync_catalog(target_id).await
    }

    /// Backups found in storage that could not be authenticated.
    pub async fn quarantined_backups(&self) -> Result<Vec<QuarantinedBackup>> {
        self.cx.quarantined_backups().await
    }

    pub async fn trust_backup(&self, quarantined_id: &str) -> Result<SyncReport> {
        self.cx.trust_backup(quarantined_id).await
    }

    pub async fn dismiss_quarantined(&self, quarantined_id: &str) -> Result<()> {
        self.cx.dismiss_quarantined(quarantined_id).await
    }

    /// The notification a job that just finished deserves: every download that finished or
    /// failed, and every scheduled backup that failed (a successful one is no news). Cancelled
    /// jobs were stopped by the user, who needs no telling. Failed restore drills notify too.
    pub async fn notice_for(&self, job: &Job) -> Option<Notice> {
        self.cx.notice_for(job).await
    }
}
