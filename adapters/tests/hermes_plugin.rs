//! The Hermes plugin's tests (`integrations/hermes/tests`, pytest) inside the real
//! `hermes-agent` package, against this build's `lull serve`. They run from the virtual
//! environment `scripts/test` creates (`LULL_HERMES_VENV`), where Hermes is pinned and the
//! plugin installed editable.

mod common;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_hermes_plugin_passes_its_tests_inside_hermes() {
    let python = common::venv_tool("LULL_HERMES_VENV", "lull-hermes-venv", "python");
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../integrations/hermes");
    let out = Command::new(&python)
        .current_dir(&plugin)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .env("LULL_BIN", env!("CARGO_BIN_EXE_lull"))
        // This checkout's plugin, whichever checkout the shared environment was made from.
        .env("PYTHONPATH", plugin.join("src"))
        .env_remove("LULL_SOCKET")
        .env_remove("LULL_HOME")
        .env_remove("HERMES_HOME")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the plugin's tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
}
