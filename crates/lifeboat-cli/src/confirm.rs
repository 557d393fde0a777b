//! Confirming destructive commands like the app does: on a terminal the user types the name of
//! what is overwritten or removed; elsewhere (cron, CI) `--yes` says it.

use std::io::{BufRead, IsTerminal, Write};

use lifeboat_core::{Error, Result};

/// Ok when `yes` was given, or when the user types `name` at the prompt on a terminal.
pub fn typed(yes: bool, what: &str, name: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::validation(
            "yes",
            format!("{what}; pass --yes to confirm (no terminal to ask on)."),
        ));
    }
    eprint!("{what}.\nType {name} to confirm: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == name {
        Ok(())
    } else {
        Err(Error::validation(
            "yes",
            format!(
                "Not confirmed: “{}” is not “{name}”; nothing changed.",
                answer.trim()
            ),
        ))
    }
}
