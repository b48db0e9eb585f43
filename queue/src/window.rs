//! Maintenance windows: the wall-clock hours, in one time zone, in which a request may start.
//!
//! Windows are one more condition of "when a request runs", never a way around the others. No
//! windows configured means always open. The zone rules come from jiff (the system's tzdb, or
//! the copy bundled into the binary when the system has none); nothing here knows about DST
//! beyond the two choices DESIGN asks for:
//! - an edge that falls in a skipped hour (spring forward) moves to the first instant after the
//!   gap, so `02:30` on that night is `03:00`;
//! - an edge that falls in a repeated hour (fall back) is its first occurrence.
//!
//! Each entry opens at most once per local day it names, so a window never opens twice in one
//! night; an occurrence whose edges both fall into the same gap does not open at all.

mod entry;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::timestamp::Timestamp;

pub use entry::{WindowEntry, WindowEntryError};

/// Days of openings computed ahead of an instant: two weeks cover every weekly pattern twice.
const LOOKAHEAD_DAYS: i32 = 15;
/// The most weeks [`Windows::after_open_time`] walks before it calls a budget unreachable.
const LONGEST_WALK_WEEKS: u32 = 5200;

/// An IANA time zone, by name.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

/// A time-zone name that is not in the time-zone database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown time zone {name:?}; accepted: an IANA name such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\""
)]
pub struct UnknownZone {
    /// The name as written.
    pub name: String,
}

impl Zone {
    /// Looks `name` up in the time-zone database.
    pub fn get(name: &str) -> Result<Self, UnknownZone> {
        let tz = TimeZone::get(name).map_err(|_| UnknownZone {
            name: name.to_owned(),
        })?;
        Ok(Self {
            name: name.to_owned(),
            tz,
        })
    }

    /// UTC.
    pub fn utc() -> Self {
        Self {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    /// The name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `at` as local time with its offset, e.g. `2026-12-03T02:00:00+01:00`.
    pub fn local(&self, at: Timestamp) -> String {
        to_jiff(at)
            .to_zoned(self.tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    /// `at` as people read it: `Thu 2026-12-03 02:00 CET`.
    pub fn human(&self, at: Timestamp) -> String {
        to_jiff(at)
            .to_zoned(self.tz.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Zone::get(&name).map_err(serde::de::Error::custom)
    }
}

/// Windows that cannot be used: a bad entry or an unknown zone, each saying what is accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowsError {
    /// An entry is not a window.
    #[error(transparent)]
    Entry(#[from] WindowEntryError),
    /// The zone is not in the time-zone database.
    #[error(transparent)]
    Zone(#[from] UnknownZone),
}

/// A stretch of time in which a window is open: from `start` (inclusive) to `end` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Opening {
    /// When it opens.
    start: Timestamp,
    /// When it closes.
    end: Timestamp,
}

/// Whether the windows are open at an instant, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowState {
    /// No windows are configured (or the request ignores them).
    Always,
    /// Inside a window; `closes` is `None` if it stays open for the whole lookahead.
    Open {
        /// When it closes.
        closes: Option<Timestamp>,
    },
    /// Outside every window; `opens` is `None` if none opens within the lookahead.
    Closed {
        /// The next opening.
        opens: Option<Timestamp>,
    },
}

impl WindowState {
    /// Whether a request may start now as far as windows go.
    pub fn is_open(self) -> bool {
        !matches!(self, WindowState::Closed { .. })
    }
}

/// The configured windows (`maintenance.windows` in `maintenance.timezone`); cheap to clone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Windows {
    /// `None`: no windows, always open.
    schedule: Option<Arc<Schedule>>,
}

#[derive(Debug, PartialEq, Eq)]
struct Schedule {
    zone: Zone,
    entries: Vec<WindowEntry>,
}

impl Windows {
    /// Always open: what no `windows` (an empty list) means.
    pub fn always() -> Self {
        Self::default()
    }

    /// `entries` in `zone`; an empty list is [`Windows::always`].
    pub fn new(entries: Vec<WindowEntry>, zone: Zone) -> Self {
        if entries.is_empty() {
            return Self::always();
        }
        Self {
            schedule: Some(Arc::new(Schedule { zone, entries })),
        }
    }

    /// Parses `entries` and looks up `timezone` (for hosts that configure lull in code).
    pub fn parse(entries: &[&str], timezone: &str) -> Result<Self, WindowsError> {
        let zone = Zone::get(timezone)?;
        let entries = entries
            .iter()
            .map(|e| WindowEntry::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(entries, zone))
    }

    /// Whether any window is configured.
    pub fn configured(&self) -> bool {
        self.schedule.is_some()
    }

    /// The zone the windows are read in (UTC when none are configured).
    pub fn zone(&self) -> Zone {
        self.schedule
            .as_ref()
            .map_or_else(Zone::utc, |s| s.zone.clone())
    }

    /// The entries as written.
    pub fn entries(&self) -> Vec<String> {
        self.schedule.as_ref().map_or_else(Vec::new, |s| {
            s.entries.iter().map(|e| e.text().to_owned()).collect()
        })
    }

    /// Open or closed at `at`, and until when.
    pub fn state(&self, at: Timestamp) -> WindowState {
        let Some(schedule) = &self.schedule else {
            return WindowState::Always;
        };
        let openings = schedule.openings_from(at, LOOKAHEAD_DAYS);
        let horizon = schedule.horizon(at, LOOKAHEAD_DAYS);
        match openings.first() {
            Some(o) if o.start <= at => WindowState::Open {
                closes: (o.end < horizon).then_some(o.end),
            },
            Some(o) => WindowState::Closed {
                opens: Some(o.start),
            },
            None => WindowState::Closed { opens: None },
        }
    }

    /// The first instant at or after `at` inside a window (`at` itself when open or always),
    /// `None` if none opens within the lookahead.
    pub fn first_open_at_or_after(&self, at: Timestamp) -> Option<Timestamp> {
        match self.state(at) {
            WindowState::Always | WindowState::Open { .. } => Some(at),
            WindowState::Closed { opens } => opens,
        }
    }

    /// The instant by which windows have been open for `budget`, counting from `since`; time
    /// outside windows does not count (weekly windows must not make a daily `max_wait` fire
    /// daily). `None` if the budget is never used up.
    pub fn after_open_time(&self, since: Timestamp, budget: Duration) -> Option<Timestamp> {
        let Some(schedule) = &self.schedule else {
            return Some(since.saturating_add(budget));
        };
        let mut left = budget;
        let mut cursor = since;
        for _ in 0..LONGEST_WALK_WEEKS {
            let chunk_end = schedule.horizon(cursor, 7);
            for opening in schedule.openings_from(cursor, 7) {
                if opening.start >= chunk_end {
                    break;
                }
                let start = opening.start.max(cursor);
                let open_for = opening.end.saturating_since(start);
                if open_for >= left {
                    return Some(start.saturating_add(left));
                }
                left -= open_for;
                cursor = opening.end;
            }
            cursor = cursor.max(chunk_end);
        }
        None
    }
}

impl Schedule {
    /// Local midnight `days` days after the local date of `at`: the end of what
    /// [`Schedule::openings_from`] looked at.
    fn horizon(&self, at: Timestamp, days: i32) -> Timestamp {
        let date = self.tz().to_datetime(to_jiff(at)).date();
        let last = date.saturating_add(jiff::Span::new().days(days));
        self.resolve(last, 0)
    }

    fn tz(&self) -> &TimeZone {
        &self.zone.tz
    }

    /// The openings that end after `from`, of local days from the day before `from` (a window
    /// crossing midnight) up to `days` days after it, overlapping and touching ones merged
    /// (`Sat,Sun 00:00-24:00` is one opening of 48 hours), sorted.
    fn openings_from(&self, from: Timestamp, days: i32) -> Vec<Opening> {
        let today = self.tz().to_datetime(to_jiff(from)).date();
        let mut raw = Vec::new();
        for offset in -1..days {
            let date = today.saturating_add(jiff::Span::new().days(offset));
            let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
            for entry in self.entries.iter().filter(|e| e.opens_on(weekday)) {
                let start = self.resolve(date, entry.start_minute());
                let (end_minute, next_day) = entry.end_minute();
                let end_date = if next_day {
                    date.saturating_add(jiff::Span::new().days(1))
                } else {
                    date
                };
                let end = self.resolve(end_date, end_minute);
                // Both edges in one DST gap: this occurrence never opens.
                if end > start {
                    raw.push(Opening { start, end });
                }
            }
        }
        raw.sort_by_key(|o| o.start);
        let mut merged: Vec<Opening> = Vec::with_capacity(raw.len());
        for opening in raw {
            match merged.last_mut() {
                Some(last) if opening.start <= last.end => last.end = last.end.max(opening.end),
                _ => merged.push(opening),
            }
        }
        merged.retain(|o| o.end > from);
        merged
    }

    /// The instant of local `date` at `minute` after midnight, by the DST rules of the module.
    fn resolve(&self, date: Date, minute: u16) -> Timestamp {
        let time = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).unwrap_or(Time::MIN);
        let ambiguous = self.tz().to_ambiguous_timestamp(date.to_datetime(time));
        let instant = match ambiguous.offset() {
            AmbiguousOffset::Gap { .. } => {
                // `earlier()` reads the local time with the offset from after the gap, which
                // lands before the transition; the transition itself is the first instant
                // after the gap.
                ambiguous.earlier().ok().and_then(|before| {
                    self.tz()
                        .following(before)
                        .next()
                        .map(|transition| transition.timestamp())
                })
            }
            // Fold: the first occurrence. Unambiguous: the only one.
            _ => ambiguous.earlier().ok(),
        };
        instant.map_or(Timestamp::from_unix_millis(0), from_jiff)
    }
}

fn to_jiff(at: Timestamp) -> jiff::Timestamp {
    let millis = i64::try_from(at.unix_millis()).unwrap_or(i64::MAX);
    jiff::Timestamp::from_millisecond(millis).unwrap_or(jiff::Timestamp::MAX)
}

fn from_jiff(at: jiff::Timestamp) -> Timestamp {
    Timestamp::from_unix_millis(u64::try_from(at.as_millisecond()).unwrap_or(0))
}
