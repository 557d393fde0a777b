//! Running PostgreSQL's client tools (pg_dump, pg_restore) against one connection: settings
//! through the environment, never the argument list, and their error output collected.

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;

use crate::connection::PgConnectionInput;
use crate::ssh::quote;

pub fn pg_env(conn: &PgConnectionInput) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PGHOST", conn.host.clone()),
        ("PGPORT", conn.port.to_string()),
        ("PGUSER", conn.user.clone()),
        ("PGDATABASE", conn.database.clone()),
        ("PGSSLMODE", conn.ssl_mode.as_str().to_owned()),
        ("PGAPPNAME", "lifeboat".to_owned()),
        ("PGCONNECT_TIMEOUT", "10".to_owned()),
    ];
    if let Some(password) = &conn.password {
        env.push(("PGPASSWORD", password.clone()));
    }
    // libpq looks for ~/.postgresql/root.crt unless told, where the probe (rustls) trusts
    // Mozilla's CAs, which the system's bundle also holds: the configured file, else that.
    if let Some(ca) = conn.ssl_root_cert.clone().or_else(system_ca_bundle) {
        env.push(("PGSSLROOTCERT", ca));
    }
    env
}

/// The operating system's CA bundle, where it has one file of them.
fn system_ca_bundle() -> Option<String> {
    [
        "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch
        "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
        "/etc/ssl/cert.pem",                  // macOS, Alpine
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).is_file())
    .map(str::to_owned)
}

/// The shell line that runs `program` on an environment's server connected where `conn` says
/// (as the server sees it): settings as `env` variables, the password read from the first line
/// of its input, never its argument list, which everyone on the server can read.
pub fn on_server_line(conn: &PgConnectionInput, program: &str, args: &[String]) -> String {
    let mut line =
        "IFS= read -r pw; if [ -n \"$pw\" ]; then PGPASSWORD=$pw; export PGPASSWORD; fi; exec env"
            .to_owned();
    // PGSSLROOTCERT names a file on this machine; the server has its own.
    for (name, value) in pg_env(conn)
        .into_iter()
        .filter(|(name, _)| !matches!(*name, "PGPASSWORD" | "PGSSLROOTCERT"))
    {
        line.push_str(&format!(" {name}={}", quote(&value)));
    }
    line.push_str(&format!(" {}", quote(program)));
    for arg in args {
        line.push_str(&format!(" {}", quote(arg)));
    }
    line
}

/// Removes every `PG*` variable from this process's environment. The shells call it first thing
/// in `main`, before any thread exists: the connection probe (sqlx reads PGOPTIONS, PGSSLCERT,
/// PGSSLROOTCERT… from the environment, with no way to turn that off) then connects where
/// Lifeboat says and nowhere else, as the client tools, started with a cleaned environment, do.
pub fn forget_inherited_pg_settings() {
    let inherited: Vec<_> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with("PG"))
        .collect();
    for name in inherited {
        std::env::remove_var(name);
    }
}

/// `tool` set up to connect where `conn` says and nowhere else: PGSERVICE, PGHOSTADDR,
/// PGOPTIONS… inherited from a cron or CI environment must not point it elsewhere.
pub fn pg_command(tool: &Path, conn: &PgConnectionInput) -> Command {
    let mut command = Command::new(tool);
    without_pg_settings(&mut command);
    command.envs(pg_env(conn));
    command
}

/// Removes every inherited `PG*` variable from `command`'s environment.
pub fn without_pg_settings(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
}

/// Reads a child's output to the end on a thread of its own.
pub fn read_all(stream: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stream {
            s.read_to_string(&mut text).ok();
        }
        text
    })
}

/// The last few non-empty lines of a tool's error output, for an error message.
pub fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" ");
    if tail.is_empty() {
        "no error output".to_owned()
    } else {
        tail
    }
}

/// `dbname='…'` for `--dbname`: pg_restore and pg_dumpall read its value as a connection string, so a bare
/// database name containing `=` would be misread.
pub fn conninfo_dbname(database: &str) -> String {
    format!(
        "dbname='{}'",
        database.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_quoted_for_the_connection_string() {
        assert_eq!(conninfo_dbname("shop"), "dbname='shop'");
        assert_eq!(conninfo_dbname("a=b 'c'\\"), r"dbname='a=b \'c\'\\'");
    }
}
