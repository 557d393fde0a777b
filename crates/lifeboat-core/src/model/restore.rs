//! Restores: what is asked for, what it would do, and what it did.

use lifeboat_format::manifest::AppMigration;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::verify::VerifyCheck;
use crate::error::{Error, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RestoreRequest {
    pub backup_id: String,
    /// The destination environment.
    pub environment_id: String,
    pub database: bool,
    pub media: bool,
    /// Back up the destination first (on by default in every shell).
    pub safety_backup: bool,
    /// The destination environment's name as the user typed it, when the preview asks for it.
    pub confirmation: Option<String>,
}

/// What a restore into an environment would overwrite, for the confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RestorePreview {
    pub application_name: String,
    pub environment_name: String,
    pub same_environment: bool,
    /// The user must type the destination's name: another environment, or a production one.
    pub requires_typed_confirmation: bool,
    /// The database that would be overwritten (`name on host:port`), if the destination has one.
    pub database: Option<String>,
    /// The media directory that would be replaced, if the destination has one.
    pub media_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RestoreSummary {
    pub backup_id: String,
    /// The backup taken of the destination just before, which undoes this restore.
    pub safety_backup_id: Option<String>,
    pub database: Option<DatabaseRestoreSummary>,
    pub media: Option<MediaRestoreSummary>,
    /// Checks of the restored destination; all pass on a good restore.
    pub checks: Vec<VerifyCheck>,
    #[ts(type = "number")]
    pub duration_ms: u64,
}

impl RestoreSummary {
    pub fn checks_passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DatabaseRestoreSummary {
    pub database: String,
    #[ts(type = "number")]
    pub tables: u64,
    pub extensions: Vec<String>,
    /// The latest applied Django migration of each app, when the dump had `django_migrations`.
    pub latest_migrations: Vec<AppMigration>,
    /// Objects the destination already had and kept as they were, instead of recreating them.
    pub kept: Vec<PlannedObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct MediaRestoreSummary {
    pub directory: String,
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub bytes: u64,
    /// Where the replaced directory was kept, when the settings ask for it.
    pub kept_copy: Option<String>,
    /// Into a bucket: the objects written (the others were already as backed up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub written: Option<u64>,
    /// Into a bucket: the objects under the prefix the backup does not have, deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub deleted: Option<u64>,
}

/// One object the plan leaves as it is, or that needs an administrator first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PlannedObject {
    /// `extension`, `schema`, `table`, `event trigger`…
    pub kind: String,
    pub name: String,
    /// Why, in a few words: "already installed, owned by postgres".
    pub reason: String,
    /// For objects that need an administrator: who does what ("a superuser runs").
    pub fix: Option<String>,
    /// The one line to run, when there is one.
    pub command: Option<String>,
}

impl PlannedObject {
    /// "a superuser runs: psql …", for messages.
    pub fn remedy(&self) -> Option<String> {
        match (&self.fix, &self.command) {
            (Some(fix), Some(command)) => Some(format!("{fix}: {command}")),
            (fix, command) => fix.clone().or_else(|| command.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ObjectCount {
    /// In the singular, lower case: `table`, `sequence`, `index`…
    pub kind: String,
    #[ts(type = "number")]
    pub count: u64,
}

/// What restoring a dump into one database will do, shown before the restore starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DatabaseRestorePlan {
    pub database: String,
    /// The role the restore runs as.
    pub role: String,
    /// Objects dropped (when present) and created again from the dump, by kind.
    pub recreated: Vec<ObjectCount>,
    /// Objects the destination already has and keeps as they are.
    pub kept: Vec<PlannedObject>,
    /// Objects the dump needs that the role cannot create: the restore will not start.
    pub needs_admin: Vec<PlannedObject>,
}

impl DatabaseRestorePlan {
    /// The error that stops a restore before anything changes, when the plan has one.
    pub fn refusal(&self) -> Option<Error> {
        if self.needs_admin.is_empty() {
            return None;
        }
        let items: Vec<String> = self
            .needs_admin
            .iter()
            .map(|o| {
                let fix = o.remedy().map(|f| format!(" — {f}")).unwrap_or_default();
                format!("{} {} ({}){fix}", o.kind, o.name, o.reason)
            })
            .collect();
        Some(Error::new(
            ErrorCode::PgNeedsAdmin,
            format!(
                "Restoring into {} as {} needs its administrator first, so nothing was changed: {}.",
                self.database,
                self.role,
                items.join("; ")
            ),
        ))
    }
}
