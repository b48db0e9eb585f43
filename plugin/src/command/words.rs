//! The command line's words: split on white space, with quoted runs (straight or typographic
//! quotes, as phones type them) kept together.

/// A word of the command line; `quoted` words are never options.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Word {
    pub(super) text: String,
    pub(super) quoted: bool,
}

fn is_open_quote(c: char) -> Option<char> {
    match c {
        '"' => Some('"'),
        '\'' => Some('\''),
        '“' | '„' => Some('”'),
        '‘' => Some('’'),
        _ => None,
    }
}

/// Splits on whitespace, keeping quoted runs (straight or typographic quotes, as phones type them)
/// together. `\"` and `\\` escape inside double quotes; outside quotes a backslash makes the next
/// quote or backslash literal.
pub(super) fn split_words(text: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '\\' && matches!(chars.peek(), Some('"' | '\'' | '\\')) {
                // Outside quotes a backslash makes the next quote (or backslash) literal.
                word.extend(chars.next());
                continue;
            }
            let Some(close) = is_open_quote(c) else {
                word.push(c);
                continue;
            };
            quoted = true;
            loop {
                match chars.next() {
                    None => return Err(format!("unclosed quote {c}")),
                    Some(ch) if ch == close => break,
                    Some('\\') if close == '"' => match chars.next() {
                        Some(escaped @ ('"' | '\\')) => word.push(escaped),
                        Some(other) => {
                            word.push('\\');
                            word.push(other);
                        }
                        None => return Err(format!("unclosed quote {c}")),
                    },
                    Some(ch) => word.push(ch),
                }
            }
        }
        words.push(Word { text: word, quoted });
    }
    Ok(words)
}
