//! `lifeboat`: Lifeboat without a desktop — backups from cron, systemd timers and CI jobs,
//! over the same catalog, keyring and storage code as the app (LIFEBOAT_HOME selects the state).

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
    parse_database_url, BackupKind, BackupRequest, DownloadRequest, EnvironmentChange,
    EnvironmentInput, Error, ErrorCode, Home, JobOutcome, JobStatus, Lifeboat, LocalSettings,
    Result, S3ConfigInput, S3Settings, TargetConfig, TargetConfigInput, TargetInput,
    DEFAULT_STORAGE_CLASS,
};
use output::{bytes, table, Output};

#[derive(Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Back up and restore web applications' PostgreSQL databases and media files."
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
    /// Back up an environment (both database and media unless --db or --media is given); prints the backup id.
    Backup {
        app: String,
        env: String,
        #[arg(long)]
        db: bool,
        #[arg(long)]
        media: bool,
        #[arg(long)]
        note: Option<String>,
    },
    /// List an environment's backups, newest first.
    Backups { app: String, env: String },
    /// Restore a backup (what it holds unless --db or --media is given) into its own
    /// environment or --to APP/ENV. Takes a safety backup of the destination first.
    Restore(restore::RestoreArgs),
    /// Write a backup's dump and media tar (decrypted, with SHA256SUMS) into a folder.
    Download {
        backup_id: String,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        db: bool,
        #[arg(long)]
        media: bool,
    },
    /// Every job of an environment (backups, restores), newest first, with how it ended.
    Jobs { app: String, env: String },
    /// Re-read a backup from storage, decrypt it, and check every checksum and the dump's TOC.
    Verify { backup_id: String },
    /// Restore a backup (the newest unless given) into a temporary database and directory,
    /// check it, report how long the restore took, and remove it all.
    Drill(drill::DrillArgs),
    /// Apply the environment's retention policy: delete the backups it no longer keeps.
    Prune {
        app: String,
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
    Sync { target: String },
}

#[derive(Subcommand)]
enum AppCommand {
    Add { name: String },
    List,
    Rm { name: String },
}

#[derive(Subcommand)]
enum EnvCommand {
    /// The database URL comes from $LIFEBOAT_DATABASE_URL or a prompt on a terminal.
    Add {
        app: String,
        env: String,
        #[arg(long)]
        media: Option<PathBuf>,
        #[arg(long)]
        target: Option<String>,
    },
    List {
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
        /// The media directory to back up and restore into.
        #[arg(long, value_name = "DIR", conflicts_with = "no_media")]
        media: Option<PathBuf>,
        /// Forget the media directory.
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
        app: String,
        env: String,
    },
    Rm {
        app: String,
        env: String,
    },
}

#[derive(Args)]
struct S3Args {
    #[arg(long)]
    bucket: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// For S3-compatible services (MinIO, Garage, …); omit for AWS.
    #[arg(long)]
    endpoint: Option<String>,
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
    #[arg(long, default_value = DEFAULT_STORAGE_CLASS)]
    storage_class: String,
    #[arg(long)]
    access_key_id: String,
    /// Don't ask S3 to encrypt at rest (for servers that reject SSE headers); backups stay
    /// encrypted by Lifeboat either way.
    #[arg(long)]
    no_server_side_encryption: bool,
}

#[derive(Subcommand)]
enum TargetCommand {
    AddLocal {
        name: String,
        dir: PathBuf,
    },
    /// The secret key comes from $LIFEBOAT_S3_SECRET_ACCESS_KEY or a prompt on a terminal.
    AddS3 {
        name: String,
        #[command(flatten)]
        s3: S3Args,
    },
    List,
    /// Write, read back and delete a probe object.
    Test {
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write the recovery key to FILE (mode 0600). Without it, backups cannot be read elsewhere.
    Export { file: PathBuf },
    /// Use the recovery key in FILE (from `key export` on another machine).
    Import { file: PathBuf },
}

#[tokio::main]
async fn main() -> ExitCode {
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
        } => {
            let environment = lb.environment_named(&app, &env).await?;
            let request = BackupRequest {
                environment_id: environment.id,
                database: db || !media,
                media: media || !db,
                note,
                kind: BackupKind::OnDemand,
            };
            let job = lb.start_backup(&request).await?;
            let job = progress::follow(lb, &job, out.json).await;
            match (job.status, job.error) {
                (JobStatus::Succeeded, _) => {
                    let id = job.backup_id.unwrap_or_default();
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
                                bytes(b.stored_bytes),
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
                let rows = jobs
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.clone(),
                            j.request.kind().to_owned(),
                            status_text(j.status),
                            j.created_at.clone(),
                            j.error
                                .as_ref()
                                .map(|e| e.message.clone())
                                .unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(&["JOB", "KIND", "STATUS", "STARTED", "ERROR"], rows)
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
        AppCommand::Rm { name } => {
            let app = lb.application_named(&name).await?;
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

async fn env(lb: &Lifeboat, cmd: EnvCommand, out: &Output) -> Result<()> {
    match cmd {
        EnvCommand::Add {
            app,
            env,
            media,
            target,
        } => {
            let application = lb.application_named(&app).await?;
            let connection = secrets::from_env_or_prompt(
                "LIFEBOAT_DATABASE_URL",
                "Database URL (postgres://…, empty for none): ",
            )?
            .map(|url| parse_database_url(&url))
            .transpose()?;
            let target_id = match target {
                Some(name) => Some(lb.target_named(&name).await?.id),
                None => None,
            };
            let created = lb
                .create_environment(&EnvironmentInput {
                    application_id: application.id,
                    name: env,
                    connection,
                    media_dir: media.map(|m| m.display().to_string()),
                    target_id,
                })
                .await?;
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
                                e.media_dir.clone().unwrap_or_else(|| "-".into()),
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
            no_media,
            target,
            rename,
        } => {
            let environment = lb.environment_named(&app, &env).await?;
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
                changes.push(EnvironmentChange::MediaDir(Some(dir.display().to_string())));
            }
            if no_media {
                changes.push(EnvironmentChange::MediaDir(None));
            }
            if let Some(name) = target {
                changes.push(EnvironmentChange::TargetId(Some(
                    lb.target_named(&name).await?.id,
                )));
            }
            if let Some(name) = rename {
                changes.push(EnvironmentChange::Name(name));
            }
            if changes.is_empty() {
                return Err(Error::validation(
                    "what",
                    "Nothing to change: give --database, --no-database, --media, --no-media, --target or --rename.",
                ));
            }
            let mut changed = environment;
            for change in &changes {
                changed = lb.change_environment(&changed.id, change).await?;
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
                format!(
                    "PostgreSQL {}, database {}; pg_dump {pg_dump}",
                    r.server_version,
                    bytes(r.database_size_bytes)
                )
            });
        }
        EnvCommand::Rm { app, env } => {
            let environment = lb.environment_named(&app, &env).await?;
            lb.delete_environment(&environment.id).await?;
            out.show(&serde_json::json!({ "deleted": environment.id }), |_| {
                format!("Environment {app}/{env} removed (backups in storage are kept).")
            });
        }
    }
    Ok(())
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
