//! Free space on the filesystem a job is about to write to, checked before it starts so a
//! full disk is a clear error up front rather than a failure half-way; and flushing what was
//! written there.

use std::path::Path;

use crate::error::{Error, ErrorCode, Result};

/// Bytes an unprivileged process may still write on the filesystem holding `path`.
pub fn available_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: c_path is a valid NUL-terminated string and stats is a writable statvfs.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs succeeded, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    // The field types differ between platforms (u32 on some), hence the conversions.
    #[allow(clippy::useless_conversion)]
    let (blocks, size) = (u64::from(stats.f_bavail), u64::from(stats.f_frsize));
    Ok(blocks * size)
}

/// Writes everything written so far on the filesystem holding `path` to disk (`syncfs`): one
/// flush for a whole tree of files, where a sync of each would cost a disk flush per file.
pub fn sync_filesystem(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(path)?;
    // SAFETY: the descriptor belongs to `dir`, open for the duration of the call.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Fails with `disk_full` unless `dir`'s filesystem has room for `needed` bytes.
pub fn ensure_space(dir: &Path, needed: u64) -> Result<()> {
    let available = available_bytes(dir).map_err(|e| {
        Error::new(
            ErrorCode::Io,
            format!("Cannot read the free space of {}: {e}", dir.display()),
        )
    })?;
    room_for(&dir.display().to_string(), available, needed)
}

/// Fails with `disk_full` unless `available` bytes at `place` hold `needed`.
pub fn room_for(place: &str, available: u64, needed: u64) -> Result<()> {
    if available < needed {
        return Err(Error::new(
            ErrorCode::DiskFull,
            format!(
                "{place} has {} free but {} are needed.",
                human_bytes(available),
                human_bytes(needed)
            ),
        ));
    }
    Ok(())
}

/// Sizes in binary units (1 KiB = 1024 B) everywhere: the app, the CLI and error messages.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Maps a write error, naming a full disk as such.
pub fn write_error(e: &std::io::Error, what: &str) -> Error {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        Error::new(
            ErrorCode::DiskFull,
            format!("The disk filled up while writing {what}."),
        )
    } else {
        Error::new(ErrorCode::Io, format!("Writing {what} failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_file_manager() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn a_demand_larger_than_the_disk_is_refused() {
        let dir = std::env::temp_dir();
        assert!(available_bytes(&dir).unwrap() > 0);
        let e = ensure_space(&dir, u64::MAX).unwrap_err();
        assert_eq!(e.code, ErrorCode::DiskFull);
        ensure_space(&dir, 1).unwrap();
    }
}
