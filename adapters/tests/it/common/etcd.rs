//! A real etcd (Debian's `etcd-server`) for the fleet tests: started on loopback ports with a
//! temporary data directory, stopped when dropped. `.ci/run` installs it on a fresh machine.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running single-member etcd.
pub struct Etcd {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its client port on 127.0.0.1.
    pub port: u16,
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Etcd {
    /// Starts etcd and waits (bounded) until it answers.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (port, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let child = Command::new("etcd")
            .args([
                "--name",
                "lull-test",
                "--data-dir",
                &dir.path().join("data").display().to_string(),
                "--listen-client-urls",
                &client_url,
                "--advertise-client-urls",
                &client_url,
                "--listen-peer-urls",
                &peer_url,
                "--initial-advertise-peer-urls",
                &peer_url,
                "--initial-cluster",
                &format!("lull-test={peer_url}"),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start etcd ({e}): install Debian's etcd-server (.ci/run does)")
            });
        let mut etcd = Self {
            child,
            _dir: dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while etcd
            .try_call("v3/kv/range", &json!({"key": "AA=="}))
            .is_none()
        {
            if let Ok(Some(status)) = etcd.child.try_wait() {
                panic!("etcd exited ({status}): {}", etcd.log());
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer within 30 s: {}",
                etcd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        etcd
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("etcd.log")).unwrap_or_default()
    }

    fn try_call(&self, path: &str, body: &Value) -> Option<Value> {
        let request = super::post_request(
            &format!("/{path}"),
            "application/json",
            "",
            &body.to_string(),
        );
        Some(super::json_body(&super::try_http(self.port, &request)?)).filter(|v| !v.is_null())
    }

    /// One call of etcd's JSON gateway (`v3/lease/revoke`, …); its answer.
    pub fn call(&self, path: &str, body: &Value) -> Value {
        self.try_call(path, body)
            .unwrap_or_else(|| panic!("etcd did not answer {path}"))
    }

    /// The values under `prefix`, decoded.
    pub fn values(&self, prefix: &str) -> Vec<Value> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().unwrap() += 1;
        let answer = self.call(
            "v3/kv/range",
            &json!({"key": b64.encode(prefix), "range_end": b64.encode(end)}),
        );
        answer["kvs"]
            .as_array()
            .map(|kvs| {
                kvs.iter()
                    .map(|kv| {
                        let bytes = b64.decode(kv["value"].as_str().unwrap_or("")).unwrap();
                        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
