//! A restore drill: what is asked for, and the report it ends with.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::verify::VerifyCheck;
use crate::error::{Error, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DrillRequest {
    pub environment_id: String,
    /// The environment's newest backup when absent.
    pub backup_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DrillReport {
    /// The drill's job id.
    pub id: String,
    pub environment_id: String,
    pub backup_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub ok: bool,
    pub checks: Vec<VerifyCheck>,
    /// How long restoring the database took: the restore time to expect.
    #[ts(type = "number")]
    pub database_restore_ms: u64,
    #[ts(type = "number")]
    pub media_restore_ms: u64,
}

impl DrillReport {
    pub fn first_failure(&self) -> Option<&VerifyCheck> {
        self.checks.iter().find(|c| !c.ok)
    }

    /// The `drill_failed` error naming the first failed check, if one failed.
    pub fn failure(&self) -> Option<Error> {
        self.first_failure().map(|check| {
            Error::new(
                ErrorCode::DrillFailed,
                format!(
                    "The drill failed its {} check: {}.",
                    check.name, check.detail
                ),
            )
        })
    }
}
