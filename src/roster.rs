//! Rules for the people a user enrolls, shared by every front end.

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 60;

/// Checks a new (or renamed) person's name against the others: trimmed, not empty, not too
/// long, and not already taken (ignoring case). Markup is allowed; the UI shows names as text.
pub fn validate_name<'a>(name: &str, others: impl IntoIterator<Item = &'a str>) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("a person needs a name".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a name can have at most {MAX_NAME_CHARS} characters"));
    }
    if others.into_iter().any(|other| other.trim().to_lowercase() == name.to_lowercase()) {
        return Err(format!("there is already someone called {name}"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_unique_and_bounded() {
        assert_eq!(validate_name("  Ada ", ["Bob"]), Ok("Ada".into()));
        assert!(validate_name("   ", []).unwrap_err().contains("needs a name"));
        assert!(validate_name("ada", ["Ada"]).unwrap_err().contains("already"));
        assert!(validate_name(&"x".repeat(61), []).is_err());
        assert_eq!(validate_name("<b>Eve</b>", []), Ok("<b>Eve</b>".into()));
    }
}
