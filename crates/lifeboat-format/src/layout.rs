//! Where a backup's objects go under a storage target: `<application>/<environment>/<backup
//! id>/`, holding its artifacts and, written last, `manifest.json`.

use std::collections::BTreeMap;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const DATABASE_FILE: &str = "database.dump.zst.age";
pub const MEDIA_FILE: &str = "media.tar.zst.age";
/// Where a target's deduplicated repository is (format 2): packs and index objects. Names of
/// applications start with a letter or digit, so no backup directory is ever here.
pub const REPOSITORY_DIR: &str = "_chunks";
/// The tree of a deduplicated dump (format 2).
pub const DATABASE_TREE_FILE: &str = "database.tree.zst.age";
/// The tree of a deduplicated media archive (format 2).
pub const MEDIA_TREE_FILE: &str = "media.tree.zst.age";
pub const GLOBALS_FILE: &str = "globals.sql.zst.age";

/// A backup's directory.
pub fn backup_dir(application: &str, environment: &str, backup_id: &str) -> String {
    format!("{application}/{environment}/{backup_id}")
}

/// The key of an object (`name`) inside a backup's directory.
pub fn object_key(backup_dir: &str, name: &str) -> String {
    format!("{backup_dir}/{name}")
}

/// Backup directories among the object names under a target, and whether each holds its
/// manifest (a directory without one is an unfinished backup).
pub fn backup_dirs(names: impl IntoIterator<Item = String>) -> BTreeMap<String, bool> {
    let mut dirs = BTreeMap::new();
    for name in names {
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() != 4 || parts[0] == REPOSITORY_DIR {
            continue; // probe objects, or anything Lifeboat did not write
        }
        let has = dirs.entry(parts[..3].join("/")).or_insert(false);
        *has |= parts[3] == MANIFEST_FILE;
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_three_level_directories_are_backups() {
        let names = [
            "shop/production/b1/manifest.json",
            "shop/production/b1/database.dump.zst.age",
            "shop/production/b2/media.tar.zst.age",
            "_chunks/packs/ab/ab12",
            ".lifeboat-probe-x",
            "shop/stray.txt",
        ];
        let dirs = backup_dirs(names.iter().map(|n| (*n).to_owned()));
        assert_eq!(
            dirs.into_iter().collect::<Vec<_>>(),
            vec![
                ("shop/production/b1".to_owned(), true),
                ("shop/production/b2".to_owned(), false)
            ]
        );
        assert_eq!(
            object_key(&backup_dir("shop", "production", "b1"), MANIFEST_FILE),
            "shop/production/b1/manifest.json"
        );
    }
}
