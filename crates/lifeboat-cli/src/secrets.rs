//! Secrets reach the CLI through environment variables or a hidden prompt on a terminal, never
//! as argument values (those end up in shell history and `ps`).

use std::io::IsTerminal;

use lifeboat_core::{Error, ErrorCode, Result};

/// The value of `var`, else a hidden prompt on a terminal, else `None`.
pub fn from_env_or_prompt(var: &str, prompt: &str) -> Result<Option<String>> {
    if let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Ok(Some(value));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let value = rpassword::prompt_password(prompt)
        .map_err(|e| Error::new(ErrorCode::Io, format!("Cannot read from the terminal: {e}")))?;
    Ok(Some(value).filter(|v| !v.is_empty()))
}

pub fn required(var: &str, prompt: &str, what: &str) -> Result<String> {
    from_env_or_prompt(var, prompt)?.ok_or_else(|| {
        Error::new(
            ErrorCode::Validation,
            format!("{what} is needed: set {var}, or run this on a terminal to be asked for it."),
        )
    })
}
