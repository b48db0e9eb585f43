//! Throughput of `begin_run`/`end` (guard drop) on the activity tracker, from 1 and 2 threads.
//! Prints figures; run with `cargo bench -p lull-queue --bench begin_end`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lull_queue::{ActivityTracker, SystemClock, TrackerSettings};

const PER_THREAD: u64 = 2_000_000;

fn run(threads: u64) -> f64 {
    let tracker = ActivityTracker::new(TrackerSettings::default(), Arc::new(SystemClock));
    let sessions: Vec<Arc<str>> = (0..threads)
        .map(|t| Arc::from(format!("bench:{t}")))
        .collect();
    let started = Instant::now();
    let workers: Vec<_> = sessions
        .into_iter()
        .map(|session| {
            let tracker = tracker.clone();
            std::thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    drop(
                        tracker
                            .begin_run(session.clone())
                            .expect("admission is open"),
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    let elapsed: Duration = started.elapsed();
    (threads * PER_THREAD) as f64 / elapsed.as_secs_f64()
}

fn main() {
    for threads in [1, 2] {
        let rate = run(threads);
        println!(
            "begin+end pairs, {threads} thread(s): {:.2} M/s",
            rate / 1e6
        );
    }
}
