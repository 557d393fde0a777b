//! The app-wide settings, as the shells show and change them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Settings {
    /// Searched for pg_dump before /usr/lib/postgresql/<version>/bin and PATH.
    pub pg_bin_dir: Option<String>,
    /// zstd level for backups: 1 (fastest) to 19 (smallest).
    pub zstd_level: i32,
    /// Restores recreate the grants recorded in the dump (off: they are skipped, which works
    /// across servers with other roles). Owners always follow the destination: restored
    /// objects belong to the role the restore runs as.
    pub restore_privileges: bool,
    /// A media restore keeps the directory it replaced as `<dir>.before-restore-<time>`.
    pub keep_replaced_media: bool,
    /// Every backup is read back and verified right after it is made (on unless turned off).
    pub verify_after_backup: bool,
    /// The OpenSSH configuration servers are reached with (Host aliases, IdentityFile,
    /// ProxyJump…); `~/.ssh/config` when unset.
    #[serde(default)]
    pub ssh_config: Option<String>,
    /// Backups are deduplicated (storage format 2): the dump's chunks and each media file's
    /// content are stored once per target, so a backup after a small change stores only what
    /// changed. Off by default while it is a preview (no repacking of partly used packs).
    #[serde(default)]
    pub deduplicate: bool,
    /// Deduplicated backups read every media file, rather than taking a file whose size,
    /// times and inode are unchanged from the previous backup unread.
    #[serde(default)]
    pub rescan_media: bool,
}
