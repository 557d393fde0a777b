//! Finding PostgreSQL's programs on this machine: pg_dump (and the pg_restore beside it) for
//! backups and restores, and a whole server (initdb, pg_ctl, postgres) for drills.

use std::path::{Path, PathBuf};

use serde::Serialize;
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PgDumpTool {
    pub path: String,
    pub major: u32,
    pub version: String,
}

/// Directories searched, in order: the configured one, Debian/Ubuntu's versioned directories,
/// then `PATH`.
fn search_dirs(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = configured.map(Path::to_path_buf).into_iter().collect();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versioned: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versioned.sort();
        dirs.extend(versioned);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

/// Every distinct pg_dump found, with the version it reports, newest first.
pub async fn find_pg_dumps(configured: Option<&Path>) -> Vec<PgDumpTool> {
    let mut seen = Vec::new();
    let mut tools = Vec::new();
    for dir in search_dirs(configured) {
        let candidate = dir.join("pg_dump");
        let Ok(real) = std::fs::canonicalize(&candidate) else {
            continue;
        };
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if let Some(tool) = describe(&candidate).await {
            tools.push(tool);
        }
    }
    tools.sort_by_key(|t| std::cmp::Reverse(t.major));
    tools
}

async fn describe(path: &Path) -> Option<PgDumpTool> {
    let output = tokio::process::Command::new(path)
        .arg("--version")
        .output()
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let tool = path.file_name()?.to_string_lossy();
    let version = parse_version(&tool, &text)?;
    Some(PgDumpTool {
        path: path.display().to_string(),
        major: version.split('.').next()?.parse().ok()?,
        version,
    })
}

/// Every pg_dump the environment's server has (its distribution's versioned directories and
/// its PATH), with the version each reports, newest first.
pub async fn find_on_server(session: &crate::ssh::SshSession) -> Vec<PgDumpTool> {
    const LIST: &str = "for p in /usr/lib/postgresql/*/bin/pg_dump /usr/pgsql-*/bin/pg_dump $(command -v pg_dump); do [ -x \"$p\" ] && printf '%s\\t%s\\n' \"$p\" \"$(\"$p\" --version)\"; done; true";
    let Ok(output) = tokio::process::Command::from(session.command(LIST))
        .stdin(std::process::Stdio::null())
        .output()
        .await
    else {
        return Vec::new();
    };
    parse_found(&String::from_utf8_lossy(&output.stdout))
}

/// `path<TAB>pg_dump --version` lines as tools, each path once, newest first.
fn parse_found(text: &str) -> Vec<PgDumpTool> {
    let mut tools: Vec<PgDumpTool> = Vec::new();
    for (path, said) in text.lines().filter_map(|l| l.split_once('\t')) {
        let Some(version) = parse_version("pg_dump", said) else {
            continue;
        };
        if tools.iter().any(|t| t.path == path) {
            continue;
        }
        tools.push(PgDumpTool {
            path: path.to_owned(),
            major: major_of(&version),
            version,
        });
    }
    tools.sort_by_key(|t| std::cmp::Reverse(t.major));
    tools
}

/// An installed PostgreSQL server: the directory holding initdb, pg_ctl and postgres.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgServerTools {
    pub bin: PathBuf,
    pub major: u32,
}

/// Every installed server, oldest major first.
pub async fn find_servers(configured: Option<&Path>) -> Vec<PgServerTools> {
    let mut seen = Vec::new();
    let mut servers = Vec::new();
    for dir in search_dirs(configured) {
        let complete = ["initdb", "pg_ctl", "postgres", "pg_restore", "psql"]
            .iter()
            .all(|tool| dir.join(tool).is_file());
        let Ok(real) = std::fs::canonicalize(dir.join("postgres")) else {
            continue;
        };
        if !complete || seen.contains(&real) {
            continue;
        }
        seen.push(real);
        if let Some(tool) = describe(&dir.join("pg_ctl")).await {
            servers.push(PgServerTools {
                bin: dir,
                major: tool.major,
            });
        }
    }
    servers.sort_by_key(|s| s.major);
    servers
}

/// `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` → `15.18`.
fn parse_version(tool: &str, text: &str) -> Option<String> {
    let rest = text
        .trim()
        .strip_prefix(tool)?
        .strip_prefix(" (PostgreSQL) ")?;
    let version = rest.split_whitespace().next()?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| version.to_owned())
}

/// pg_dump must be at least the server's major version; among those the oldest is chosen,
/// because a newer pg_dump writes archives that older pg_restore versions cannot read.
pub fn choose_pg_dump(tools: &[PgDumpTool], server_major: u32) -> Option<&PgDumpTool> {
    tools
        .iter()
        .filter(|t| t.major >= server_major)
        .min_by_key(|t| t.major)
}

/// A pg_restore at least as new as the pg_dump that made a dump (major `needed`).
pub async fn pg_restore_for(configured: Option<&Path>, needed: u32) -> Option<PathBuf> {
    let tools = find_pg_dumps(configured).await;
    let tool = choose_pg_dump(&tools, needed)?;
    Some(Path::new(&tool.path).with_file_name("pg_restore"))
}

/// The major version in a version string ("15.4 (Debian …)" → 15); 0 when there is none.
pub fn major_of(version: &str) -> u32 {
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions_are_read_from_version_strings() {
        assert_eq!(major_of("15.8"), 15);
        assert_eq!(major_of("16beta2"), 16);
        assert_eq!(major_of("9.6.24"), 9);
    }

    fn tool(major: u32) -> PgDumpTool {
        PgDumpTool {
            path: format!("/usr/lib/postgresql/{major}/bin/pg_dump"),
            major,
            version: format!("{major}.1"),
        }
    }

    #[test]
    fn parses_distribution_version_strings() {
        assert_eq!(
            parse_version(
                "pg_dump",
                "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"
            )
            .as_deref(),
            Some("15.18")
        );
        assert_eq!(
            parse_version("pg_ctl", "pg_ctl (PostgreSQL) 17.2").as_deref(),
            Some("17.2")
        );
        assert_eq!(parse_version("pg_dump", "something else"), None);
        assert_eq!(parse_version("pg_dump", "pg_ctl (PostgreSQL) 17.2"), None);
    }

    #[test]
    fn chooses_the_oldest_compatible_major() {
        let tools = [tool(17), tool(16), tool(14)];
        assert_eq!(choose_pg_dump(&tools, 15).map(|t| t.major), Some(16));
        assert_eq!(choose_pg_dump(&tools, 14).map(|t| t.major), Some(14));
        assert_eq!(choose_pg_dump(&tools, 18), None);
    }

    #[test]
    fn a_servers_pg_dumps_are_read_from_their_version_lines() {
        let found = parse_found(
            "/usr/lib/postgresql/16/bin/pg_dump\tpg_dump (PostgreSQL) 16.4 (Ubuntu 16.4-1)\n\
             /usr/bin/pg_dump\tpg_dump (PostgreSQL) 16.4 (Ubuntu 16.4-1)\n\
             /usr/lib/postgresql/14/bin/pg_dump\tpg_dump (PostgreSQL) 14.9\n\
             /usr/lib/postgresql/16/bin/pg_dump\tpg_dump (PostgreSQL) 16.4\n\
             /opt/broken/pg_dump\tsomething else\n",
        );
        let majors: Vec<u32> = found.iter().map(|t| t.major).collect();
        assert_eq!(majors, [16, 16, 14]);
        assert_eq!(found[2].path, "/usr/lib/postgresql/14/bin/pg_dump");
    }

    #[tokio::test]
    async fn finds_the_server_installed_here() {
        let found = find_servers(None).await;
        assert!(found.iter().any(|s| s.major >= 15), "{found:?}");
    }

    #[tokio::test]
    async fn finds_the_pg_dump_installed_here() {
        let found = find_pg_dumps(None).await;
        assert!(
            found.iter().any(|t| t.major >= 15),
            "no pg_dump ≥ 15 found: {found:?}"
        );
    }
}
