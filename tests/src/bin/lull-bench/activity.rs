//! Activity: run begin/end pairs per second across 10 000 sessions on 2 threads, beside a bare
//! atomic-counter loop on the same 2 threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lull_queue::{ActivityTracker, SourceMode, SystemClock, TrackerSettings};

use crate::Scale;
use crate::stats::{Table, rate};

const SESSIONS: usize = 10_000;
const THREADS: usize = 2;

pub fn run(scale: Scale, table: &mut Table) {
    let rounds = scale.pick(100, 10);
    println!("activity: {SESSIONS} sessions × {rounds} rounds on {THREADS} threads");
    let tracker = ActivityTracker::new(
        TrackerSettings {
            mode: SourceMode::Embedded,
            lease_ttl: Duration::from_secs(3600),
            ..TrackerSettings::default()
        },
        Arc::new(SystemClock),
    );
    let sessions: Arc<Vec<String>> =
        Arc::new((0..SESSIONS).map(|i| format!("bench:{i}")).collect());
    // 10 000 sessions with a live run each, as in a busy gateway, while runs begin and end.
    let live: Vec<_> = sessions
        .iter()
        .map(|s| {
            tracker
                .begin_run(format!("{s}:live"))
                .expect("admission is open")
        })
        .collect();
    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (tracker, sessions) = (tracker.clone(), sessions.clone());
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    for session in sessions.iter().skip(t).step_by(THREADS) {
                        let run = tracker
                            .begin_run(session.as_str())
                            .expect("admission is open");
                        drop(run);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker panicked");
    }
    let pairs = (SESSIONS * rounds) as f64 / started.elapsed().as_secs_f64();
    drop(live);

    // The reference: the same number of begin/end pairs as two atomic increments each.
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..SESSIONS * rounds / THREADS {
                    counter.fetch_add(1, Ordering::Relaxed);
                    counter.fetch_sub(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker panicked");
    }
    let atomics = (SESSIONS * rounds) as f64 / started.elapsed().as_secs_f64();
    table.add(
        "activity begin/end pairs (10 000 live sessions, 2 threads)",
        rate(pairs),
        format!("atomic add/sub pairs: {}", rate(atomics)),
        "≥ 1 M/s",
    );
}
