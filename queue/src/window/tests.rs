//! Windows against the real zone rules: inside, outside, across midnight, Europe/Berlin's
//! spring-forward and fall-back nights, and open time for `max_wait`.

use std::time::Duration;

use super::*;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn windows(entries: &[&str], zone: &str) -> Windows {
    Windows::parse(entries, zone).unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

fn closed_until(w: &Windows, now: Timestamp, opens: Option<Timestamp>) {
    assert_eq!(w.state(now), WindowState::Closed { opens }, "at {now}");
}

fn open_until(w: &Windows, now: Timestamp, closes: Option<Timestamp>) {
    assert_eq!(w.state(now), WindowState::Open { closes }, "at {now}");
}

#[test]
fn no_windows_are_always_open() {
    let w = Windows::always();
    assert!(!w.configured());
    assert_eq!(w.state(at("2026-12-02T12:00:00Z")), WindowState::Always);
    assert_eq!(
        w.after_open_time(at("2026-12-02T12:00:00Z"), HOUR),
        Some(at("2026-12-02T13:00:00Z"))
    );
    assert_eq!(
        Windows::parse(&[], "Europe/Berlin").unwrap(),
        Windows::always()
    );
}

#[test]
fn inside_and_outside_a_weekday_window() {
    // 2026-12-02 is a Wednesday; Berlin is UTC+1 in winter.
    let w = windows(&["Mon-Fri 02:00-05:00"], "Europe/Berlin");
    open_until(
        &w,
        at("2026-12-02T01:30:00Z"),
        Some(at("2026-12-02T04:00:00Z")),
    ); // 02:30 local
    closed_until(
        &w,
        at("2026-12-02T04:00:00Z"),
        Some(at("2026-12-03T01:00:00Z")),
    ); // 05:00 local: the end is not inside
    closed_until(
        &w,
        at("2026-12-02T00:59:59Z"),
        Some(at("2026-12-02T01:00:00Z")),
    );
    // Friday after the window: the next opening is Monday.
    closed_until(
        &w,
        at("2026-12-04T10:00:00Z"),
        Some(at("2026-12-07T01:00:00Z")),
    );
}

#[test]
fn a_window_across_midnight_ends_the_next_day() {
    // kured #204: a window across midnight must match after midnight too.
    let w = windows(&["Fri 22:00-02:00"], "UTC");
    let friday_late = at("2026-12-04T23:00:00Z");
    let saturday_early = at("2026-12-05T01:59:00Z");
    let closes = Some(at("2026-12-05T02:00:00Z"));
    assert_eq!(w.state(friday_late), WindowState::Open { closes });
    assert_eq!(w.state(saturday_early), WindowState::Open { closes });
    closed_until(
        &w,
        at("2026-12-05T02:00:00Z"),
        Some(at("2026-12-11T22:00:00Z")),
    );
    // Saturday is not an opening day of its own.
    assert!(!w.state(at("2026-12-05T23:00:00Z")).is_open());
}

#[test]
fn touching_windows_are_one_opening() {
    let w = windows(&["Sat,Sun 00:00-24:00"], "UTC");
    open_until(
        &w,
        at("2026-12-05T10:00:00Z"),
        Some(at("2026-12-07T00:00:00Z")),
    );
    let every_day = windows(&["00:00-24:00"], "UTC");
    assert_eq!(
        every_day.state(at("2026-12-05T10:00:00Z")),
        WindowState::Open { closes: None }
    );
}

#[test]
fn day_ranges_wrap_around_the_week() {
    let w = windows(&["Fri-Mon 10:00-11:00"], "UTC");
    for (day, open) in [
        ("2026-12-04", true),  // Fri
        ("2026-12-05", true),  // Sat
        ("2026-12-06", true),  // Sun
        ("2026-12-07", true),  // Mon
        ("2026-12-08", false), // Tue
        ("2026-12-10", false), // Thu
    ] {
        let t = at(&format!("{day}T10:30:00Z"));
        assert_eq!(w.state(t).is_open(), open, "{day}");
    }
}

#[test]
fn spring_forward_moves_an_edge_in_the_gap_to_the_end_of_the_gap() {
    // Berlin, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    let w = windows(&["Sun 02:30-04:00"], "Europe/Berlin");
    closed_until(
        &w,
        at("2026-03-29T00:30:00Z"),
        Some(at("2026-03-29T01:00:00Z")),
    ); // 03:00 CEST, the first instant after the gap
    open_until(
        &w,
        at("2026-03-29T01:00:00Z"),
        Some(at("2026-03-29T02:00:00Z")),
    ); // 04:00 CEST
    // The Sunday before, no gap: 02:30 CET.
    closed_until(
        &w,
        at("2026-03-22T00:00:00Z"),
        Some(at("2026-03-22T01:30:00Z")),
    );
    // A window entirely inside the gap does not open that night, and never twice.
    let inside = windows(&["Sun 02:10-02:50"], "Europe/Berlin");
    closed_until(
        &inside,
        at("2026-03-29T00:00:00Z"),
        Some(at("2026-04-05T00:10:00Z")),
    );
}

#[test]
fn fall_back_takes_the_first_occurrence_and_opens_once() {
    // Berlin, Sunday 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC); 02:00-03:00
    // happens twice.
    let w = windows(&["Sun 02:30-03:30"], "Europe/Berlin");
    let first_0230 = at("2026-10-25T00:30:00Z"); // 02:30 CEST
    closed_until(&w, at("2026-10-25T00:00:00Z"), Some(first_0230));
    // Open from the first 02:30 through the repeated hour to 03:30 CET (02:30 UTC).
    open_until(&w, first_0230, Some(at("2026-10-25T02:30:00Z")));
    // The second 02:30 (CET, 01:30 UTC) is still the same opening, not a new one.
    open_until(
        &w,
        at("2026-10-25T01:30:00Z"),
        Some(at("2026-10-25T02:30:00Z")),
    );
    // A window that ends in the repeated hour ends at its first occurrence: it opens once.
    let short = windows(&["Sun 01:30-02:30"], "Europe/Berlin");
    open_until(
        &short,
        at("2026-10-25T00:00:00Z"),
        Some(at("2026-10-25T00:30:00Z")),
    );
    closed_until(
        &short,
        at("2026-10-25T01:30:00Z"),
        Some(at("2026-11-01T00:30:00Z")),
    ); // the second 02:30: closed until next week
}

#[test]
fn open_time_skips_the_hours_outside_windows() {
    // Three hours a night: a day of open time takes eight nights.
    let w = windows(&["02:00-05:00"], "UTC");
    let since = at("2026-12-02T12:00:00Z");
    assert_eq!(
        w.after_open_time(since, 3 * HOUR),
        Some(at("2026-12-03T05:00:00Z"))
    );
    assert_eq!(
        w.after_open_time(since, 24 * HOUR),
        Some(at("2026-12-10T05:00:00Z"))
    );
    // Counting from inside a window counts only what is left of it.
    assert_eq!(
        w.after_open_time(at("2026-12-03T04:00:00Z"), 2 * HOUR),
        Some(at("2026-12-04T03:00:00Z"))
    );
    // Weekly windows: a day of open time is spread over weeks.
    let weekly = windows(&["Sat 00:00-06:00"], "UTC");
    assert_eq!(
        weekly.after_open_time(since, 24 * HOUR),
        Some(at("2026-12-26T06:00:00Z"))
    );
}

#[test]
fn first_open_at_or_after() {
    let w = windows(&["02:00-05:00"], "UTC");
    let inside = at("2026-12-02T03:00:00Z");
    assert_eq!(w.first_open_at_or_after(inside), Some(inside));
    assert_eq!(
        w.first_open_at_or_after(at("2026-12-02T05:00:00Z")),
        Some(at("2026-12-03T02:00:00Z"))
    );
}

#[test]
fn bad_entries_name_the_entry_and_the_accepted_form() {
    for (entry, problem) in [
        ("Mon-Fry 02:00-05:00", "\"Fry\" is not a day"),
        ("Mon 2-5", "\"2\" is not a time of day like 02:00"),
        ("Mon 02:00", "is not a time range"),
        ("Mon 25:00-26:00", "is not a time of day (00:00 to 23:59)"),
        ("Mon 02:60-03:00", "is not a time of day (00:00 to 23:59)"),
        ("Mon 24:00-02:00", "24:00 is accepted only as an end"),
        ("Mon 02:00-02:00", "starts and ends at 02:00"),
        ("", "it is empty"),
        ("Mon Tue 02:00-03:00", "at most two parts"),
        ("Mon,,Tue 02:00-03:00", "empty day"),
        ("Mon 02:5-03:00", "\"02:5\" is not a time of day like 02:00"),
        ("Mon 02:00-25:00", "(00:00 to 23:59, or 24:00)"),
    ] {
        let error = WindowEntry::parse(entry).unwrap_err().to_string();
        assert!(error.contains(problem), "{entry:?}: {error}");
        assert!(error.contains(&format!("{entry:?}")), "{error}");
        assert!(
            error.contains("accepted: \"[days] HH:MM-HH:MM\""),
            "{error}"
        );
    }
    assert!(WindowEntry::parse("monday,FRI 2:00-24:00").is_ok());
    let zone = Zone::get("Europe/Berln").unwrap_err().to_string();
    assert!(
        zone.contains("\"Europe/Berln\"") && zone.contains("IANA"),
        "{zone}"
    );
}

#[test]
fn local_times_read_in_the_zone() {
    let zone = Zone::get("Europe/Berlin").unwrap();
    let t = at("2026-12-03T01:00:00Z");
    assert_eq!(zone.local(t), "2026-12-03T02:00:00+01:00");
    assert_eq!(zone.human(t), "Thu 2026-12-03 02:00 CET");
}
