//! One maintenance window as written in `lull.toml`: `"Mon-Fri 02:00-05:00"`, `"Sat,Sun
//! 00:00-24:00"`, `"Fri 22:00-02:00"` (ends Saturday 02:00), or `"03:00-04:00"` (every day).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// The accepted form, quoted in every error.
pub(crate) const ACCEPTED: &str = "accepted: \"[days] HH:MM-HH:MM\" with days as Mon..Sun or full names in any case, \
     as lists and ranges (\"Mon-Fri\", \"Sat,Sun\", \"Fri-Mon\"; none = every day), hours of one or two \
     digits, 24:00 only as an end; an end before the start crosses midnight, \
     e.g. \"Mon-Fri 02:00-05:00\", \"Fri 22:00-02:00\"";

const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

const MINUTES_PER_DAY: u16 = 24 * 60;

/// A parsed window entry: the weekdays it opens on (local time) and its local start and end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowEntry {
    text: String,
    /// Indexed from Monday (0) to Sunday (6): whether the window opens that day.
    opens_on: [bool; 7],
    /// Minutes after local midnight, 0..1440.
    start: u16,
    /// Minutes after local midnight, 1..=1440; before `start` means the next day (never equal).
    end: u16,
}

/// An entry that is not a window, with the entry and what is accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid maintenance window {entry:?}: {problem}; {ACCEPTED}")]
pub struct WindowEntryError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub problem: String,
}

impl WindowEntry {
    /// Parses one entry.
    pub fn parse(text: &str) -> Result<Self, WindowEntryError> {
        let fail = |problem: String| WindowEntryError {
            entry: text.to_owned(),
            problem,
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let (days, times) = match words.as_slice() {
            [times] => (None, *times),
            [days, times] => (Some(*days), *times),
            [] => return Err(fail("it is empty".into())),
            _ => return Err(fail("expected at most two parts, days and times".into())),
        };
        let opens_on = match days {
            None => [true; 7],
            Some(days) => parse_days(days).map_err(fail)?,
        };
        let (start, end) = times
            .split_once('-')
            .ok_or_else(|| fail(format!("{times:?} is not a time range like 02:00-05:00")))?;
        let start = parse_time(start, false).map_err(fail)?;
        let end = parse_time(end, true).map_err(fail)?;
        if start == end {
            return Err(fail(format!(
                "it starts and ends at {}; for a whole day write 00:00-24:00",
                clock(start)
            )));
        }
        Ok(Self {
            text: text.to_owned(),
            opens_on,
            start,
            end,
        })
    }

    /// The entry as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the window opens on the weekday `monday_zero` (0 = Monday … 6 = Sunday).
    pub(crate) fn opens_on(&self, monday_zero: usize) -> bool {
        self.opens_on[monday_zero % 7]
    }

    /// Local start, minutes after midnight.
    pub(crate) fn start_minute(&self) -> u16 {
        self.start
    }

    /// Local end, minutes after midnight of the day it ends on, and whether that is the next
    /// day (24:00, or an end before the start: the window crosses midnight).
    pub(crate) fn end_minute(&self) -> (u16, bool) {
        if self.end == MINUTES_PER_DAY {
            (0, true)
        } else {
            (self.end, self.end <= self.start)
        }
    }
}

impl fmt::Display for WindowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for WindowEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        WindowEntry::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn day_index(name: &str) -> Result<usize, String> {
    let lower = name.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|(short, long)| lower == *short || lower == *long)
        .ok_or_else(|| {
            format!("{name:?} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun, or the full names)")
        })
}

fn parse_days(days: &str) -> Result<[bool; 7], String> {
    let mut opens_on = [false; 7];
    for item in days.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("{days:?} has an empty day in its list"));
        }
        match item.split_once('-') {
            None => opens_on[day_index(item)?] = true,
            Some((from, to)) => {
                let (from, to) = (day_index(from)?, day_index(to)?);
                // A range may wrap around the week: Fri-Mon is Fri, Sat, Sun, Mon.
                let mut day = from;
                loop {
                    opens_on[day] = true;
                    if day == to {
                        break;
                    }
                    day = (day + 1) % 7;
                }
            }
        }
    }
    Ok(opens_on)
}

fn parse_time(text: &str, is_end: bool) -> Result<u16, String> {
    let bad = || format!("{text:?} is not a time of day like 02:00");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    // Minutes always take two digits: "02:5" is a typo more likely than 02:05.
    let (Some(h), Some(m)) = (digits(h, 2), digits(m, 2).filter(|_| m.len() == 2)) else {
        return Err(bad());
    };
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        let range = if is_end {
            "00:00 to 23:59, or 24:00"
        } else {
            "00:00 to 23:59"
        };
        return Err(format!("{text:?} is not a time of day ({range})"));
    }
    if h == 24 && !is_end {
        return Err(
            "24:00 is accepted only as an end; a window starting at midnight starts at 00:00"
                .into(),
        );
    }
    Ok(h * 60 + m)
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}
