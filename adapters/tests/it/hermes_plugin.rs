//! The Hermes plugin's tests (`integrations/hermes/tests`, pytest) inside the real
//! `hermes-agent` package, against this build's `lull serve`. They run from the virtual
//! environment `scripts/test` creates (`LULL_HERMES_VENV`), where Hermes is pinned (with its
//! `messaging` extra, for the Telegram adapter) and the plugin installed editable.
//!
//! Two tests, so that they run side by side: the plugin's own tests, and the end-to-end cycle
//! (`tests/end_to_end`: a real `hermes gateway run` against a fake Telegram and a mock model,
//! restarted by lull through `lull-hermes`).

use crate::common;

use std::path::PathBuf;
use std::process::Command;

/// Runs pytest on `args` in the plugin's directory and fails with its report unless it passed.
fn pytest(args: &[&str]) -> String {
    let python = common::venv_tool("LULL_HERMES_VENV", "lull-hermes-venv", "python");
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../integrations/hermes");
    let out = Command::new(&python)
        .current_dir(&plugin)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(args)
        .env("LULL_BIN", env!("CARGO_BIN_EXE_lull"))
        // This checkout's plugin, whichever checkout the shared environment was made from.
        .env("PYTHONPATH", plugin.join("src"))
        .env_remove("LULL_SOCKET")
        .env_remove("LULL_HOME")
        .env_remove("HERMES_HOME")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the plugin's tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
    report
}

#[test]
fn the_hermes_plugin_passes_its_tests_inside_hermes() {
    pytest(&["tests", "--ignore=tests/end_to_end"]);
}

#[test]
fn a_real_hermes_gateway_is_restarted_by_lull_once_its_busy_chat_is_quiet() {
    // -s: the cycle's figures (turn end → restart start → back online) reach the test's output.
    let report = pytest(&["-s", "tests/end_to_end"]);
    if let Some(figures) = report.lines().find(|line| line.starts_with("cycle:")) {
        println!("{figures}");
    }
}
