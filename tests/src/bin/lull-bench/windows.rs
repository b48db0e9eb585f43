//! Maintenance-window evaluation: how long the scheduler's question "open now, and until when?"
//! takes for a realistic schedule in a zone with daylight saving time, and the walk that turns
//! `max_wait` into open time. Beside it, the same number of `jiff` conversions of an instant to
//! the zone's civil time (the unit of work every evaluation repeats).

use std::hint::black_box;
use std::time::{Duration, Instant};

use lull_queue::{Timestamp, Windows};

use crate::Scale;
use crate::stats::Table;

pub fn run(scale: Scale, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    let n = scale.pick(200_000, 20_000);
    println!("windows: {n} evaluations");
    let windows = Windows::parse(
        &[
            "Mon-Fri 02:00-05:00",
            "Sat,Sun 00:00-24:00",
            "Fri 22:00-02:00",
        ],
        "Europe/Berlin",
    )?;
    // Instants spread over a year, across both daylight-saving changes.
    let start = Timestamp::from_unix_millis(1_767_225_600_000); // 2026-01-01 UTC
    let step = 365 * 24 * 3600 * 1000 / n as u64;
    let at = |i: usize| Timestamp::from_unix_millis(start.unix_millis() + i as u64 * step);

    let started = Instant::now();
    for i in 0..n {
        black_box(windows.state(black_box(at(i))));
    }
    let state = started.elapsed() / n as u32;

    let walks = n / 20;
    let started = Instant::now();
    for i in 0..walks {
        black_box(windows.after_open_time(black_box(at(i * 20)), Duration::from_secs(6 * 3600)));
    }
    let walk = started.elapsed() / walks as u32;

    let zone = jiff::tz::TimeZone::get("Europe/Berlin")?;
    let started = Instant::now();
    for i in 0..n {
        let ts = jiff::Timestamp::from_millisecond(at(i).unix_millis() as i64)?;
        black_box(zone.to_datetime(black_box(ts)));
    }
    let conversion = started.elapsed() / n as u32;

    table.add(
        "windows: open now and until when (3 entries, Europe/Berlin)",
        format!(
            "{:.2} µs per evaluation; max_wait of 6 h open time: {:.2} µs per walk",
            state.as_secs_f64() * 1e6,
            walk.as_secs_f64() * 1e6
        ),
        format!(
            "one instant → civil time in the zone: {:.3} µs",
            conversion.as_secs_f64() * 1e6
        ),
        "—",
    );
    Ok(())
}
