//! Storm: 10 000 concurrent restart asks from distinct agents, and 10 000 repeats from one agent:
//! the open requests and executions they lead to, the time to absorb them, and the bytes of the
//! stored request.

use std::path::Path;
use std::time::{Duration, Instant};

use lull_queue::QueueSettings;

use crate::Scale;
use crate::eligible::{ask, settled, stack};
use crate::stats::Table;

pub async fn run(
    scale: Scale,
    dir: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = scale.pick(10_000, 1000);
    for (label, distinct) in [("distinct agents", true), ("one agent repeating", false)] {
        println!("storm: {n} asks from {label}");
        let (store, tracker, scheduler, mut calls) = stack(
            &dir.join(format!("storm-{distinct}")),
            QueueSettings::default(),
        )
        .await?;
        let task = scheduler.spawn();
        // A conversation is live while the storm arrives: nothing may run until it ends.
        let run = tracker.begin_run("bench:chat")?;
        let started = Instant::now();
        let asks: Vec<_> = (0..n)
            .map(|i| {
                let store = store.clone();
                let asker = if distinct {
                    format!("agent-{i}")
                } else {
                    "agent".to_owned()
                };
                let ask = ask(&asker, 0, lull_queue::Role::Agent);
                tokio::spawn(async move { store.submit(ask).await })
            })
            .collect();
        for asked in asks {
            asked.await??;
        }
        let absorbed = started.elapsed();
        let requests = store.all_requests()?;
        let open = requests.iter().filter(|r| r.state.is_open()).count();
        let request = store
            .open_request()?
            .ok_or("no open request after the storm")?;
        let bytes = store.stored_size(request.id)?.unwrap_or(0);
        drop(run);
        settled(&store).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut executions = 0;
        while calls.try_recv().is_ok() {
            executions += 1;
        }
        task.shutdown().await;
        table.add(
            &format!("storm: {n} asks from {label}"),
            format!(
                "open requests {open}, executions {executions}, absorbed in {:.2} s ({:.0} asks/s), stored request {bytes} bytes",
                absorbed.as_secs_f64(),
                n as f64 / absorbed.as_secs_f64()
            ),
            "—".into(),
            if distinct {
                "1 open request, 1 execution; ≥ 3000 asks/s, stored request ≤ 64 KiB"
            } else {
                "1 open request, 1 execution"
            },
        );
    }
    Ok(())
}
