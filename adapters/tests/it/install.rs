//! The README's install command, run as written into a temporary root: it builds, installs a
//! `lull` that runs, and that binary writes a profile and checks it. `--debug --offline` and a
//! target directory of its own (`install-check` inside the test build's, so cached with it) are
//! added: a debug build of the installed flavour takes about a minute and a half once per
//! machine, where a release build would take six, and a directory of its own keeps the two
//! builds from rebuilding each other's crates (dev-dependencies give some crates other features
//! in the test build). The rest is the README's.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::wait_exit;

/// The install line of README.md's Install section, as words.
fn readme_install_command() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("cargo install --locked --path adapters")
        })
        .expect("README.md shows `cargo install --locked --path adapters`");
    let command = line.split('#').next().unwrap();
    command.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_readmes_install_command_installs_a_lull_that_runs() {
    let words = readme_install_command();
    assert_eq!(words[..2], ["cargo", "install"]);
    let root = tempfile::tempdir().unwrap();
    // This test's own binary is target/<profile>/deps/install-…: the target directory is two up.
    let target = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.parent())
        .unwrap()
        .to_owned();
    let log = root.path().join("install.log");
    let mut install = Command::new(env!("CARGO"))
        .args(&words[1..])
        .args(["--debug", "--offline", "--root"])
        .arg(root.path())
        .arg("--target-dir")
        .arg(target.join("install-check"))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(root.path().join("install.err")).unwrap())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut install, Duration::from_secs(900)).unwrap_or_else(|| {
        let _ = install.kill();
        panic!("the install did not finish within 15 minutes")
    });
    let errors = std::fs::read_to_string(root.path().join("install.err")).unwrap_or_default();
    assert!(status.success(), "{errors}");
    let lull = root.path().join("bin/lull");
    let version = Command::new(&lull).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("lull "));
    // The installed binary does what the README says comes next.
    let home = root.path().join("home");
    let init = Command::new(&lull)
        .arg("--home")
        .arg(&home)
        .arg("init")
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let doctor = Command::new(&lull)
        .arg("--home")
        .arg(&home)
        .arg("doctor")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(
        doctor.status.code(),
        Some(1),
        "a fresh profile is not ready: {report}"
    );
    assert!(report.contains("executor.restart: not set"), "{report}");
}
