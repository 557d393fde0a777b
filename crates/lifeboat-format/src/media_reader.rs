//! Reading a media archive back: every entry's path is checked before anyone sees it (no
//! absolute paths, no `..`, nothing outside `media/`, no symlink leading out of the root, no
//! other entry types), and when the archive ends what was seen must equal the media manifest
//! stored at its end. Verification hashes the files; restores write them out.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::media::{MediaEntryKind, MediaManifest, MANIFEST_NAME, MEDIA_DIR};

/// One entry of the archive, already checked to stay inside the media root.
pub struct ArchiveEntry<'a> {
    /// Relative to the media root, `/`-separated, never empty.
    pub relative: String,
    pub kind: MediaEntryKind,
    pub mode: u32,
    pub mtime: u64,
    pub link_target: Option<PathBuf>,
    /// The body's length, as the archive's header gives it.
    pub size: u64,
    pub body: &'a mut dyn Read,
}

/// The media manifest is held in memory to be parsed; a million files take about 200 MiB, so
/// anything beyond this is not one Lifeboat wrote.
const MAX_MANIFEST_BYTES: u64 = 512 << 20;

/// Whether `walk` holds each file's SHA-256 to the media manifest's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileHashes {
    /// The visitor returns the SHA-256 of each file's body, and it must be the manifest's.
    Compared,
    /// The archive was rebuilt from blobs each proven by its keyed id as it was read (format
    /// 2), so every byte of every file is the backup's already: hashing the files again would
    /// be a second pass over all of them that proves nothing more. The visitor returns `None`
    /// for files; names and kinds are still held to the manifest.
    Proven,
}

impl FileHashes {
    /// What a reader of `plain` leaves to prove.
    pub fn of(plain: &crate::read::ArtifactReader) -> Self {
        if plain.proves_blobs() {
            Self::Proven
        } else {
            Self::Compared
        }
    }
}

/// Walks the archive, handing each entry to `visit`, which returns the SHA-256 of what it read
/// for files when `hashes` compares them. Returns the media manifest once everything matched
/// it.
pub fn walk(
    plain: &mut dyn Read,
    hashes: FileHashes,
    mut visit: impl FnMut(ArchiveEntry<'_>) -> Result<Option<String>, String>,
) -> Result<MediaManifest, String> {
    let mut archive = tar::Archive::new(plain);
    let mut seen: BTreeMap<String, (MediaEntryKind, Option<String>)> = BTreeMap::new();
    let mut listing: Option<MediaManifest> = None;
    // Judged once all are known: a link can lead outside only through another.
    let mut links: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in archive
        .entries()
        .map_err(|e| format!("not a tar archive ({e})"))?
    {
        let mut entry = entry.map_err(|e| format!("damaged tar entry ({e})"))?;
        let path = entry
            .path()
            .map_err(|e| format!("unreadable entry name ({e})"))?
            .into_owned();
        if !is_plain_relative(&path) {
            return Err(format!("unsafe entry path {}", path.display()));
        }
        let name = path.to_string_lossy().into_owned();
        if name == MANIFEST_NAME {
            let mut text = Vec::new();
            (&mut entry)
                .take(MAX_MANIFEST_BYTES + 1)
                .read_to_end(&mut text)
                .map_err(|e| e.to_string())?;
            if text.len() as u64 > MAX_MANIFEST_BYTES {
                return Err(format!(
                    "the media manifest is larger than {} MiB",
                    MAX_MANIFEST_BYTES >> 20
                ));
            }
            listing = Some(
                serde_json::from_slice(&text)
                    .map_err(|e| format!("unreadable media manifest ({e})"))?,
            );
            continue;
        }
        let relative = name
            .strip_prefix(&format!("{MEDIA_DIR}/"))
            .ok_or_else(|| format!("entry {name} is outside {MEDIA_DIR}/"))?
            .trim_end_matches('/')
            .to_owned();
        if relative.is_empty() {
            return Err(format!("entry {name} has no name"));
        }
        let header = entry.header();
        let entry_type = header.entry_type();
        let kind = if entry_type.is_file() {
            MediaEntryKind::File
        } else if entry_type.is_dir() {
            MediaEntryKind::Directory
        } else if entry_type.is_symlink() {
            MediaEntryKind::Symlink
        } else {
            return Err(format!("unexpected entry type for {relative}"));
        };
        let mode = header.mode().unwrap_or(0o644);
        let mtime = header.mtime().unwrap_or(0);
        let size = header.size().unwrap_or(0);
        let link_target = match kind {
            MediaEntryKind::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| format!("unreadable link target of {relative} ({e})"))?
                    .ok_or_else(|| format!("symlink {relative} has no target"))?
                    .into_owned();
                links.insert(relative.clone(), target.clone());
                Some(target)
            }
            _ => None,
        };
        let sha256 = visit(ArchiveEntry {
            relative: relative.clone(),
            kind,
            mode,
            mtime,
            link_target,
            size,
            body: &mut entry,
        })?;
        let sha256 = sha256.filter(|_| hashes == FileHashes::Compared);
        if seen.insert(relative.clone(), (kind, sha256)).is_some() {
            return Err(format!("{relative} appears twice in the archive"));
        }
    }
    links_resolve_inside(&links)?;
    let listing = listing.ok_or("the archive has no media manifest")?;
    let listed: BTreeMap<&str, (MediaEntryKind, Option<String>)> = listing
        .entries
        .iter()
        .map(|e| {
            let sha256 = match hashes {
                FileHashes::Compared => e.sha256.clone(),
                FileHashes::Proven => None,
            };
            (e.path.as_str(), (e.kind, sha256))
        })
        .collect();
    if let Some((path, _)) = listed
        .iter()
        .find(|(path, want)| seen.get(**path) != Some(want))
    {
        return Err(format!("{path} does not match the media manifest"));
    }
    if let Some(path) = seen.keys().find(|p| !listed.contains_key(p.as_str())) {
        return Err(format!(
            "{path} is in the archive but not in the media manifest"
        ));
    }
    Ok(listing)
}

/// A reader that hashes what passes through it, for a visitor that hands a body on to
/// something that reads (a tar builder) rather than writes.
pub struct HashingRead<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingRead<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 of everything read, in hex.
    pub fn sha256(&self) -> String {
        format!("{:x}", self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for HashingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Hashes an entry's body; what a visitor that only checks returns for files.
pub fn hash(body: &mut dyn Read) -> Result<String, String> {
    copy(body, &mut io::sink(), FileHashes::Compared)
        .map(|sha| sha.expect("a compared copy is hashed"))
}

thread_local! {
    /// `copy`'s buffer, one per thread: a fresh one for each file was an allocation and 64 KiB
    /// of zeroing per file, for a tree of small files more than the copy itself.
    static COPY_BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 64 * 1024]);
}

/// Copies an entry's body to `out`, returning its SHA-256 when `hashes` compares them: what
/// a visitor returns for files.
pub fn copy(
    body: &mut dyn Read,
    out: &mut dyn Write,
    hashes: FileHashes,
) -> Result<Option<String>, String> {
    COPY_BUFFER.with_borrow_mut(|buf| {
        let mut hasher = (hashes == FileHashes::Compared).then(Sha256::new);
        loop {
            let n = match body.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("the archive is damaged ({e})")),
            };
            if let Some(hasher) = &mut hasher {
                hasher.update(&buf[..n]);
            }
            out.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        }
        Ok(hasher.map(|h| format!("{:x}", h.finalize())))
    })
}

pub(crate) fn is_plain_relative(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Where a symlink at `relative` pointing to `target` ends up once the other links of the
/// archive are followed too, as path components below the root; `None` when it leaves the
/// root on the way or loops. Names alone are consulted, never the disk.
fn resolve_link(
    relative: &str,
    target: &Path,
    links: &BTreeMap<String, PathBuf>,
    hops: &mut u32,
) -> Option<Vec<String>> {
    let mut at: Vec<String> = relative.split('/').map(str::to_owned).collect();
    at.pop();
    follow(at, target, links, hops)
}

fn follow(
    mut at: Vec<String>,
    target: &Path,
    links: &BTreeMap<String, PathBuf>,
    hops: &mut u32,
) -> Option<Vec<String>> {
    // Deeper than any real tree of links: a loop.
    const MAX_HOPS: u32 = 40;
    for component in target.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop()?;
            }
            Component::Normal(name) => {
                at.push(name.to_string_lossy().into_owned());
                if let Some(next) = links.get(&at.join("/")) {
                    *hops += 1;
                    if *hops > MAX_HOPS {
                        return None;
                    }
                    at.pop();
                    at = follow(at, next, links, hops)?;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(at)
}

/// Every symlink of a tree resolves inside its root, also through other links (`d/l1 -> ..`
/// stays inside; `d/l2 -> l1/..` does not). Names the first that does not.
pub fn links_resolve_inside(links: &BTreeMap<String, PathBuf>) -> Result<(), String> {
    for (relative, target) in links {
        if resolve_link(relative, target, links, &mut 0).is_none() {
            return Err(format!(
                "symlink {relative} resolves outside the media root ({}, through the links around it)",
                target.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(pairs: &[(&str, &str)]) -> BTreeMap<String, PathBuf> {
        pairs
            .iter()
            .map(|(at, to)| ((*at).to_owned(), PathBuf::from(to)))
            .collect()
    }

    #[test]
    fn links_inside_the_root_are_accepted() {
        for (at, to) in [
            ("uploads/latest.jpg", "2026/11/photo.jpg"),
            ("a/b/c", "../x"),
            ("a/b/c", "../../x"),
            ("a/b/c", "./../x/../y"),
            ("d/l1", ".."),
        ] {
            assert!(
                links_resolve_inside(&links(&[(at, to)])).is_ok(),
                "{at} -> {to}"
            );
        }
    }

    #[test]
    fn links_leaving_the_root_are_refused() {
        for (at, to) in [
            ("top", "../x"),
            ("a/b", "../../x"),
            ("a/b", "/etc/passwd"),
            // Dipping out and back in still touches the outside on the way.
            ("a", "../a/x"),
        ] {
            assert!(
                links_resolve_inside(&links(&[(at, to)])).is_err(),
                "{at} -> {to}"
            );
        }
    }

    #[test]
    fn links_leading_out_through_other_links_are_refused() {
        // Each alone stays inside; followed through `d/l1` (the root), `l1/..` is its parent.
        let chained = links(&[("d/l1", ".."), ("d/l2", "l1/..")]);
        let e = links_resolve_inside(&chained).unwrap_err();
        assert!(e.contains("d/l2"), "{e}");
        // Links that loop never resolve.
        assert!(links_resolve_inside(&links(&[("a", "b"), ("b", "a")])).is_err());
        // Through a link to a directory inside, a link stays inside.
        assert!(links_resolve_inside(&links(&[("d/up", ".."), ("d/x", "up/d")])).is_ok());
    }

    #[test]
    fn an_archive_whose_links_lead_out_together_is_refused() {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, target) in [("media/d/l1", ".."), ("media/d/l2", "l1/..")] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, name, target).unwrap();
        }
        let archive = tar.into_inner().unwrap();
        let e = walk(&mut archive.as_slice(), FileHashes::Compared, |_| Ok(None)).unwrap_err();
        assert!(e.contains("d/l2") && e.contains("outside"), "{e}");
    }

    /// An archive of `files` (name, body) whose manifest lists `listed` (name, SHA-256).
    fn archive(files: &[(&str, &[u8])], listed: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, format!("{MEDIA_DIR}/{name}"), *body)
                .unwrap();
        }
        let entries = listed
            .iter()
            .map(|(name, sha256)| crate::media::MediaEntry {
                path: (*name).to_owned(),
                kind: MediaEntryKind::File,
                size: 1,
                mtime: 0,
                mode: 0o644,
                sha256: Some((*sha256).to_owned()),
                link_target: None,
                object: None,
            })
            .collect();
        let manifest = serde_json::to_vec(&MediaManifest { format: 1, entries }).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        tar.append_data(&mut header, MANIFEST_NAME, manifest.as_slice())
            .unwrap();
        tar.into_inner().unwrap()
    }

    #[test]
    fn proven_files_are_not_hashed_yet_names_are_still_held_to_the_manifest() {
        let copy = |hashes| {
            move |entry: ArchiveEntry<'_>| match entry.kind {
                MediaEntryKind::File => copy(entry.body, &mut io::sink(), hashes),
                _ => Ok(None),
            }
        };
        let a_sha = format!("{:x}", Sha256::digest(b"a"));
        let right = archive(&[("a", b"a")], &[("a", &a_sha)]);
        let wrong_hash = archive(&[("a", b"a")], &[("a", "0")]);
        for hashes in [FileHashes::Compared, FileHashes::Proven] {
            assert!(walk(&mut right.as_slice(), hashes, copy(hashes)).is_ok());
        }
        let e = walk(
            &mut wrong_hash.as_slice(),
            FileHashes::Compared,
            copy(FileHashes::Compared),
        );
        assert!(e.unwrap_err().contains("does not match"));
        // Proven by blobs already: a hash the manifest gets wrong is not looked at again.
        let proven = FileHashes::Proven;
        assert!(walk(&mut wrong_hash.as_slice(), proven, copy(proven)).is_ok());
        // What the manifest does not list, or lists and the archive lacks, is refused either
        // way.
        let extra = archive(&[("a", b"a"), ("b", b"b")], &[("a", &a_sha)]);
        let e = walk(&mut extra.as_slice(), proven, copy(proven)).unwrap_err();
        assert!(
            e.contains("b is in the archive but not in the media manifest"),
            "{e}"
        );
        let missing = archive(&[("a", b"a")], &[("a", &a_sha), ("b", "0")]);
        let e = walk(&mut missing.as_slice(), proven, copy(proven)).unwrap_err();
        assert!(e.contains("b does not match the media manifest"), "{e}");
    }

    #[test]
    fn only_plain_relative_paths_pass() {
        assert!(is_plain_relative(Path::new("media/a/b.txt")));
        assert!(!is_plain_relative(Path::new("/media/a")));
        assert!(!is_plain_relative(Path::new("media/../../etc")));
        assert!(!is_plain_relative(Path::new("./media/a")));
    }
}
