//! The one rule for control characters in text lull stores and shows: reasons, session, source
//! and agent names, display names. A NUL in a reason once kept the executor from starting (an
//! environment variable cannot hold one), and a newline in a name could forge a line of a chat
//! message or a log.
//!
//! Typed input (the control API, the tool, the CLI) that holds one is refused, naming the field;
//! text from chat, which people type on phones, is cleaned instead: newlines fold to spaces and
//! other control characters are dropped.

/// The first control character in `text`: C0 (but tab), DEL, or C1.
pub fn control_character(text: &str) -> Option<char> {
    text.chars().find(|&c| c != '\t' && c.is_control())
}

/// `text` with newlines (and carriage returns) folded to spaces and every other control
/// character but tab dropped: what chat text becomes before lull keeps it.
pub fn fold_controls(text: &str) -> String {
    if control_character(text).is_none() {
        return text.to_owned();
    }
    text.chars()
        .filter_map(|c| match c {
            '\n' | '\r' => Some(' '),
            '\t' => Some('\t'),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// The refusal of a typed field that holds a control character.
pub fn control_refusal(field: &str, found: char) -> String {
    format!(
        "{field} contains the control character U+{:04X}; newlines, NUL and other control characters are not accepted (tab is)",
        u32::from(found)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_is_text_and_every_other_control_is_not() {
        assert_eq!(control_character("a\tb"), None);
        for c in ['\0', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert_eq!(control_character(&format!("x{c}y")), Some(c), "{c:?}");
        }
        assert_eq!(control_character("é 🙂 \u{200b}"), None);
    }

    #[test]
    fn chat_text_folds_newlines_and_drops_other_controls() {
        assert_eq!(fold_controls("two\nlines\r\nhere"), "two lines  here");
        assert_eq!(fold_controls("a\0b\u{1b}[31mc\td"), "ab[31mc\td");
        assert_eq!(fold_controls("plain"), "plain");
    }

    #[test]
    fn the_refusal_names_the_field_and_the_character() {
        assert_eq!(
            control_refusal("reason", '\0'),
            "reason contains the control character U+0000; newlines, NUL and other control characters are not accepted (tab is)"
        );
    }
}
