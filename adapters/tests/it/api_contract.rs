//! The OpenAPI document is the contract: schemathesis, a property-based API fuzzer, runs every
//! check it has (`--checks all`: server errors, undocumented statuses, bodies the document allows
//! but the server refuses and the reverse, response schemas, auth that is ignored, unsupported
//! methods, stateful sequences) against `lull serve` over loopback TCP, and must find nothing.
//!
//! It runs from the virtual environment `scripts/test` creates (`LULL_TEST_VENV`).

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::Home;

const TOKEN: &str = "contract-admin-token";

#[test]
fn the_api_fuzzer_finds_no_mismatch_between_the_document_and_the_server() {
    let st = common::venv_tool("LULL_TEST_VENV", "lull-test-venv", "st");
    // A relay, so the fuzzer reaches its handlers too (the admin token may call it).
    let home = Home::new(
        "[executor]\nrestart = [\"true\"]\n[api]\ntcp_listen = \"127.0.0.1:0\"\n[relay]\nadmins = [\"u1\"]\n",
    )
        .with_env("LULL_ADMIN_TOKEN", TOKEN);
    let server = home.serve();
    let port = home.logged_port("control API");
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/contract/schemathesis.toml");
    // A fixed seed keeps CI repeatable; LULL_CONTRACT_SEED explores others.
    let seed = std::env::var("LULL_CONTRACT_SEED").unwrap_or_else(|_| "20261202".into());
    // Run where its cache (`.schemathesis/`) lands in the test's home, not in the source tree.
    let out = Command::new(&st)
        .current_dir(home.path())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("http://127.0.0.1:{port}/openapi.json")])
        .args(["--checks", "all", "--max-examples", "40", "--seed", &seed])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found mismatches (seed {seed}):\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for phase in ["✅ Coverage", "✅ Fuzzing", "✅ Stateful"] {
        assert!(
            report.contains(phase),
            "every phase ran and passed: {report}"
        );
    }
    // The fuzzer reached the handlers with the token (a server that refused every call would
    // pass the checks): requests were asked for, and sources and runs were reported.
    let requests = home.call("GET", "/v1/requests", None);
    assert!(
        !requests.body["requests"].as_array().unwrap().is_empty(),
        "no request was ever accepted: {report}"
    );
    let status = home.call("GET", "/v1/status", None);
    assert!(
        !status.body["sources"].as_array().unwrap().is_empty(),
        "no activity source was ever accepted: {report}"
    );
    // Warnings ("missing test data": random ids that match no request) are not failures.
    assert!(!report.contains("❌"), "no failure: {report}");
    home.stop(server);
}
