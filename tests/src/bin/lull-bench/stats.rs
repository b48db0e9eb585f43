//! Percentiles, the output table, and facts about the machine.

use std::time::Duration;

/// One figure beside its reference.
pub struct Row {
    pub what: String,
    pub lull: String,
    pub reference: String,
    pub goal: String,
}

/// The figures, printed at the end as one table (Markdown, as docs/benchmarks.md has it).
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn add(&mut self, what: &str, lull: String, reference: String, goal: &str) {
        println!("  {what}: {lull}   (reference: {reference}; goal: {goal})");
        self.rows.push(Row {
            what: what.to_owned(),
            lull,
            reference,
            goal: goal.to_owned(),
        });
    }

    pub fn print(&self) {
        println!();
        println!("| figure | lull | reference (same run) | goal |");
        println!("|---|---|---|---|");
        for row in &self.rows {
            println!(
                "| {} | {} | {} | {} |",
                row.what, row.lull, row.reference, row.goal
            );
        }
    }
}

/// p50 / p99 / max of `samples`, as "p50 1.2 ms · p99 3.4 ms · max 5.6 ms".
pub fn latencies(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    format!(
        "p50 {} · p99 {} · max {} (n={})",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*samples.last().unwrap()),
        samples.len()
    )
}

/// The p99 of `samples` (sorted or not).
pub fn p99(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 - 1.0) * 0.99).round() as usize]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `n` per second, readable.
pub fn rate(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M/s", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k/s", n / 1e3)
    } else {
        format!("{n:.0}/s")
    }
}

pub fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".into())
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into())
}
