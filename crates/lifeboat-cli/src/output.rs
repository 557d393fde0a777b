//! What the CLI prints: JSON with `--json`, plain lines otherwise. Errors go to stderr as
//! `error[code]: message`, or to stdout as `{"error": {code, message, field}}` with `--json`.

use std::process::ExitCode;

use lifeboat_core::{Error, ErrorCode, VerifyCheck};
use serde::Serialize;

/// 1: the operation failed; 2: the input was wrong (clap also exits 2 for bad usage).
pub fn exit_code(e: &Error) -> ExitCode {
    match e.code {
        ErrorCode::Validation
        | ErrorCode::InvalidDatabaseUrl
        | ErrorCode::NotFound
        | ErrorCode::Conflict => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or the text `text` gives for it.
    pub fn show<T: Serialize>(&self, value: &T, text: impl FnOnce(&T) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            let text = text(value);
            if !text.is_empty() {
                println!("{text}");
            }
        }
    }

    pub fn error(&self, e: &Error) -> ExitCode {
        if self.json {
            println!("{}", serde_json::json!({ "error": e }));
        } else {
            let code = serde_json::to_value(e.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            eprintln!("error[{code}]: {}", e.message);
            if let Some(detail) = &e.detail {
                eprintln!("  detail: {detail}");
            }
            // The app asks on the spot; here, the command that does.
            let next = match e.code {
                ErrorCode::SshHostUnknown => Some("lifeboat env trust-host APP ENV"),
                ErrorCode::SshKeyLocked => Some("lifeboat env ssh-login APP ENV"),
                _ => None,
            };
            if let Some(next) = next {
                eprintln!("  then: {next}");
            }
        }
        exit_code(e)
    }
}

/// One line per check: `ok   name: detail` or `FAIL name: detail`.
pub fn checks_text(checks: &[VerifyCheck]) -> Vec<String> {
    checks
        .iter()
        .map(|c| {
            format!(
                "{} {}: {}",
                if c.ok { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            )
        })
        .collect()
}

/// A plain table: columns padded to their widest cell.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "(none)".to_owned();
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    std::iter::once(line(header.iter().map(|h| h.to_string()).collect()))
        .chain(rows.into_iter().map(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// "850 ms", "42 s", "3 min 5 s", "1 h 2 min".
pub fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{} ms", d.as_millis()),
        1..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}
