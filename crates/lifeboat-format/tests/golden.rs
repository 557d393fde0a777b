//! The stored format pinned by fixtures: a manifest and a media archive as Lifeboat writes them
//! (docs/storage-format.md). A change that fails here changes what is in people's buckets.

use lifeboat_format::manifest::{self, BackupManifest, FORMAT_VERSION};
use lifeboat_format::media::MediaEntryKind;
use lifeboat_format::media_reader::{self, FileHashes};

const MANIFEST: &str = include_str!("fixtures/manifest-v1.json");
const MEDIA: &[u8] = include_bytes!("fixtures/media-v1.tar");

#[test]
fn a_version_1_manifest_reads_and_writes_back_the_same() {
    let parsed = manifest::parse(MANIFEST.as_bytes()).unwrap();
    assert_eq!(parsed.format, 1);
    assert!(parsed.format <= FORMAT_VERSION);
    assert_eq!(parsed.database.as_ref().unwrap().toc_entries, 42);
    assert_eq!(parsed.globals.as_ref().unwrap().roles, 12);
    let written: serde_json::Value = serde_json::to_value(&parsed).unwrap();
    let stored: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
    assert_eq!(written, stored);
}

#[test]
fn a_manifest_without_the_later_fields_still_reads() {
    let mut stored: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
    let object = stored.as_object_mut().unwrap();
    object.remove("globals");
    object["database"]
        .as_object_mut()
        .unwrap()
        .remove("migrations");
    let parsed: BackupManifest =
        manifest::parse(serde_json::to_string(&stored).unwrap().as_bytes()).unwrap();
    assert_eq!(parsed.globals, None);
    assert_eq!(parsed.database.unwrap().migrations, None);
}

#[test]
fn a_newer_format_or_a_foreign_file_is_refused_with_the_reason() {
    let newer = MANIFEST.replacen("\"format\": 1", "\"format\": 3", 1);
    let e = manifest::parse(newer.as_bytes()).unwrap_err();
    assert!(e.contains("written by a newer Lifeboat (format 3"), "{e}");
    let e = manifest::parse(b"{\"hello\": 1}").unwrap_err();
    assert!(e.starts_with("not a Lifeboat manifest"), "{e}");
}

#[test]
fn a_version_1_media_archive_walks_with_every_file_matching_its_manifest() {
    let mut files = Vec::new();
    let listing = media_reader::walk(&mut &MEDIA[..], FileHashes::Compared, |entry| {
        files.push((entry.relative.clone(), entry.kind));
        match entry.kind {
            MediaEntryKind::File => media_reader::hash(entry.body).map(Some),
            _ => Ok(None),
        }
    })
    .unwrap();
    assert_eq!(listing.format, 1);
    assert_eq!(listing.entries.len(), 5);
    assert_eq!(
        files,
        [
            ("uploads".to_owned(), MediaEntryKind::Directory),
            ("uploads/2026".to_owned(), MediaEntryKind::Directory),
            ("uploads/2026/photo.jpg".to_owned(), MediaEntryKind::File),
            ("uploads/a.txt".to_owned(), MediaEntryKind::File),
            ("uploads/latest.jpg".to_owned(), MediaEntryKind::Symlink),
        ]
    );
}

#[test]
fn an_archive_written_today_walks_back_the_same_way() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("uploads/2026")).unwrap();
    std::fs::write(root.path().join("uploads/a.txt"), b"hello\n").unwrap();
    std::os::unix::fs::symlink("a.txt", root.path().join("uploads/latest.txt")).unwrap();
    let (tar, archived) =
        lifeboat_format::media::archive(root.path(), Vec::new(), &|| false).unwrap();
    assert_eq!((archived.file_count, archived.total_bytes), (2, 6));
    let listing = media_reader::walk(&mut &tar[..], FileHashes::Compared, |entry| {
        match entry.kind {
            MediaEntryKind::File => media_reader::hash(entry.body).map(Some),
            _ => Ok(None),
        }
    })
    .unwrap();
    assert_eq!(listing.entries.len(), 4);
}

/// A tree archived from `tar`'s output (the way media on a server arrives) is the archive of
/// the same tree read from disk: same entries, same manifest, restorable the same way.
#[test]
fn a_tree_streamed_by_tar_archives_like_the_same_tree_on_disk() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("uploads/2026")).unwrap();
    std::fs::write(root.path().join("uploads/a.txt"), b"hello\n").unwrap();
    std::fs::write(root.path().join("uploads/2026/b.bin"), vec![7u8; 70_000]).unwrap();
    std::os::unix::fs::symlink("a.txt", root.path().join("uploads/latest.txt")).unwrap();
    let streamed = std::process::Command::new("tar")
        .args(["-cf", "-", "--sort=name", "-C"])
        .arg(root.path())
        .arg(".")
        .output()
        .unwrap();
    assert!(streamed.status.success());

    let listed = |tar: &[u8]| {
        let mut tar = tar;
        media_reader::walk(&mut tar, FileHashes::Compared, |entry| match entry.kind {
            MediaEntryKind::File => media_reader::hash(entry.body).map(Some),
            _ => Ok(None),
        })
        .unwrap()
        .entries
    };
    let (from_disk, on_disk) =
        lifeboat_format::media::archive(root.path(), Vec::new(), &|| false).unwrap();
    let (from_stream, in_stream) =
        lifeboat_format::media::archive_stream(&streamed.stdout[..], Vec::new(), &|| false)
            .unwrap();
    assert_eq!(in_stream, on_disk);
    assert_eq!(listed(&from_stream), listed(&from_disk));

    // What may not be archived is refused by name, as from disk.
    let mut hostile = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Fifo);
    header.set_size(0);
    header.set_path("./uploads/pipe").unwrap();
    header.set_cksum();
    hostile.append(&header, std::io::empty()).unwrap();
    let refused = lifeboat_format::media::archive_stream(
        &hostile.into_inner().unwrap()[..],
        Vec::new(),
        &|| false,
    )
    .unwrap_err();
    assert!(
        matches!(&refused, lifeboat_format::media::ArchiveError::Unreadable { path, .. } if path.contains("pipe")),
        "{refused:?}"
    );
}
