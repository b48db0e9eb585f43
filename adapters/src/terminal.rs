//! Output for people at a terminal, and plain lines for everything else (logs, CI, pipes).
//!
//! - [`LiveLine`]: one line redrawn in place under the event lines printed above it, fitted to
//!   the terminal's width (by indicatif) so it never wraps and leaves no copy behind.
//! - [`Screen`]: a block of text redrawn in place (`lull status --watch`), each line cut to the
//!   width.
//!
//! When stdout is not a terminal, nothing is redrawn: events are printed as lines, and a screen
//! is printed again only when it changed.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A live line under event lines.
pub(crate) struct LiveLine {
    /// The redrawn line; `None` when stdout is not a terminal.
    bar: Option<ProgressBar>,
}

impl LiveLine {
    /// On stdout.
    pub(crate) fn stdout() -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            // `wide_msg` takes the width that is left and cuts the message to it.
            bar.set_style(ProgressStyle::with_template("{wide_msg}").expect("a valid template"));
            bar
        });
        Self { bar }
    }

    /// Prints `text` as a line above the live line.
    pub(crate) fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    /// Shows `text` as the live line (on a terminal only).
    pub(crate) fn set(&self, text: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(text);
        }
    }

    /// Removes the live line.
    pub(crate) fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A block of text redrawn in place.
pub(crate) struct Screen {
    term: Option<console::Term>,
    last: String,
}

impl Screen {
    /// On stdout.
    pub(crate) fn stdout() -> Self {
        let term = console::Term::stdout();
        Self {
            term: term.is_term().then_some(term),
            last: String::new(),
        }
    }

    /// Shows `text`: on a terminal in place of the last one, each line cut to the width;
    /// elsewhere printed again only when it changed, after a blank line.
    pub(crate) fn show(&mut self, text: &str) {
        if text == self.last {
            return;
        }
        match &self.term {
            Some(term) => {
                let (_, width) = term.size();
                let _ = term.clear_screen();
                for line in fit(text, usize::from(width)) {
                    let _ = term.write_line(&line);
                }
            }
            None => {
                if !self.last.is_empty() {
                    println!();
                }
                println!("{text}");
            }
        }
        self.last = text.to_owned();
    }
}

/// The lines of `text`, each cut to `width` columns (with `…` where cut).
fn fit(text: &str, width: usize) -> Vec<String> {
    text.lines()
        .map(|line| console::truncate_str(line, width.max(1), "…").into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_to_the_width_by_their_columns() {
        let lines = fit(
            "short\n⏳ restart r7k2 — live runs: 3 (telegram:4242, discord:7)",
            20,
        );
        assert_eq!(lines[0], "short");
        assert_eq!(console::measure_text_width(&lines[1]), 20);
        assert!(lines[1].ends_with('…'), "{:?}", lines[1]);
        assert_eq!(fit("", 20), Vec::<String>::new());
    }
}
