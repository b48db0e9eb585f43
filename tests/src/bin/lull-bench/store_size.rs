//! What a finished request costs on disk: the store's size per finished request with 100 000
//! kept, and what each tree holds of it (keys and values, before sled's own overhead); then a
//! steady churn with `history_limit = 1000`, the store's size sampled as it goes, which must stay
//! flat. The churn runs on tmpfs where there is one: its figure is the size, not the speed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use lull_queue::{Actor, Origin, QueueSettings, Role, Store};

use crate::Scale;
use crate::eligible::ask;
use crate::stats::Table;

/// The admin who withdraws each request: a finished request as cheap to make as any.
pub fn admin() -> Actor {
    Actor {
        platform: "bench".into(),
        chat: None,
        user_id: "admin".into(),
        display: "admin".into(),
        role: Role::Admin,
        origin: Origin::Api,
        via: None,
    }
}

/// Asks for a restart and withdraws it: one finished request.
pub async fn one_finished(store: &Store) -> Result<(), lull_queue::Error> {
    let asked = store
        .submit(ask("admin", 3600, lull_queue::Role::Admin))
        .await?;
    store.cancel(&asked.request.id.to_string(), admin()).await?;
    Ok(())
}

pub async fn run(
    scale: Scale,
    dir: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = scale.pick(100_000, 2000);
    let scratch = scratch_dir(dir)?;

    println!("store size: {n} finished requests, all kept");
    let kept = scratch.join("store-kept");
    {
        let settings = QueueSettings {
            history_limit: n * 2,
            ..QueueSettings::default()
        };
        let store = Store::open(&kept, settings)?;
        for _ in 0..n {
            one_finished(&store).await?;
        }
    }
    let on_disk = dir_size(&kept);
    let trees = tree_bytes(&kept)?;
    let live: u64 = trees.iter().map(|(_, bytes)| bytes).sum();
    let breakdown = trees
        .iter()
        .filter(|(_, bytes)| *bytes > 0)
        .map(|(name, bytes)| format!("{name} {}", bytes / n as u64))
        .collect::<Vec<_>>()
        .join(", ");
    table.add(
        &format!("stored bytes per finished request ({n} kept)"),
        format!(
            "{} B on disk ({:.1} MiB); records {} B: {breakdown}",
            on_disk / n as u64,
            on_disk as f64 / 1048576.0,
            live / n as u64,
        ),
        "—".into(),
        "≤ 1 KiB",
    );
    std::fs::remove_dir_all(&kept)?;

    let churn = std::env::var("LULL_BENCH_CHURN")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| scale.pick(200_000, 5000));
    let limit = 1000;
    println!("store size: churn of {churn} requests, history_limit {limit}");
    let path = scratch.join("store-churn");
    let settings = QueueSettings {
        history_limit: limit,
        ..QueueSettings::default()
    };
    let store = Store::open(&path, settings)?;
    let started = Instant::now();
    let mut samples = Vec::new();
    let every = (churn / 10).max(1);
    for i in 1..=churn {
        one_finished(&store).await?;
        if i % every == 0 {
            samples.push(dir_size(&path));
        }
    }
    let elapsed = started.elapsed();
    drop(store);
    std::fs::remove_dir_all(&path)?;
    let mib = |b: u64| format!("{:.1}", b as f64 / 1048576.0);
    let second_half = &samples[samples.len() / 2..];
    table.add(
        &format!("store size across a churn of {churn} requests (history_limit {limit})"),
        format!(
            "MiB after each tenth: {}; second half min {} · max {} MiB ({:.0} requests/s)",
            samples
                .iter()
                .map(|b| mib(*b))
                .collect::<Vec<_>>()
                .join(" · "),
            mib(*second_half.iter().min().unwrap_or(&0)),
            mib(*second_half.iter().max().unwrap_or(&0)),
            churn as f64 / elapsed.as_secs_f64(),
        ),
        "—".into(),
        "flat",
    );
    if scratch != dir {
        std::fs::remove_dir_all(&scratch)?;
    }
    Ok(())
}

/// tmpfs (`/dev/shm`) when it is there: the figures are sizes, and a million durable requests
/// on a disk would take the run's whole budget. Falls back to `dir`.
fn scratch_dir(dir: &Path) -> Result<PathBuf, std::io::Error> {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let scratch = shm.join(format!("lull-bench-{}", std::process::id()));
        std::fs::create_dir_all(&scratch)?;
        return Ok(scratch);
    }
    Ok(dir.to_owned())
}

/// Bytes of keys and values in each tree of the (closed) store at `path`.
fn tree_bytes(path: &Path) -> Result<Vec<(String, u64)>, Box<dyn std::error::Error>> {
    let db = sled::open(path)?;
    let mut out = Vec::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name)?;
        let bytes = tree
            .iter()
            .map(|entry| entry.map(|(k, v)| (k.len() + v.len()) as u64))
            .sum::<Result<u64, _>>()?;
        out.push((String::from_utf8_lossy(&name).into_owned(), bytes));
    }
    Ok(out)
}

/// The disk space the files under `path` take (allocated blocks, so holes count for nothing).
pub fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => std::os::unix::fs::MetadataExt::blocks(&m) * 512,
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
