//! Rules for names people type: applications, environments, storage targets.

use crate::error::{Error, Result};

pub const MAX_NAME_LEN: usize = 64;

/// Trims and checks a name; the error names the form field so the UI can show it inline.
pub fn name(field: &str, raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::validation(field, "A name is required."));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Error::validation(
            field,
            format!("Use at most {MAX_NAME_LEN} characters."),
        ));
    }
    if !name.chars().next().is_some_and(char::is_alphanumeric) {
        return Err(Error::validation(
            field,
            "Start the name with a letter or a digit.",
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')))
    {
        return Err(Error::validation(
            field,
            format!("“{bad}” is not allowed: use letters, digits, spaces, '-', '_' or '.'."),
        ));
    }
    Ok(name.to_owned())
}

pub fn required(field: &str, label: &str, raw: &str) -> Result<String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Error::validation(field, format!("{label} is required.")));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn accepts_and_trims_ordinary_names() {
        assert_eq!(name("name", "  shop ").unwrap(), "shop");
        assert_eq!(name("name", "Prod-EU_2.1").unwrap(), "Prod-EU_2.1");
        assert_eq!(name("name", "Café").unwrap(), "Café");
    }

    #[test]
    fn rejects_bad_names_with_the_field() {
        for bad in ["", "   ", "-shop", "shop/prod", "a\u{0}b", &"x".repeat(65)] {
            let err = name("name", bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::Validation, "{bad:?}");
            assert_eq!(err.field.as_deref(), Some("name"));
        }
    }
}
