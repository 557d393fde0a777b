//! A backed-up environment ("shop"/"production" with the fixture database and media tree)
//! and the helpers tests of backups, restores and downloads share.

use std::path::{Path, PathBuf};
use std::process::Command;

use lifeboat_core::{
    BackupKind, BackupRequest, EnvironmentInput, Home, Job, Lifeboat, S3ConfigInput, S3Settings,
    Storage, StorageTarget, TargetConfig, TargetConfigInput, TargetInput,
};
use sqlx::Executor;

use super as common;

pub struct Fixture {
    pub _home: tempfile::TempDir,
    pub media: tempfile::TempDir,
    pub lb: Lifeboat,
    pub env_id: String,
    pub target_id: String,
    pub database: String,
}

pub enum Target {
    Local,
    S3(S3Settings, String),
}

pub async fn fixture(target: Target) -> Fixture {
    let (home, lb) = common::lifeboat().await;
    let media = tempfile::tempdir().unwrap();
    common::create_media_tree(media.path());
    let database = common::create_fixture_database().await;
    let target_id = match target {
        Target::Local => None,
        Target::S3(settings, secret) => Some(
            lb.create_target(&TargetInput {
                name: "offsite".into(),
                config: TargetConfigInput::S3(S3ConfigInput {
                    settings,
                    secret_access_key: Some(secret),
                }),
            })
            .await
            .unwrap()
            .id,
        ),
    };
    let app = lb.create_application("shop").await.unwrap();
    let env = lb
        .create_environment(&EnvironmentInput {
            application_id: app.id,
            name: "production".into(),
            connection: Some(common::pg_input(&database)),
            media_dir: Some(media.path().display().to_string()),
            target_id,
        })
        .await
        .unwrap();
    Fixture {
        _home: home,
        media,
        target_id: env.target_id.clone(),
        lb,
        env_id: env.id,
        database,
    }
}

pub fn s3() -> Target {
    Target::S3(common::s3_settings(), common::s3_secret())
}

/// A new environment of the application, with no database and the media folder given.
pub async fn environment(
    lb: &Lifeboat,
    app_id: &str,
    name: &str,
    media_dir: Option<&Path>,
) -> lifeboat_core::Environment {
    lb.create_environment(&EnvironmentInput {
        application_id: app_id.to_owned(),
        name: name.to_owned(),
        connection: None,
        media_dir: media_dir.map(|d| d.display().to_string()),
        target_id: None,
    })
    .await
    .unwrap()
}

/// A restore of the backup's database alone into the environment `env_id` named `name`.
pub fn restore_database(
    backup_id: &str,
    env_id: &str,
    name: &str,
    safety_backup: bool,
) -> lifeboat_core::RestoreRequest {
    lifeboat_core::RestoreRequest {
        database: true,
        media: false,
        ..restore_media(backup_id, env_id, name, safety_backup)
    }
}

/// A restore of the backup's media alone into environment `name`, confirmed by its name.
pub fn restore_media(
    backup_id: &str,
    env_id: &str,
    name: &str,
    safety_backup: bool,
) -> lifeboat_core::RestoreRequest {
    lifeboat_core::RestoreRequest {
        backup_id: backup_id.to_owned(),
        environment_id: env_id.to_owned(),
        database: false,
        media: true,
        safety_backup,
        confirmation: Some(name.to_owned()),
    }
}

/// An on-demand backup of the media alone.
pub fn media_only(env_id: &str) -> BackupRequest {
    BackupRequest {
        database: false,
        note: None,
        ..both(env_id, "")
    }
}

/// An on-demand backup of the database alone.
pub fn database_only(env_id: &str) -> BackupRequest {
    BackupRequest {
        media: false,
        note: None,
        ..both(env_id, "")
    }
}

pub fn both(env_id: &str, note: &str) -> BackupRequest {
    BackupRequest {
        environment_id: env_id.to_owned(),
        database: true,
        media: true,
        note: Some(note.to_owned()),
        kind: BackupKind::OnDemand,
        full_rescan: false,
    }
}

impl Fixture {
    /// Another machine: an empty catalog in a home of its own, the same keyring, and this
    /// fixture's bucket added as its storage target.
    pub async fn elsewhere(&self) -> (tempfile::TempDir, Lifeboat, StorageTarget) {
        let TargetConfig::S3(s3) = self
            .lb
            .catalog()
            .target(&self.target_id)
            .await
            .unwrap()
            .config
        else {
            panic!("an S3 target")
        };
        let home = tempfile::tempdir().unwrap();
        let lb = Lifeboat::open(Home::at(home.path())).await.unwrap();
        let target = lb
            .create_target(&TargetInput {
                name: "offsite".into(),
                config: TargetConfigInput::S3(S3ConfigInput {
                    settings: s3.settings,
                    secret_access_key: Some(common::s3_secret()),
                }),
            })
            .await
            .unwrap();
        (home, lb, target)
    }

    pub async fn storage(&self) -> Storage {
        self.lb.storage_of(&self.target_id).await.unwrap()
    }

    /// Every object Lifeboat stored for this environment.
    pub async fn stored_objects(&self) -> Vec<String> {
        self.storage().await.list("shop/production").await.unwrap()
    }

    pub async fn fetch(&self, dir: &str, name: &str, to: &Path) -> PathBuf {
        let bytes = self
            .storage()
            .await
            .get(&format!("{dir}/{name}"))
            .await
            .unwrap();
        let path = to.join(name);
        std::fs::write(&path, &bytes).unwrap();
        path
    }
}

pub fn sha256sum(path: &Path) -> String {
    let out = common::run(Command::new("sha256sum").arg(path));
    String::from_utf8(out)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// age -d with the exported recovery key, then zstd -d: what docs/storage-format.md says.
pub fn decrypt(key: &Path, stored: &Path, plain: &Path) {
    let compressed = stored.with_extension("zst");
    common::run(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(key)
            .arg("-o")
            .arg(&compressed)
            .arg(stored),
    );
    common::run(
        Command::new("zstd")
            .args(["-d", "-q", "-f"])
            .arg(&compressed)
            .arg("-o")
            .arg(plain),
    );
}

pub async fn wait_finished(lb: &Lifeboat, job: &Job) -> Job {
    let mut events = lb.subscribe();
    let current = lb.catalog().job(&job.id).await.unwrap();
    if current.is_finished() {
        return current;
    }
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(120), events.recv())
            .await
            .expect("the job did not finish in time")
            .unwrap();
        if event.id == job.id && event.is_finished() {
            return event;
        }
    }
}

/// Takes a lock pg_dump and pg_restore must wait for, so a test can act while the dump is in flight.
pub async fn hold_lock(database: &str) -> sqlx::PgConnection {
    let mut conn = common::connect(database).await;
    conn.execute("BEGIN; LOCK TABLE shop_order IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    conn
}

/// Waits until Lifeboat's pg_dump or pg_restore session is waiting on that lock; returns its backend pid.
pub async fn waiting_on_lock(database: &str) -> i32 {
    let mut admin = common::admin().await;
    for _ in 0..600 {
        let pid: Option<(i32,)> = sqlx::query_as(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'lifeboat'
               AND wait_event_type = 'Lock'",
        )
        .bind(database)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
        if let Some((pid,)) = pid {
            return pid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("Lifeboat never started waiting on the lock");
}

/// The media tar a download of the backup writes, unpacked: `media/…` and the media manifest.
pub async fn downloaded_media(lb: &Lifeboat, backup_id: &str) -> tempfile::TempDir {
    let (_out, tar) = downloaded_media_tar(lb, backup_id).await;
    let unpacked = tempfile::tempdir().unwrap();
    common::run(
        Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(unpacked.path()),
    );
    unpacked
}

/// The media tar a download of the backup writes, in the folder it was written to.
pub async fn downloaded_media_tar(lb: &Lifeboat, backup_id: &str) -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let summary = lb
        .download(&lifeboat_core::DownloadRequest {
            backup_id: backup_id.to_owned(),
            directory: out.path().display().to_string(),
            database: false,
            media: true,
        })
        .await
        .unwrap();
    let tar = summary
        .files
        .iter()
        .find(|f| f.path.ends_with("-media.tar"))
        .expect("a media tar");
    let path = PathBuf::from(&tar.path);
    (out, path)
}
