//! An environment's PostgreSQL connection settings, and parsing them from a `DATABASE_URL`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use url::Url;

use crate::error::{Error, ErrorCode, Result};
use crate::validation;

pub const DEFAULT_PORT: u16 = 5432;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// What a connection to `host` gets unless told otherwise: on this machine TLS adds
    /// nothing, anywhere else the server must prove who it is (an active attacker could
    /// otherwise downgrade `prefer` to plain text and read the password).
    pub fn default_for(host: &str) -> Self {
        if is_loopback(host) {
            Self::Prefer
        } else {
            Self::VerifyFull
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Disable,
            Self::Prefer,
            Self::Require,
            Self::VerifyCa,
            Self::VerifyFull,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Whether `host` is this machine: a loopback name or address, or a Unix socket directory.
pub fn is_loopback(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Saved connection settings as shown to the UI: the password itself lives in the keyring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PgConnection {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub ssl_mode: SslMode,
    /// A CA certificate file (PEM) that vouches for the server's certificate, for
    /// verify-ca/verify-full: a managed provider's or a self-signed CA. The system's CAs when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ssl_root_cert: Option<String>,
    pub has_password: bool,
}

impl PgConnection {
    /// Whether this saved connection's password may go with `input`: only to the host, port
    /// and user it was saved for, so editing the host never hands it to another server.
    pub fn password_fits(&self, input: &PgConnectionInput) -> bool {
        self.has_password
            && self.host.eq_ignore_ascii_case(&input.host)
            && self.port == input.port
            && self.user == input.user
    }
}

/// Connection settings as typed or parsed; `password: None` keeps the stored one, as long as
/// the host, port and user stay the ones it was saved for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PgConnectionInput {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub ssl_mode: SslMode,
    /// A CA certificate file (PEM) that vouches for the server's certificate, for
    /// verify-ca/verify-full: a managed provider's or a self-signed CA. The system's CAs when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ssl_root_cert: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for PgConnectionInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnectionInput")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_root_cert", &self.ssl_root_cert)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl PgConnectionInput {
    /// Saved settings with the password that goes with them (`None`: keep or use none).
    pub fn from_saved(saved: PgConnection, password: Option<String>) -> Self {
        Self {
            host: saved.host,
            port: saved.port,
            database: saved.database,
            user: saved.user,
            ssl_mode: saved.ssl_mode,
            ssl_root_cert: saved.ssl_root_cert,
            password,
        }
    }

    /// Trims the fields and reports the first missing one against its form field.
    pub fn validated(&self) -> Result<Self> {
        if self.port == 0 {
            return Err(Error::validation(
                "port",
                "Port must be between 1 and 65535.",
            ));
        }
        Ok(Self {
            host: validation::required("host", "Host", &self.host)?,
            port: self.port,
            database: validation::required("database", "Database", &self.database)?,
            user: validation::required("user", "User", &self.user)?,
            ssl_mode: self.ssl_mode,
            ssl_root_cert: match self.ssl_root_cert.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(path) if !std::path::Path::new(path).is_absolute() => {
                    return Err(Error::validation(
                        "sslRootCert",
                        "Give the CA certificate file as an absolute path.",
                    ))
                }
                Some(path) => Some(path.to_owned()),
            },
            password: self.password.clone().filter(|p| !p.is_empty()),
        })
    }
}

/// Parses `postgres://user:pass@host:5432/db?sslmode=require` (also `postgresql://`),
/// decoding percent-escapes in the user, password and database name. As with libpq, `host=`
/// and `port=` in the query name a host the URL leaves out, such as a socket directory:
/// `postgres://app@/shop?host=/var/run/postgresql`.
pub fn parse_database_url(raw: &str) -> Result<PgConnectionInput> {
    let invalid = |why: &str| {
        Error::field(
            ErrorCode::InvalidDatabaseUrl,
            "databaseUrl",
            format!("This is not a PostgreSQL URL: {why}"),
        )
    };
    // The URL standard refuses a user with no host (`app@/shop`), which libpq reads as "the
    // host is in the query": a stand-in host, replaced by the query's below, lets it parse.
    let raw = raw.trim();
    let stand_in;
    let raw = match raw.split_once("@/") {
        Some((before, after)) if raw.contains("host=") => {
            stand_in = format!("{before}@localhost/{after}");
            stand_in.as_str()
        }
        _ => raw,
    };
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(invalid(&format!(
            "it starts with “{}://”, expected “postgres://”.",
            url.scheme()
        )));
    }
    let query_host = url
        .query_pairs()
        .find(|(key, _)| key == "host")
        .map(|(_, value)| value.into_owned());
    let host = match (query_host, url.host_str().filter(|h| !h.is_empty())) {
        (Some(host), _) => host,
        (None, Some(host)) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        (None, None) => return Err(invalid("it names no host.")),
    };
    let mut port = url.port().unwrap_or(DEFAULT_PORT);
    let decode =
        |s: &str| percent_decode(s).ok_or_else(|| invalid("it holds an invalid percent-escape."));
    let database = decode(url.path().trim_start_matches('/'))?;
    if database.is_empty() || database.contains('/') {
        return Err(invalid("it names no database (…/dbname)."));
    }
    let user = decode(url.username())?;
    if user.is_empty() {
        return Err(invalid("it names no user (user@host)."));
    }
    let password = url.password().map(decode).transpose()?;
    let mut ssl_mode = SslMode::default_for(&host);
    let mut ssl_root_cert = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "sslmode" => {
                ssl_mode = SslMode::parse(&value)
                    .ok_or_else(|| invalid(&format!("sslmode “{value}” is not known.")))?;
            }
            "sslrootcert" => ssl_root_cert = Some(value.into_owned()),
            "port" => {
                port = value
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| invalid(&format!("port “{value}” is not a port.")))?;
            }
            _ => {}
        }
    }
    Ok(PgConnectionInput {
        host,
        port,
        database,
        user,
        ssl_mode,
        ssl_root_cert,
        password,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_url() {
        let c = parse_database_url(
            "postgres://shop:s%40cr%2Ft@db.example.com:6543/shop_prod?sslmode=require",
        )
        .unwrap();
        assert_eq!(c.host, "db.example.com");
        assert_eq!(c.port, 6543);
        assert_eq!(c.database, "shop_prod");
        assert_eq!(c.user, "shop");
        assert_eq!(c.password.as_deref(), Some("s@cr/t"));
        assert_eq!(c.ssl_mode, SslMode::Require);
    }

    #[test]
    fn defaults_port_and_sslmode_and_accepts_postgresql_scheme() {
        let c = parse_database_url("postgresql://app@localhost/app").unwrap();
        assert_eq!(
            (c.port, c.ssl_mode, c.password),
            (5432, SslMode::Prefer, None)
        );
    }

    #[test]
    fn another_machine_must_prove_who_it_is_unless_the_url_says_otherwise() {
        let c = parse_database_url("postgres://app@db.example.com/app").unwrap();
        assert_eq!((c.ssl_mode, c.ssl_root_cert), (SslMode::VerifyFull, None));
        for local in ["localhost", "127.0.0.1", "[::1]"] {
            let c = parse_database_url(&format!("postgres://app@{local}/app")).unwrap();
            assert_eq!(c.ssl_mode, SslMode::Prefer, "{local}");
        }
        let c = parse_database_url(
            "postgres://app@db.example.com/app?sslmode=verify-ca&sslrootcert=/etc/ssl/rds.pem",
        )
        .unwrap();
        assert_eq!(c.ssl_mode, SslMode::VerifyCa);
        assert_eq!(c.ssl_root_cert.as_deref(), Some("/etc/ssl/rds.pem"));
    }

    #[test]
    fn a_socket_directory_comes_from_the_query_as_with_libpq() {
        let c =
            parse_database_url("postgres://app@/shop?host=/var/run/postgresql&port=5433").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.ssl_mode),
            ("/var/run/postgresql", 5433, SslMode::Prefer)
        );
    }

    #[test]
    fn keeps_plus_signs_and_ipv6_hosts() {
        let c = parse_database_url("postgres://u:a+b@[::1]:5433/d").unwrap();
        assert_eq!(c.password.as_deref(), Some("a+b"));
        assert_eq!(c.host, "::1");
    }

    #[test]
    fn rejects_malformed_urls() {
        for bad in [
            "",
            "not a url",
            "mysql://u:p@h/db",
            "postgres://u:p@h",
            "postgres://u:p@h/",
            "postgres://:p@h/db",
            "postgres://u:p@h/db?sslmode=sometimes",
            "postgres://u:p@h:99999/db",
        ] {
            let err = parse_database_url(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidDatabaseUrl, "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let c = parse_database_url("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn validation_names_the_missing_field() {
        let mut c = parse_database_url("postgres://u@h/db").unwrap();
        c.host = "  ".into();
        assert_eq!(c.validated().unwrap_err().field.as_deref(), Some("host"));
    }
}
