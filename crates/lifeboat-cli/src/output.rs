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

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
