//! A verification's checks, as the backup records them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VerifyCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VerifyReport {
    pub backup_id: String,
    pub ok: bool,
    pub verified_at: String,
    pub checks: Vec<VerifyCheck>,
    /// The light check after a deduplicated backup: its trees read, its packs listed and a
    /// sample of them read back, rather than everything read and restored in a trial.
    #[serde(default)]
    pub sampled: bool,
}
