//! Commands an environment runs around its backups and restores, and what one run did.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum HookPhase {
    BeforeBackup,
    AfterBackup,
    BeforeRestore,
    AfterRestore,
}

impl HookPhase {
    pub const ALL: [Self; 4] = [
        Self::BeforeBackup,
        Self::AfterBackup,
        Self::BeforeRestore,
        Self::AfterRestore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeforeBackup => "before-backup",
            Self::AfterBackup => "after-backup",
            Self::BeforeRestore => "before-restore",
            Self::AfterRestore => "after-restore",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

pub const DEFAULT_HOOK_TIMEOUT_SECONDS: u32 = 600;

fn default_timeout() -> u32 {
    DEFAULT_HOOK_TIMEOUT_SECONDS
}

/// An environment's hooks: shell commands (`sh -c`), each optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Hooks {
    pub before_backup: Option<String>,
    pub after_backup: Option<String>,
    pub before_restore: Option<String>,
    pub after_restore: Option<String>,
    /// How long one hook may run before it is stopped (and, for a "before" hook, the job with
    /// it).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

impl Default for Hooks {
    fn default() -> Self {
        Self {
            before_backup: None,
            after_backup: None,
            before_restore: None,
            after_restore: None,
            timeout_seconds: DEFAULT_HOOK_TIMEOUT_SECONDS,
        }
    }
}

impl Hooks {
    pub fn command(&self, phase: HookPhase) -> Option<&str> {
        match phase {
            HookPhase::BeforeBackup => self.before_backup.as_deref(),
            HookPhase::AfterBackup => self.after_backup.as_deref(),
            HookPhase::BeforeRestore => self.before_restore.as_deref(),
            HookPhase::AfterRestore => self.after_restore.as_deref(),
        }
    }

    pub fn set(&mut self, phase: HookPhase, command: Option<String>) {
        let slot = match phase {
            HookPhase::BeforeBackup => &mut self.before_backup,
            HookPhase::AfterBackup => &mut self.after_backup,
            HookPhase::BeforeRestore => &mut self.before_restore,
            HookPhase::AfterRestore => &mut self.after_restore,
        };
        *slot = command.filter(|c| !c.trim().is_empty());
    }
}

/// One hook as it ran, kept in its job's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct HookRun {
    pub phase: HookPhase,
    pub command: String,
    /// None when it did not exit by itself (stopped at its timeout, or by Cancel).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The end of what it wrote to stdout and stderr, interleaved.
    pub output: String,
    #[ts(type = "number")]
    pub duration_ms: u64,
}

impl HookRun {
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0)
    }
}
