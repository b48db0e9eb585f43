//! Durable submissions: asks per second, each acknowledged only once it is on disk, one at a
//! time (in rounds alternating with the reference) and from 64 concurrent submitters, beside a
//! raw `write + fsync` loop in the same directory.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use lull_queue::{QueueSettings, Store};

use crate::Scale;
use crate::eligible::ask;
use crate::stats::{Table, rate};

pub async fn run(
    scale: Scale,
    dir: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = scale.pick(5000, 500);
    println!("durable submissions: {n} each way");
    let dir = dir.join("durable");
    std::fs::create_dir_all(&dir)?;

    // The disk's speed drifts during a run (this VM's by ±20 % within a minute), so the
    // reference and lull's sequential submissions alternate in rounds, and the figure is the
    // median of the rounds' ratios.
    let rounds = 5;
    let per_round = n / rounds;
    let mut file = std::fs::File::create(dir.join("fsync-probe"))?;
    let record = [7u8; 256];
    // Repeats of one ask: each is a durable change (the count), and the record stays small.
    let store = Store::open(dir.join("store"), QueueSettings::default())?;
    store
        .submit(ask("admin", 3600, lull_queue::Role::Admin))
        .await?;
    let mut ratios = Vec::new();
    let (mut fsync_time, mut lull_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..rounds {
        // The reference: what the disk allows one writer that waits for each write.
        let started = Instant::now();
        for _ in 0..per_round {
            file.write_all(&record)?;
            file.sync_data()?;
        }
        let reference = started.elapsed();
        let started = Instant::now();
        for _ in 0..per_round {
            let one = Instant::now();
            store
                .submit(ask("admin", 3600, lull_queue::Role::Admin))
                .await?;
            slowest = slowest.max(one.elapsed());
        }
        let ours = started.elapsed();
        ratios.push(reference.as_secs_f64() / ours.as_secs_f64());
        fsync_time += reference;
        lull_time += ours;
    }
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[rounds / 2];
    let fsyncs = (per_round * rounds) as f64 / fsync_time.as_secs_f64();
    let sequential = (per_round * rounds) as f64 / lull_time.as_secs_f64();

    let started = Instant::now();
    let submitters: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            let asker = format!("admin-{i}");
            tokio::spawn(async move {
                for _ in 0..n / 64 {
                    store
                        .submit(ask(&asker, 3600, lull_queue::Role::Admin))
                        .await?;
                }
                Ok::<_, lull_queue::Error>(())
            })
        })
        .collect();
    for submitter in submitters {
        submitter.await??;
    }
    let concurrent = (n / 64 * 64) as f64 / started.elapsed().as_secs_f64();

    table.add(
        "durable submissions, sequential",
        format!(
            "{} ({ratio:.2} × fsync, the median of {rounds} alternating rounds; slowest {})",
            rate(sequential),
            crate::stats::ms(slowest)
        ),
        format!("write+fsync loop: {}", rate(fsyncs)),
        "≥ 0.9 × fsync",
    );
    table.add(
        "durable submissions, 64 concurrent",
        format!("{} ({:.2} × fsync)", rate(concurrent), concurrent / fsyncs),
        format!("write+fsync loop: {}", rate(fsyncs)),
        "> 1 × fsync (shared flushes)",
    );
    Ok(())
}
