//! Durable submissions: asks per second, each acknowledged only once it is on disk, one at a
//! time and from 64 concurrent submitters, beside a raw `write + fsync` loop in the same
//! directory.

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

    // The reference: what the disk allows one writer that waits for each write.
    let mut file = std::fs::File::create(dir.join("fsync-probe"))?;
    let record = [7u8; 256];
    let started = Instant::now();
    for _ in 0..n {
        file.write_all(&record)?;
        file.sync_data()?;
    }
    let fsyncs = n as f64 / started.elapsed().as_secs_f64();

    // Repeats of one ask: each is a durable change (the count), and the record stays small.
    let store = Store::open(dir.join("store"), QueueSettings::default())?;
    store
        .submit(ask("admin", 3600, lull_queue::Role::Admin))
        .await?;
    let started = Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..n {
        let one = Instant::now();
        store
            .submit(ask("admin", 3600, lull_queue::Role::Admin))
            .await?;
        slowest = slowest.max(one.elapsed());
    }
    let sequential = n as f64 / started.elapsed().as_secs_f64();

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
            "{} ({:.2} × fsync; slowest {})",
            rate(sequential),
            sequential / fsyncs,
            crate::stats::ms(slowest)
        ),
        format!("write+fsync loop: {}", rate(fsyncs)),
        "≥ 0.8 × fsync",
    );
    table.add(
        "durable submissions, 64 concurrent",
        format!("{} ({:.2} × fsync)", rate(concurrent), concurrent / fsyncs),
        format!("write+fsync loop: {}", rate(fsyncs)),
        "> 1 × fsync (shared flushes)",
    );
    Ok(())
}
