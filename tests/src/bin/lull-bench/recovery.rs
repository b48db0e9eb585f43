//! Recovery: the time from starting `lull serve` on a profile that holds many finished requests
//! (retention lifted) to its control API answering, the first time after they were written and
//! again; beside it, the same start on an empty profile.

use std::path::Path;

use lull_queue::{QueueSettings, Store};

use crate::Scale;
use crate::server::Serve;
use crate::stats::Table;
use crate::store_size::{dir_size, one_finished};

pub async fn run(
    scale: Scale,
    lull: &Path,
    dir: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = scale.pick(100_000, 2000);
    let config = format!(
        "[maintenance]\nhistory_limit = {}\n[executor]\nrestart = [\"true\"]\n",
        n * 2
    );
    let empty = dir.join("recovery-empty");
    let (serve, empty_ready) = Serve::start(lull, &empty, &config, &[]).await?;
    drop(serve);

    let full = dir.join("recovery-full");
    let state = full.join("profiles/default/state");
    println!("recovery: writing {n} finished requests…");
    {
        let settings = QueueSettings {
            history_limit: n * 2,
            ..QueueSettings::default()
        };
        let store = Store::open(&state, settings)?;
        for _ in 0..n {
            one_finished(&store).await?;
        }
    }
    // sled replays its log from the snapshot it wrote at the last open: the first start after
    // 100 000 requests were written without one replays all of them; a start after that (what
    // a gateway that restarts for each request sees) replays only what came since.
    let (serve, full_ready) = Serve::start(lull, &full, &config, &[]).await?;
    let bytes = dir_size(&state);
    drop(serve);
    let (serve, again_ready) = Serve::start(lull, &full, &config, &[]).await?;
    drop(serve);
    table.add(
        &format!("recovery: start to ready with {n} finished requests"),
        format!(
            "{:.2} s replaying the log of all {n} since sled's last snapshot; {:.2} s at the next start (store {:.1} MiB)",
            full_ready.as_secs_f64(),
            again_ready.as_secs_f64(),
            bytes as f64 / 1048576.0
        ),
        format!("empty profile: {:.2} s", empty_ready.as_secs_f64()),
        "≤ 0.4 s",
    );
    Ok(())
}
