//! The names the command line gives the control API, checked as clap parses them: sessions and
//! sources, 1 to N characters and not blank (the API checks them again).

/// A session as the control API takes it: 1 to 200 characters, not blank.
pub(crate) fn session_name(text: &str) -> Result<String, String> {
    name(text, 200, "a session, e.g. telegram:-100123 or backup")
}

/// A source as the control API takes it: 1 to 100 characters, not blank.
pub(crate) fn source_name(text: &str) -> Result<String, String> {
    name(text, 100, "a source, e.g. my-gateway")
}

fn name(text: &str, most: usize, what: &str) -> Result<String, String> {
    if let Some(found) = lull_queue::control_character(text) {
        return Err(lull_queue::control_refusal("the name", found));
    }
    if text.trim().is_empty() || text.chars().count() > most {
        return Err(format!("give {what}: 1 to {most} characters"));
    }
    Ok(text.to_owned())
}
