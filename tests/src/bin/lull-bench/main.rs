//! `lull-bench`: lull's performance figures, each beside a reference measured in the same run
//! on the same machine, so the ratio holds even on a noisy machine. Figures, not pass/fail.
//!
//! `cargo run --release -p lull-tests --bin lull-bench` (add `-- --quick` for a seconds-long
//! smoke run; `-- --only storm` for one section). The chat, memory and recovery figures run the
//! `lull` binary beside this one, building it first when it is missing.

mod activity;
mod chat;
mod durable;
mod eligible;
mod fleet;
mod recovery;
mod relay;
mod server;
mod stats;
mod store_size;
mod storm;
mod windows;

use stats::Table;

/// How much each section does: the full run, or a quick smoke run.
#[derive(Clone, Copy)]
pub struct Scale {
    pub quick: bool,
}

impl Scale {
    /// `full` in a full run, `quick` in a smoke run.
    pub fn pick(self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let scale = Scale { quick };
    // `--only SECTION` (eligible, durable, activity, windows, fleet, storm, store, chat, relay, recovery) runs one section.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runs = |section: &str| only.as_deref().is_none_or(|o| o == section);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("lull-bench{}", if quick { " --quick" } else { "" });
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "date: {}",
        stats::command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    println!(
        "revision: {}",
        stats::command_output("git", &["describe", "--always", "--dirty"])
    );
    println!("cpu: {}", stats::cpu_model());
    println!();
    let mut table = Table::default();
    let dir = tempfile::Builder::new()
        .prefix("lull-bench")
        .tempdir_in("/tmp")?;
    if runs("eligible") {
        runtime.block_on(eligible::run(scale, dir.path(), &mut table))?;
    }
    if runs("durable") {
        runtime.block_on(durable::run(scale, dir.path(), &mut table))?;
    }
    if runs("activity") {
        activity::run(scale, &mut table);
    }
    if runs("windows") {
        windows::run(scale, &mut table)?;
    }
    if runs("fleet") {
        runtime.block_on(fleet::run(scale, dir.path(), &mut table))?;
    }
    if runs("storm") {
        runtime.block_on(storm::run(scale, dir.path(), &mut table))?;
    }
    if runs("store") {
        runtime.block_on(store_size::run(scale, dir.path(), &mut table))?;
    }
    if runs("chat") || runs("relay") || runs("recovery") {
        let lull = server::lull_binary()?;
        if runs("chat") {
            runtime.block_on(chat::run(scale, &lull, &mut table))?;
        }
        if runs("relay") {
            runtime.block_on(relay::run(scale, &lull, dir.path(), &mut table))?;
        }
        if runs("recovery") {
            runtime.block_on(recovery::run(scale, &lull, dir.path(), &mut table))?;
        }
    }
    table.print();
    Ok(())
}
