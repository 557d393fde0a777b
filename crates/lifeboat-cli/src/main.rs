//! `lifeboat`: Lifeboat without a desktop — backups from cron, systemd timers and CI jobs,
//! over the same catalog, keyring and storage code as the app (LIFEBOAT_HOME selects the state).

mod confirm;
mod drill;
mod output;
mod progress;
mod restore;
mod retention;
mod secrets;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lifeboat_core::{
    human_bytes, parse_database_url, BackupKind, BackupRequest, DownloadRequest, Environment,
    EnvironmentChange, EnvironmentInput, Error, ErrorCode, Home, HookPhase, JobOutcome, JobStatus,
    Lifeboat, LocalSettings, MediaBucket, MediaBucketInput, Result, S3ConfigInput, S3Settings,
    TargetConfig, TargetConfigInput, TargetInput, DEFAULT_STORAGE_CLASS,
};
use output::{table, Output};

const EXAMPLES: &str = "\
Examples:
  lifeboat app add shop
  LIFEBOAT_DATABASE_URL=postgres://shop@db.example.com/shop lifeboat env add shop production --media /srv/shop/media
  lifeboat backup shop production
  lifeboat backups shop production
  lifeboat restore 20261121T234500Z-3f9a2c1b --to shop/staging
  lifeboat drill shop production
  lifeboat key export ~/lifeboat-recovery-key.txt

Environment:
  LIFEBOAT_HOME                   where the catalog and the local storage live
                                  (default: the platform's data directory)
  LIFEBOAT_DATABASE_URL           the database URL for `env add` and `env set --database`
  LIFEBOAT_S3_SECRET_ACCESS_KEY   the S3 secret for `target add-s3`
  LIFEBOAT_MEDIA_S3_SECRET_ACCESS_KEY
                                  the media bucket's S3 secret for `env add`/`env set
                                  --media s3://BUCKET/PREFIX`
  LIFEBOAT_SSH_KEY_PASSPHRASE     an SSH key's passphrase for `env ssh-login`
  LIFEBOAT_LOG                    log filter, e.g. `lifeboat_core=debug`
Secrets are never taken as arguments: without their variable, a terminal prompt asks.

Exit codes:
  0  done
  1  the operation failed (storage, database, a failed verification or drill, …)
  2  the command was wrong: bad input, something not found, not confirmed";

#[derive(Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Back up and restore web applications' PostgreSQL databases and media files.",
    after_help = EXAMPLES
)]
struct Cli {
    /// Print machine-readable JSON (errors too, as {"error": {code, message, field}}).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Applications (e.g. "shop").
    #[command(subcommand)]
    App(AppCommand),
    /// Environments of an application (production, staging…).
    #[command(subcommand)]
    Env(EnvCommand),
    /// Storage targets: where backups go.
    #[command(subcommand)]
    Target(TargetCommand),
    /// Back up what an environment has (its database and its media, whichever are set up),
    /// verify it, and print the backup id.
    Backup {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Only the database (with --media: both).
        #[arg(long)]
        db: bool,
        /// Only the media (with --db: both).
        #[arg(long)]
        media: bool,
        /// A note kept with the backup, e.g. "before the 2.0 deploy".
        #[arg(long)]
        note: Option<String>,
        /// Read every media file. A deduplicated backup otherwise takes a file whose size,
        /// modification and change times and inode match the previous backup's from that
        /// backup without reading it.
        #[arg(long)]
        full_rescan: bool,
    },
    /// List an environment's backups, newest first.
    Backups {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
    },
    /// Restore a backup (what it holds unless --db or --media is given) into its own
    /// environment or --to APP/ENV. Takes a safety backup of the destination first.
    Restore(restore::RestoreArgs),
    /// Write a backup's dump and media tar (decrypted, with SHA256SUMS) into a folder.
    Download {
        /// The backup to download (an id from `lifeboat backups`).
        backup_id: String,
        /// The folder to write into; created when missing.
        #[arg(long)]
        dir: PathBuf,
        /// Only the database dump (with --media: both).
        #[arg(long)]
        db: bool,
        /// Only the media tar (with --db: both).
        #[arg(long)]
        media: bool,
    },
    /// Every job of an environment (backups, restores, downloads, drills), newest first.
    Jobs {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
    },
    /// Re-read a backup from storage, decrypt it, and check every checksum and the dump's TOC.
    Verify {
        /// The backup to verify (an id from `lifeboat backups`).
        backup_id: String,
    },
    /// Restore a backup (the newest unless given) into a temporary database and directory,
    /// check it, report how long the restore took, and remove it all.
    Drill(drill::DrillArgs),
    /// Apply the environment's retention policy: delete the backups it no longer keeps.
    Prune {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// The local catalog of applications, environments and backups.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// The recovery key that encrypts backups.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Add the backups found in a storage target (every manifest.json under it) to the
    /// catalog, creating their applications and environments when missing.
    Sync {
        /// The storage target's name (see `lifeboat target list`).
        target: String,
    },
    /// List the backups found in storage whose manifest the recovery key does not vouch for
    /// (forged, made with another key, or by a Lifeboat from before manifests were
    /// authenticated). Nothing restores, verifies or drills them until they are trusted.
    Quarantined,
    /// Trust a quarantined backup: it joins the catalog as its manifest claims. Only for a
    /// backup you know you made; whoever can write to the bucket can make one.
    Trust {
        /// The quarantined entry's id (see `lifeboat catalog quarantined`).
        id: String,
        /// Trust without asking (required without a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Forget a quarantined backup (what is in storage stays; a later sync finds it again).
    Dismiss {
        /// The quarantined entry's id (see `lifeboat catalog quarantined`).
        id: String,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Add an application.
    Add {
        /// Its name, e.g. "shop".
        name: String,
    },
    /// List the applications and their environments.
    List,
    /// Remove an application and its environments from Lifeboat (backups in storage stay).
    Rm {
        /// The application's name.
        name: String,
        /// Confirm without being asked to type the name.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum EnvCommand {
    /// Add an environment. Its database URL comes from $LIFEBOAT_DATABASE_URL or a prompt on a
    /// terminal; the connection is then tested (a failure is a warning).
    Add {
        /// The application's name.
        app: String,
        /// The new environment's name, e.g. "production".
        env: String,
        /// The environment has no database (only media); no URL is asked for.
        #[arg(long)]
        no_database: bool,
        /// The media to back up and restore into: a directory (with --server, a path on the
        /// server, relative to the SSH user's home), or s3://BUCKET/PREFIX for media kept in a
        /// bucket (django-storages); see the --media-* options.
        #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
        media: Option<String>,
        #[command(flatten)]
        bucket: MediaBucketArgs,
        /// The storage target (by name) backups go to; the built-in local one when absent.
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
        /// Reach the environment through this server over SSH (`[user@]host[:port]` or a Host
        /// alias); the database URL is then as the server sees it, e.g.
        /// postgres://app@/shop?host=/var/run/postgresql. See `lifeboat env server`.
        #[arg(long, value_name = "SERVER")]
        server: Option<String>,
        /// Do not test the database connection after adding it.
        #[arg(long)]
        no_test: bool,
    },
    /// List the environments (of one application when given).
    List {
        /// Only this application's environments.
        app: Option<String>,
    },
    /// Change an environment: only what is given changes. The new database URL comes from
    /// $LIFEBOAT_DATABASE_URL or a prompt on a terminal; its password goes to the keyring.
    Set {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Connect to another database (the URL from $LIFEBOAT_DATABASE_URL or a prompt).
        #[arg(long, conflicts_with = "no_database")]
        database: bool,
        /// Forget the database connection and its saved password.
        #[arg(long)]
        no_database: bool,
        /// The media to back up and restore into: a directory, or s3://BUCKET/PREFIX for media
        /// kept in a bucket (see the --media-* options).
        #[arg(
            long,
            value_name = "DIR|s3://BUCKET/PREFIX",
            conflicts_with = "no_media"
        )]
        media: Option<String>,
        #[command(flatten)]
        bucket: MediaBucketArgs,
        /// Forget the media directory or bucket (and the bucket's saved secret key).
        #[arg(long)]
        no_media: bool,
        /// The storage target (by name) new backups go to; existing backups stay where they are.
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
        /// A new name for the environment.
        #[arg(long, value_name = "NAME")]
        rename: Option<String>,
    },
    /// Connect to the environment's database and report what a backup would use.
    Test {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
    },
    /// Reach the environment through its server over SSH: its database connection is then as
    /// the server sees it (localhost:5432, or its socket directory such as /var/run/postgresql),
    /// and hooks run there. Your SSH configuration applies (Host aliases, HostName, User, Port,
    /// IdentityFile, ProxyJump, the agent); Settings can name another one. A server not trusted
    /// yet has its host key fingerprints printed, for `lifeboat env trust-host`.
    Server {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// `[user@]host[:port]` or a Host alias of your SSH configuration; "" to reach the
        /// database directly again.
        server: String,
    },
    /// Choose where the environment's pg_dump runs: `server` runs the server's own (its client
    /// tools match its PostgreSQL; the dump streams back over SSH, checked the same way),
    /// `here` runs this computer's. A server's is also used whenever this computer has none
    /// new enough.
    DumpOn {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Where pg_dump runs.
        #[arg(value_parser = ["here", "server"])]
        place: String,
    },
    /// Trust the host key of the environment's server (and of any ProxyJump host on the way),
    /// recorded in Lifeboat's own known_hosts. Compare the fingerprints with the ones the
    /// server's administrator gives you (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`).
    TrustHost {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// A fingerprint you compared (SHA256:…), once per key offered; without it the keys
        /// are shown and you are asked to type "trust" (needs a terminal).
        #[arg(long = "fingerprint", value_name = "SHA256:…")]
        fingerprints: Vec<String>,
    },
    /// Connect to the environment's server as a backup would. When it wants a key protected by
    /// a passphrase that no agent holds, the passphrase is asked for (or read from
    /// $LIFEBOAT_SSH_KEY_PASSPHRASE), checked against the key, and kept in the system keyring.
    SshLogin {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
    },
    /// Set (or, with an empty COMMAND, remove) a command run around the environment's backups
    /// or restores, e.g. Django's maintenance mode on before and off after. It runs with `sh -c`
    /// on this machine, or on the environment's server over SSH when it has one, with
    /// LIFEBOAT_APPLICATION, LIFEBOAT_ENVIRONMENT, LIFEBOAT_JOB_ID and,
    /// for after-hooks, LIFEBOAT_OUTCOME (succeeded, failed or cancelled) set. A failing
    /// before-hook stops the job before anything is stored or changed; after-hooks always run.
    Hook {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// When it runs.
        #[arg(value_parser = ["before-backup", "after-backup", "before-restore", "after-restore"])]
        phase: String,
        /// The shell command; empty removes the hook.
        command: String,
        /// How long each of the environment's hooks may run before it is stopped.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u32>,
    },
    /// Remove an environment from Lifeboat, with its saved password (backups in storage stay).
    Rm {
        /// The application's name.
        app: String,
        /// The environment's name.
        env: String,
        /// Confirm without being asked to type the name.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
struct S3Args {
    /// The bucket's name.
    #[arg(long)]
    bucket: String,
    /// The bucket's region.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// For S3-compatible services (MinIO, Garage, …); omit for AWS.
    #[arg(long)]
    endpoint: Option<String>,
    /// A folder inside the bucket to keep the backups under, e.g. "lifeboat/".
    #[arg(long, default_value = "")]
    prefix: String,
    /// Put the bucket name in the path. The default with --endpoint; kept for scripts that
    /// pass it.
    #[arg(long, conflicts_with = "virtual_hosted")]
    path_style: bool,
    /// With --endpoint: the endpoint is the bucket's own address (https://BUCKET.host), so no
    /// bucket name goes in the path.
    #[arg(long, requires = "endpoint")]
    virtual_hosted: bool,
    /// The S3 storage class new objects get (STANDARD where the server offers no other).
    #[arg(long, default_value = DEFAULT_STORAGE_CLASS)]
    storage_class: String,
    /// The access key ID (its secret comes from $LIFEBOAT_S3_SECRET_ACCESS_KEY or a prompt).
    #[arg(long)]
    access_key_id: String,
    /// Don't ask S3 to encrypt at rest (for servers that reject SSE headers); backups stay
    /// encrypted by Lifeboat either way.
    #[arg(long)]
    no_server_side_encryption: bool,
    /// Allow a plain http:// endpoint on another machine (INSECURE: requests and what they
    /// carry cross the network readable and changeable). Not needed for localhost.
    #[arg(long, requires = "endpoint")]
    insecure_http: bool,
}

#[derive(Subcommand)]
enum TargetCommand {
    /// Add a folder (a local disk, a mounted drive or share) as a storage target.
    AddLocal {
        /// The target's name, e.g. "External disk".
        name: String,
        /// The folder backups go into.
        dir: PathBuf,
    },
    /// Add an S3 bucket (AWS or any S3-compatible service) as a storage target. The secret key
    /// comes from $LIFEBOAT_S3_SECRET_ACCESS_KEY or a prompt on a terminal.
    AddS3 {
        /// The target's name, e.g. "Offsite".
        name: String,
        #[command(flatten)]
        s3: S3Args,
    },
    /// List the storage targets.
    List,
    /// Write, read back and delete a probe object.
    Test {
        /// The target's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write the recovery key to FILE (mode 0600). Without it, backups cannot be read elsewhere.
    Export {
        /// Where to write the key file.
        file: PathBuf,
    },
    /// Use the recovery key in FILE (from `key export` on another machine).
    Import {
        /// The key file to read.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    // Before the runtime's threads exist: see forget_inherited_pg_settings.
    lifeboat_core::forget_inherited_pg_settings();
    // Quiet unless asked: the CLI's output is its own lines, and the log goes to stderr.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
        .block_on(cli_main())
}

async fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    let lifeboat = match Home::from_env() {
        Ok(home) => Lifeboat::open(home).await,
        Err(e) => Err(e),
    };
    let result = match lifeboat {
        Ok(lifeboat) => {
            // Servers run only the CLI: it is the one chance to finish what crashed runs left.
            if let Err(e) = lifeboat.clean_up_leftovers().await {
                eprintln!(
                    "warning: leftovers of interrupted jobs stay for now: {}",
                    e.message
                );
            }
            run(&lifeboat, cli.command, &out).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => out.error(&e),
    }
}

async fn run(lb: &Lifeboat, command: Command, out: &Output) -> Result<()> {
    match command {
        Command::App(cmd) => app(lb, cmd, out).await,
        Command::Env(cmd) => env(lb, cmd, out).await,
        Command::Target(cmd) => target(lb, cmd, out).await,
        Command::Backup {
            app,
            env,
            db,
            media,
            note,
            full_rescan,
        } => {
            let environment = lb.environment_named(&app, &env).await?;
            // Neither flag: whatever the environment has set up.
            let (database, media) = if db || media {
                (db, media)
            } else {
                (environment.connection.is_some(), environment.has_media())
            };
            if !database && !media {
                return Err(Error::validation(
                    "what",
                    format!("{app}/{env} has no database and no media directory yet: set one up with `lifeboat env set {app} {env} --database` or `--media DIR`."),
                ));
            }
            let request = BackupRequest {
                environment_id: environment.id,
                database,
                media,
                note,
                kind: BackupKind::OnDemand,
                full_rescan,
            };
            let started = std::time::Instant::now();
            let job = lb.start_backup(&request).await?;
            let job = progress::follow(lb, &job, out.json).await;
            match (job.status, job.error) {
                (JobStatus::Succeeded, _) => {
                    let id = job.backup_id.unwrap_or_default();
                    if !out.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                        eprintln!("{}", backup_summary(lb, &id, started.elapsed()).await);
                    }
                    out.show(
                        &serde_json::json!({ "backupId": id, "jobId": job.id }),
                        |_| id.clone(),
                    );
                    Ok(())
                }
                (_, Some(e)) => Err(e),
                (status, None) => Err(Error::new(
                    ErrorCode::Internal,
                    format!("The backup ended as {status:?}."),
                )),
            }
        }
        Command::Backups { app, env } => {
            let environment = lb.environment_named(&app, &env).await?;
            let entries = lb.list_backups(&environment.id).await?;
            out.show(&entries, |entries| {
                let rows = entries
                    .iter()
                    .map(|e| {
                        let status = status_text(e.job.status);
                        match &e.backup {
                            Some(b) => vec![
                                b.id.clone(),
                                b.manifest.kind.as_str().to_owned(),
                                what(b.manifest.database.is_some(), b.manifest.media.is_some()),
                                human_bytes(b.stored_bytes),
                                status,
                                b.manifest.note.clone().unwrap_or_default(),
                            ],
                            None => vec![
                                e.job.backup_id.clone().unwrap_or_else(|| "-".into()),
                                "-".into(),
                                "-".into(),
                                "-".into(),
                                status,
                                e.job
                                    .error
                                    .as_ref()
                                    .map(|e| e.message.clone())
                                    .unwrap_or_default(),
                            ],
                        }
                    })
                    .collect();
                table(
                    &["ID", "KIND", "WHAT", "STORED", "STATUS", "NOTE / ERROR"],
                    rows,
                )
            });
            Ok(())
        }
        Command::Restore(args) => restore::restore(lb, args, out).await,
        Command::Download {
            backup_id,
            dir,
            db,
            media,
        } => {
            let record = lb.backup_record(&backup_id).await?;
            let (database, media) = if db || media {
                (db, media)
            } else {
                (
                    record.manifest.database.is_some(),
                    record.manifest.media.is_some(),
                )
            };
            let request = DownloadRequest {
                backup_id,
                directory: dir.display().to_string(),
                database,
                media,
            };
            let job = lb.start_download(&request).await?;
            let job = progress::follow(lb, &job, out.json).await;
            match (job.outcome, job.error) {
                (Some(JobOutcome::Download(summary)), _) => {
                    out.show(&summary, |s| {
                        s.files
                            .iter()
                            .map(|f| f.path.clone())
                            .collect::<Vec<_>>()
                            .join("\n")
                    });
                    Ok(())
                }
                (_, Some(e)) => Err(e),
                (_, None) => Err(Error::new(
                    ErrorCode::Internal,
                    format!("The download ended as {:?}.", job.status),
                )),
            }
        }
        Command::Jobs { app, env } => {
            let environment = lb.environment_named(&app, &env).await?;
            let jobs = lb.jobs_of(&environment.id).await?;
            out.show(&jobs, |jobs| {
                let rows = jobs.iter().map(job_row).collect();
                let table = table(
                    &[
                        "JOB", "KIND", "STATUS", "STARTED", "TOOK", "BACKUP", "ERROR",
                    ],
                    rows,
                );
                format!("{table}\n{}", plural(jobs.len(), "job"))
            });
            Ok(())
        }
        Command::Drill(args) => drill::drill(lb, args, out).await,
        Command::Prune { app, env, dry_run } => {
            retention::prune(lb, &app, &env, dry_run, out).await
        }
        Command::Catalog(CatalogCommand::Sync { target }) => {
            retention::sync(lb, &target, out).await
        }
        Command::Catalog(CatalogCommand::Quarantined) => retention::quarantined(lb, out).await,
        Command::Catalog(CatalogCommand::Trust { id, yes }) => {
            retention::trust(lb, &id, yes, out).await
        }
        Command::Catalog(CatalogCommand::Dismiss { id }) => {
            lb.dismiss_quarantined(&id).await?;
            out.show(&serde_json::json!({ "dismissed": id }), |_| {
                format!("Forgot quarantined backup {id}; storage is unchanged.")
            });
            Ok(())
        }
        Command::Verify { backup_id } => {
            let report = lb.verify_backup(&backup_id).await?;
            // With --json a failure prints only the error object, so stdout stays one document.
            if report.ok || !out.json {
                out.show(&report, |r| output::checks_text(&r.checks).join("\n"));
            }
            match report.checks.iter().find(|c| !c.ok) {
                None => Ok(()),
                Some(failed) => Err(Error::new(
                    if failed.name.ends_with("checksums") {
                        ErrorCode::ChecksumMismatch
                    } else {
                        ErrorCode::ArtifactCorrupt
                    },
                    format!(
                        "Backup {backup_id} failed verification: {}: {}",
                        failed.name, failed.detail
                    ),
                )),
            }
        }
        Command::Key(KeyCommand::Export { file }) => {
            lb.export_recovery_key(&file).await?;
            out.show(&serde_json::json!({ "file": file }), |_| {
                format!(
                    "Recovery key written to {}. Keep it safe and offline.",
                    file.display()
                )
            });
            Ok(())
        }
        Command::Key(KeyCommand::Import { file }) => {
            let recipient = lb.import_recovery_key(&file).await?;
            out.show(&serde_json::json!({ "recipient": recipient }), |_| {
                format!("Recovery key {recipient} imported.")
            });
            Ok(())
        }
    }
}

fn status_text(status: JobStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One line of `lifeboat jobs`: short id, local start time, how long it took, and the backup
/// it made or restored from.
fn job_row(j: &lifeboat_core::Job) -> Vec<String> {
    let started = chrono::DateTime::parse_from_rfc3339(&j.created_at).ok();
    let took = match (started, j.finished_at.as_deref()) {
        (Some(start), Some(end)) => chrono::DateTime::parse_from_rfc3339(end)
            .ok()
            .map(|end| output::duration((end - start).to_std().unwrap_or_default())),
        _ => None,
    };
    let backup = match &j.request {
        lifeboat_core::JobRequest::Restore(r) => format!("from {}", r.backup_id),
        lifeboat_core::JobRequest::Download(r) => format!("of {}", r.backup_id),
        _ => j.backup_id.clone().unwrap_or_default(),
    };
    vec![
        j.id.chars().take(8).collect(),
        j.request.kind().to_owned(),
        status_text(j.status),
        started.map_or_else(
            || j.created_at.clone(),
            |t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            },
        ),
        took.unwrap_or_else(|| "-".into()),
        backup,
        j.error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default(),
    ]
}

/// "1 job", "3 jobs".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// After a backup on a terminal: what was backed up, where, whether it verified, how long.
async fn backup_summary(lb: &Lifeboat, backup_id: &str, took: std::time::Duration) -> String {
    let Ok(record) = lb.backup_record(backup_id).await else {
        return format!("Backed up in {}.", output::duration(took));
    };
    let target = lb
        .list_targets()
        .await
        .ok()
        .and_then(|ts| ts.into_iter().find(|t| t.id == record.target_id))
        .map_or_else(|| "its target".to_owned(), |t| format!("“{}”", t.name));
    let verified = match &record.verification {
        Some(v) if v.ok => "verified",
        Some(_) => "FAILED verification",
        None => "not verified",
    };
    format!(
        "Backed up {}/{} ({}, {} stored) to {target}, {verified}, in {}.",
        record.manifest.application.name,
        record.manifest.environment.name,
        what(
            record.manifest.database.is_some(),
            record.manifest.media.is_some()
        ),
        human_bytes(record.stored_bytes),
        output::duration(took)
    )
}

fn what(database: bool, media: bool) -> String {
    match (database, media) {
        (true, true) => "both",
        (true, false) => "database",
        _ => "media",
    }
    .to_owned()
}

async fn app(lb: &Lifeboat, cmd: AppCommand, out: &Output) -> Result<()> {
    match cmd {
        AppCommand::Add { name } => out.show(&lb.create_application(&name).await?, |a| {
            format!("Application {} added.", a.name)
        }),
        AppCommand::List => out.show(&lb.list_applications().await?, |apps| {
            let rows = apps
                .iter()
                .map(|a| {
                    vec![
                        a.name.clone(),
                        a.environments
                            .iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect();
            table(&["APPLICATION", "ENVIRONMENTS"], rows)
        }),
        AppCommand::Rm { name, yes } => {
            let app = lb.application_named(&name).await?;
            confirm::typed(
                yes,
                &format!(
                    "Removing {} forgets its {} environment(s) and their saved passwords",
                    app.name,
                    app.environments.len()
                ),
                &app.name,
            )?;
            lb.delete_application(&app.id).await?;
            out.show(&serde_json::json!({ "deleted": app.id }), |_| {
                format!(
                    "Application {} removed (backups in storage are kept).",
                    app.name
                )
            });
        }
    }
    Ok(())
}

/// Where media kept in a bucket is served from, for `--media s3://BUCKET/PREFIX`. The secret
/// key comes from $LIFEBOAT_MEDIA_S3_SECRET_ACCESS_KEY or a prompt on a terminal.
#[derive(Args)]
struct MediaBucketArgs {
    /// The S3-compatible service's URL (e.g. https://s3.example.com); AWS when absent.
    #[arg(long, value_name = "URL")]
    media_endpoint: Option<String>,
    /// The bucket's region.
    #[arg(long, value_name = "REGION", default_value = "us-east-1")]
    media_region: String,
    /// Address the bucket as ENDPOINT/BUCKET rather than BUCKET.ENDPOINT (MinIO, Garage and
    /// most self-hosted services want this).
    #[arg(long)]
    media_path_style: bool,
    /// The access key ID of a key that may list and read the prefix (and write and delete in
    /// it, to restore into it).
    #[arg(long, value_name = "KEY")]
    media_access_key_id: Option<String>,
}

/// The media bucket `media` names (`s3://BUCKET/PREFIX`), with its secret key, or `None` for
/// a directory; the --media-* options only go with a bucket.
fn media_bucket(media: Option<&str>, args: MediaBucketArgs) -> Result<Option<MediaBucketInput>> {
    let Some(url) = media.and_then(|m| m.strip_prefix("s3://")) else {
        if args.media_endpoint.is_some()
            || args.media_path_style
            || args.media_access_key_id.is_some()
        {
            return Err(Error::validation(
                "media",
                "The --media-* options are for media in a bucket: give --media s3://BUCKET/PREFIX.",
            ));
        }
        return Ok(None);
    };
    let (bucket, prefix) = url.split_once('/').unwrap_or((url, ""));
    let access_key_id = args.media_access_key_id.ok_or_else(|| {
        Error::validation("accessKeyId", "Give the bucket's --media-access-key-id.")
    })?;
    let secret = secrets::required(
        "LIFEBOAT_MEDIA_S3_SECRET_ACCESS_KEY",
        "Media bucket's secret access key: ",
        "The media bucket's secret access key",
    )?;
    Ok(Some(MediaBucketInput {
        bucket: MediaBucket {
            endpoint: args.media_endpoint,
            region: args.media_region,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            path_style: args.media_path_style,
            access_key_id,
            insecure_http: None,
        },
        secret_access_key: Some(secret),
    }))
}

/// What an environment's media is, in a word for tables.
fn media_shown(e: &Environment) -> String {
    match (&e.media_dir, &e.media_bucket) {
        (Some(dir), _) => dir.clone(),
        (None, Some(bucket)) => bucket.url(),
        (None, None) => "-".into(),
    }
}

async fn env(lb: &Lifeboat, cmd: EnvCommand, out: &Output) -> Result<()> {
    match cmd {
        EnvCommand::Add {
            app,
            env,
            no_database,
            media,
            bucket,
            target,
            server,
            no_test,
        } => {
            let application = lb.application_named(&app).await?;
            let bucket = media_bucket(media.as_deref(), bucket)?;
            let media = media.filter(|_| bucket.is_none());
            let connection = if no_database {
                None
            } else {
                let url = secrets::required(
                    "LIFEBOAT_DATABASE_URL",
                    "Database URL (postgres://…): ",
                    "The database URL (or --no-database)",
                )?;
                Some(parse_database_url(&url)?)
            };
            let target_id = match target {
                Some(name) => Some(lb.target_named(&name).await?.id),
                None => None,
            };
            // With a server the media directory is one of its own: set once the server is.
            let created = lb
                .create_environment(&EnvironmentInput {
                    application_id: application.id,
                    name: env,
                    connection,
                    media_dir: if server.is_some() {
                        None
                    } else {
                        media.clone()
                    },
                    target_id,
                })
                .await?;
            let created = match server {
                // A server or media directory refused leaves no half-made environment behind.
                Some(server) => {
                    let on_server = async {
                        let with_server = lb.set_server(&created.id, &server).await?;
                        match media {
                            Some(dir) => {
                                lb.change_environment(
                                    &created.id,
                                    &EnvironmentChange::MediaDir(Some(dir)),
                                )
                                .await
                            }
                            None => Ok(with_server),
                        }
                    };
                    match on_server.await {
                        Ok(done) => done,
                        Err(e) => {
                            lb.delete_environment(&created.id).await?;
                            return Err(e);
                        }
                    }
                }
                None => created,
            };
            let created = match &bucket {
                // A bucket that cannot be listed leaves no half-made environment behind.
                Some(bucket) => match lb.set_media_bucket(&created.id, Some(bucket)).await {
                    Ok(with_bucket) => with_bucket,
                    Err(e) => {
                        lb.delete_environment(&created.id).await?;
                        return Err(e);
                    }
                },
                None => created,
            };
            // Saved either way: a server down right now is no reason to refuse the setup.
            if created.connection.is_some() && !no_test {
                let tested = match lb.environment_connection(&created.id).await {
                    Ok(connection) => lb.test_connection(&connection, Some(&created.id)).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = tested {
                    eprintln!(
                        "warning: the database connection does not work yet: {}\n  fix it with `lifeboat env set {app} {} --database`",
                        e.message, created.name
                    );
                }
            }
            out.show(&created, |e| format!("Environment {app}/{} added.", e.name));
        }
        EnvCommand::List { app } => {
            let mut apps = lb.list_applications().await?;
            if let Some(name) = app {
                apps.retain(|a| a.name.eq_ignore_ascii_case(&name));
                if apps.is_empty() {
                    return Err(lb
                        .application_named(&name)
                        .await
                        .err()
                        .unwrap_or_else(|| Error::not_found("The application")));
                }
            }
            let environments: Vec<_> = apps
                .iter()
                .flat_map(|a| {
                    a.environments
                        .iter()
                        .map(move |e| (a.name.clone(), e.clone()))
                })
                .collect();
            let targets = lb.list_targets().await?;
            out.show(
                &environments.iter().map(|(_, e)| e).collect::<Vec<_>>(),
                |_| {
                    let rows = environments
                        .iter()
                        .map(|(app, e)| {
                            vec![
                                format!("{app}/{}", e.name),
                                e.connection.as_ref().map_or("-".into(), |c| {
                                    format!("{}@{}:{}/{}", c.user, c.host, c.port, c.database)
                                }),
                                media_shown(e),
                                targets
                                    .iter()
                                    .find(|t| t.id == e.target_id)
                                    .map_or("?".into(), |t| t.name.clone()),
                            ]
                        })
                        .collect();
                    table(&["ENVIRONMENT", "DATABASE", "MEDIA", "TARGET"], rows)
                },
            );
        }
        EnvCommand::Set {
            app,
            env,
            database,
            no_database,
            media,
            bucket,
            no_media,
            target,
            rename,
        } => {
            let environment = lb.environment_named(&app, &env).await?;
            let bucket = media_bucket(media.as_deref(), bucket)?;
            let media = media.filter(|_| bucket.is_none());
            let mut changes = Vec::new();
            if database {
                let url = secrets::required(
                    "LIFEBOAT_DATABASE_URL",
                    "Database URL (postgres://…): ",
                    "The new database URL",
                )?;
                changes.push(EnvironmentChange::Connection(Some(parse_database_url(
                    &url,
                )?)));
            }
            if no_database {
                changes.push(EnvironmentChange::Connection(None));
            }
            if let Some(dir) = media {
                changes.push(EnvironmentChange::MediaDir(Some(dir)));
            }
            if no_media {
                changes.push(EnvironmentChange::MediaDir(None));
            }
            let forget_bucket = no_media && environment.media_bucket.is_some();
            if let Some(name) = target {
                changes.push(EnvironmentChange::TargetId(Some(
                    lb.target_named(&name).await?.id,
                )));
            }
            if let Some(name) = rename {
                changes.push(EnvironmentChange::Name(name));
            }
            if changes.is_empty() && bucket.is_none() {
                return Err(Error::validation(
                    "what",
                    "Nothing to change: give --database, --no-database, --media, --no-media, --target or --rename.",
                ));
            }
            let mut changed = environment;
            for change in &changes {
                changed = lb.change_environment(&changed.id, change).await?;
            }
            if bucket.is_some() || forget_bucket {
                changed = lb.set_media_bucket(&changed.id, bucket.as_ref()).await?;
            }
            out.show(&changed, |e| {
                format!("Environment {app}/{} changed.", e.name)
            });
        }
        EnvCommand::Test { app, env } => {
            let environment = lb.environment_named(&app, &env).await?;
            let connection = lb.environment_connection(&environment.id).await?;
            let report = lb
                .test_connection(&connection, Some(&environment.id))
                .await?;
            out.show(&report, |r| {
                let pg_dump = r.pg_dump.as_ref().map_or(
                    format!("none of version {} or newer found", r.server_major),
                    |t| format!("{} ({})", t.version, t.path),
                );
                let through = r
                    .server
                    .as_ref()
                    .map_or(String::new(), |s| format!("through SSH to {s}: "));
                let pg_dump = match (&r.pg_dump_on_server, &r.server) {
                    (Some(t), Some(s)) => format!("{} ({}) on {s}", t.version, t.path),
                    _ => pg_dump,
                };
                format!(
                    "{through}PostgreSQL {}, database {}; pg_dump {pg_dump}",
                    r.server_version,
                    human_bytes(r.database_size_bytes)
                )
            });
        }
        EnvCommand::Server { app, env, server } => {
            let environment = lb.environment_named(&app, &env).await?;
            let changed = lb.set_server(&environment.id, &server).await?;
            let Some(server) = changed.server.clone() else {
                out.show(&changed, |_| {
                    format!("{app}/{env} is reached directly, without a server.")
                });
                return Ok(());
            };
            let keys = lb.unknown_host_keys(&server).await?;
            out.show(&keys, |keys| {
                if keys.is_empty() {
                    return format!("{app}/{env} is reached through {server}; its host key is trusted.");
                }
                format!(
                    "{app}/{env} is reached through {server}, whose host key is not trusted yet:\n{}\nCompare with the server's administrator, then: lifeboat env trust-host {app} {env}{}",
                    host_keys(keys),
                    keys.iter().map(|k| format!(" --fingerprint {}", k.fingerprint)).collect::<String>()
                )
            });
        }
        EnvCommand::DumpOn { app, env, place } => {
            let environment = lb.environment_named(&app, &env).await?;
            let changed = lb
                .set_dump_on_server(&environment.id, place == "server")
                .await?;
            out.show(&changed, |e| {
                if e.dump_on_server {
                    format!("{app}/{env} runs pg_dump on its server.")
                } else {
                    format!("{app}/{env} runs pg_dump on this computer when it has one new enough.")
                }
            });
        }
        EnvCommand::SshLogin { app, env } => {
            let environment = lb.environment_named(&app, &env).await?;
            let server = server_of(&environment, &app, &env)?;
            match lb.test_server(&server).await {
                Err(e) if e.code == ErrorCode::SshKeyLocked => {
                    let key = e.detail.clone().unwrap_or_default();
                    let passphrase = secrets::required(
                        "LIFEBOAT_SSH_KEY_PASSPHRASE",
                        &format!("Passphrase of {key}: "),
                        &format!("The passphrase of {key}"),
                    )?;
                    lb.set_ssh_key_passphrase(&key, &passphrase).await?;
                    lb.test_server(&server).await?;
                }
                tested => tested?,
            }
            out.show(&serde_json::json!({ "server": server }), |_| {
                format!("Connected to {server}.")
            });
        }
        EnvCommand::TrustHost {
            app,
            env,
            fingerprints,
        } => {
            let environment = lb.environment_named(&app, &env).await?;
            let server = server_of(&environment, &app, &env)?;
            let fingerprints = if fingerprints.is_empty() {
                let keys = lb.unknown_host_keys(&server).await?;
                if keys.is_empty() {
                    out.show(&keys, |_| {
                        format!("{server}'s host key is already trusted.")
                    });
                    return Ok(());
                }
                confirm::typed(
                    false,
                    &format!(
                        "{server} offers:\n{}\nTrust only if these are the server's own",
                        host_keys(&keys)
                    ),
                    "trust",
                )
                .map_err(|mut e| {
                    e.message = e.message.replace("pass --yes", "pass each --fingerprint");
                    e
                })?;
                keys.into_iter().map(|k| k.fingerprint).collect()
            } else {
                fingerprints
            };
            let trusted = lb.trust_host_keys(&server, &fingerprints).await?;
            out.show(&trusted, |_| format!("{server}'s host key is trusted."));
        }
        EnvCommand::Hook {
            app,
            env,
            phase,
            command,
            timeout,
        } => {
            let environment = lb.environment_named(&app, &env).await?;
            let phase = HookPhase::parse(&phase).expect("clap checked the phase");
            let mut hooks = environment.hooks.clone();
            hooks.set(phase, Some(command));
            if let Some(timeout) = timeout {
                hooks.timeout_seconds = timeout;
            }
            let changed = lb.set_hooks(&environment.id, &hooks).await?;
            out.show(&changed.hooks, |h| match h.command(phase) {
                Some(command) => format!(
                    "{app}/{env} runs `{command}` {} (timeout {} s).",
                    phase.as_str().replace('-', " "),
                    h.timeout_seconds
                ),
                None => format!("{app}/{env} has no {} hook.", phase.as_str()),
            });
        }
        EnvCommand::Rm { app, env, yes } => {
            let environment = lb.environment_named(&app, &env).await?;
            confirm::typed(
                yes,
                &format!("Removing {app}/{env} forgets its settings and saved password"),
                &environment.name,
            )?;
            lb.delete_environment(&environment.id).await?;
            out.show(&serde_json::json!({ "deleted": environment.id }), |_| {
                format!("Environment {app}/{env} removed (backups in storage are kept).")
            });
        }
    }
    Ok(())
}

/// The environment's server, or an error saying how to set one.
fn server_of(environment: &lifeboat_core::Environment, app: &str, env: &str) -> Result<String> {
    environment.server.clone().ok_or_else(|| {
        Error::validation(
            "server",
            format!("{app}/{env} has no server: set one with `lifeboat env server`."),
        )
    })
}

/// One line per host key: where, its type and its fingerprint.
fn host_keys(keys: &[lifeboat_core::SshHostKey]) -> String {
    keys.iter()
        .map(|k| format!("  {}  {}  {}", k.host, k.key_type, k.fingerprint))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn target(lb: &Lifeboat, cmd: TargetCommand, out: &Output) -> Result<()> {
    match cmd {
        TargetCommand::AddLocal { name, dir } => {
            let dir = std::path::absolute(&dir).unwrap_or(dir);
            let input = TargetInput {
                name,
                config: TargetConfigInput::Local(LocalSettings {
                    path: dir.display().to_string(),
                }),
            };
            out.show(&lb.create_target(&input).await?, |t| {
                format!("Storage target {} added.", t.name)
            });
        }
        TargetCommand::AddS3 { name, s3 } => {
            let secret = secrets::required(
                "LIFEBOAT_S3_SECRET_ACCESS_KEY",
                "S3 secret access key: ",
                "The S3 secret access key",
            )?;
            // Right without thought: an endpoint serves many buckets unless told.
            let path_style = s3.path_style || (s3.endpoint.is_some() && !s3.virtual_hosted);
            let input = TargetInput {
                name,
                config: TargetConfigInput::S3(S3ConfigInput {
                    settings: S3Settings {
                        endpoint: s3.endpoint,
                        region: s3.region,
                        bucket: s3.bucket,
                        prefix: s3.prefix,
                        path_style,
                        storage_class: s3.storage_class,
                        access_key_id: s3.access_key_id,
                        server_side_encryption: s3.no_server_side_encryption.then_some(false),
                        insecure_http: s3.insecure_http.then_some(true),
                    },
                    secret_access_key: Some(secret),
                }),
            };
            out.show(&lb.create_target(&input).await?, |t| {
                format!("Storage target {} added.", t.name)
            });
        }
        TargetCommand::List => out.show(&lb.list_targets().await?, |targets| {
            let rows = targets
                .iter()
                .map(|t| match &t.config {
                    TargetConfig::Local(l) => vec![t.name.clone(), "local".into(), l.path.clone()],
                    TargetConfig::S3(s) => vec![
                        t.name.clone(),
                        "s3".into(),
                        format!("s3://{}/{}", s.settings.bucket, s.settings.prefix),
                    ],
                })
                .collect();
            table(&["TARGET", "KIND", "WHERE"], rows)
        }),
        TargetCommand::Test { name } => {
            let target = lb.target_named(&name).await?;
            let config = match target.config {
                TargetConfig::Local(local) => TargetConfigInput::Local(local),
                TargetConfig::S3(s3) => TargetConfigInput::S3(S3ConfigInput {
                    settings: s3.settings,
                    secret_access_key: None,
                }),
            };
            let report = lb
                .test_target(
                    &TargetInput {
                        name: target.name.clone(),
                        config,
                    },
                    Some(&target.id),
                )
                .await?;
            out.show(&report, |r| {
                format!(
                    "{}: wrote, read back and deleted a probe object in {} ms.",
                    target.name, r.elapsed_ms
                )
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command, argument and flag says what it is for in `--help`.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() && path != "lifeboat" {
                missing.push(path.to_owned());
            }
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &format!("{path} {}", sub.get_name()), missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "lifeboat", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }

    #[test]
    fn the_help_names_the_environment_and_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "LIFEBOAT_HOME",
            "LIFEBOAT_DATABASE_URL",
            "LIFEBOAT_LOG",
            "Exit codes",
            "lifeboat backup shop production",
        ] {
            assert!(help.contains(needle), "{needle} missing from --help");
        }
    }
}
