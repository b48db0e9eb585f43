//! The OpenClaw plugin's tests (`integrations/openclaw/test`, `node --test`) against this build's
//! `lull serve`. The unit tests run on the machine's Node (Debian's, any >= 20) where it has one,
//! else on the pinned Node 24; the end-to-end test runs a real OpenClaw gateway (Node 24 and
//! `openclaw`, pinned, which `scripts/test` installs from the npm registry into
//! `LULL_OPENCLAW_HOME`, default `~/.cache/lull-openclaw`) against a mock model.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn plugin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../integrations/openclaw")
}

/// Where scripts/test installed Node 24 and OpenClaw.
fn openclaw_home() -> PathBuf {
    let home = common::venv("LULL_OPENCLAW_HOME", "lull-openclaw");
    assert!(
        home.join("lull-stamp").exists(),
        "{} is missing: run `scripts/test` (it installs Node 24 and OpenClaw for this test)",
        home.display()
    );
    home
}

fn pinned_node() -> PathBuf {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x64"
    };
    openclaw_home().join(format!("node/node_modules/node-linux-{arch}/bin/node"))
}

/// `node --test` on the test files of `dir` (one at a time: they share lull and ports); fails
/// with the report unless every test passed.
fn node_test(node: &Path, dir: &str) -> String {
    let dir = plugin_dir().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    let out = Command::new(node)
        .current_dir(plugin_dir())
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(&files)
        .env("LULL_BIN", env!("CARGO_BIN_EXE_lull"))
        .env("LULL_OPENCLAW_HOME", openclaw_home())
        .env_remove("LULL_SOCKET")
        .env_remove("LULL_HOME")
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the plugin's tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("pass"), "{report}");
    report
}

/// The machine's own Node when it is 20 or newer, else the pinned one.
fn machine_node() -> PathBuf {
    let version = Command::new("node").arg("--version").output();
    let major = version
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.trim()
                .trim_start_matches('v')
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    match major {
        Some(major) if major >= 20 => PathBuf::from("node"),
        _ => pinned_node(),
    }
}

#[test]
fn the_openclaw_plugin_passes_its_unit_tests() {
    node_test(&machine_node(), "test/unit");
}

#[test]
fn a_real_openclaw_gateway_holds_a_restart_for_a_live_turn_and_is_restarted_by_lull() {
    node_test(&pinned_node(), "test/e2e");
}
