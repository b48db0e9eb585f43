//! The [`Reply`](lull_plugin::Reply) markdown subset as spans a platform renderer turns into its
//! own markup, and cutting text to a platform's length limit.
//!
//! The subset is backtick code spans and `*bold*`. A marker without a partner stays literal
//! text, so a reason such as `2 * 3` is shown as written.

/// A run of text and how it is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Span {
    /// Plain text.
    Text(String),
    /// Between a pair of `*`.
    Bold(String),
    /// Between a pair of backticks (no bold inside).
    Code(String),
}

/// `text` as spans, in order. Code is read first, so `*` inside a code span is literal.
pub fn spans(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    for (i, segment) in paired(text, '`').into_iter().enumerate() {
        if i % 2 == 1 {
            out.push(Span::Code(segment));
            continue;
        }
        for (j, piece) in paired(&segment, '*').into_iter().enumerate() {
            if piece.is_empty() && j % 2 == 0 {
                continue;
            }
            out.push(if j % 2 == 1 {
                Span::Bold(piece)
            } else {
                Span::Text(piece)
            });
        }
    }
    out
}

/// `text` split at `marker` so that odd pieces were between a pair; an unpaired last marker
/// stays in the text.
fn paired(text: &str, marker: char) -> Vec<String> {
    let mut pieces: Vec<String> = text.split(marker).map(str::to_owned).collect();
    if pieces.len().is_multiple_of(2) {
        // An odd number of markers: glue the last one back on, literally.
        let last = pieces.pop().unwrap_or_default();
        if let Some(before) = pieces.last_mut() {
            before.push(marker);
            before.push_str(&last);
        }
    }
    pieces
}

/// `plain` escaped by `escape` (which may lengthen it) and cut so that the escaped text is at
/// most `max` characters. Cut before escaping, so no escape is split from what it escapes.
pub fn fit(plain: &str, max: usize, escape: impl Fn(&str) -> String) -> String {
    let mut keep = max.saturating_sub(1).max(1);
    loop {
        let escaped = escape(&cut(plain, keep));
        let len = escaped.chars().count();
        if len <= max || keep <= 1 {
            return escaped;
        }
        // Shrink in proportion to how much escaping grew the text (and by one at least).
        keep = (keep * max / len).min(keep - 1);
    }
}

/// At most `max` characters, ending in `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Span {
        Span::Text(s.into())
    }

    #[test]
    fn code_and_bold_are_read_in_that_order() {
        assert_eq!(
            spans("*Queued* `r7k2` now `*x*`"),
            [
                Span::Bold("Queued".into()),
                text(" "),
                Span::Code("r7k2".into()),
                text(" now "),
                Span::Code("*x*".into()),
            ]
        );
    }

    #[test]
    fn unpaired_markers_stay_literal() {
        assert_eq!(spans("2 * 3 `x"), [text("2 * 3 `x")]);
        assert_eq!(spans("*a* b*"), [Span::Bold("a".into()), text(" b*")]);
        assert_eq!(spans(""), []);
    }

    #[test]
    fn cutting_counts_characters_and_marks_the_cut() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo wörld", 6), "héllo…");
        assert_eq!(cut("abc", 1), "…");
    }
}
