//! The names lull takes (sessions, sources, ids): the command line's checks, as clap parses
//! them (the API checks them again), and the patterns the OpenAPI document states for them.

/// A name's pattern in the OpenAPI document (ECMA-262): something besides white space, and no
/// control character but tab (see the queue's `text.rs`). U+FEFF counts as white space, as
/// ECMA-262's `\s` has it.
pub(crate) const NAME_PATTERN: &str = r"^[^\u0000-\u0008\u000A-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F\uFEFF][^\u0000-\u0008\u000A-\u001F\u007F-\u009F]*$";

/// Free text's pattern (a reason, a display name): no control character but tab; may be empty.
pub(crate) const TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000A-\u001F\u007F-\u009F]*$";

/// Whether `text` is only what the document's `\S` (JSON Schema patterns are ECMA-262) calls
/// white space, so the server and the document agree on what is blank.
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202f}'
                    | '\u{205f}'
                    | '\u{3000}'
                    | '\u{feff}'
        )
    })
}

/// Free text the command line passes on (a pause's reason): no control character but tab.
pub(crate) fn free_text(text: &str) -> Result<String, String> {
    match lull_queue::control_character(text) {
        Some(found) => Err(lull_queue::control_refusal("the text", found)),
        None => Ok(text.to_owned()),
    }
}

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
