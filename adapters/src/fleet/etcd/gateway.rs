//! etcd's JSON gateway (`/v3/…`, the gRPC API as JSON over HTTP): the few calls the slot
//! semaphore needs. Keys and values travel in base64 and 64-bit numbers as strings; a field at
//! its zero value is left out (`"succeeded"` absent means false). Endpoints are tried in turn
//! when one cannot be reached.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lull_queue::FleetError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use url::Url;

/// Longest one unary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of one etcd cluster.
pub(crate) struct Gateway {
    http: reqwest::Client,
    endpoints: Vec<Url>,
    /// The endpoint that answered last, tried first.
    preferred: AtomicUsize,
}

/// One key-value pair.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Kv {
    #[serde(deserialize_with = "base64_text")]
    pub(crate) key: String,
    #[serde(default, deserialize_with = "base64_bytes")]
    pub(crate) value: Vec<u8>,
    #[serde(default, deserialize_with = "number")]
    pub(crate) mod_revision: u64,
    #[serde(default, deserialize_with = "number")]
    pub(crate) lease: i64,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "number")]
    revision: u64,
}

#[derive(Deserialize)]
struct RangeResponse {
    header: Header,
    #[serde(default)]
    kvs: Vec<Kv>,
}

#[derive(Deserialize)]
struct TxnResponse {
    header: Header,
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<Value>,
}

#[derive(Deserialize)]
struct LeaseResponse {
    #[serde(rename = "ID", default, deserialize_with = "number")]
    id: i64,
    #[serde(rename = "TTL", default, deserialize_with = "number")]
    ttl: i64,
}

#[derive(Deserialize)]
struct KeepAliveResponse {
    result: Option<LeaseResponse>,
}

#[derive(Deserialize)]
struct GatewayError {
    #[serde(default)]
    message: String,
}

impl Gateway {
    pub fn new(endpoints: Vec<Url>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
            endpoints,
            preferred: AtomicUsize::new(0),
        }
    }

    /// `POST path` with `body` on the first endpoint that answers.
    async fn call<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, FleetError> {
        let response = self.send(path, body, Some(CALL_TIMEOUT)).await?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| FleetError::Unreachable(format!("etcd {path}: {e}")))?;
        if !status.is_success() {
            let message = serde_json::from_str::<GatewayError>(&text)
                .map(|e| e.message)
                .unwrap_or(text);
            return Err(FleetError::Unreachable(format!(
                "etcd {path} answered {status}: {message}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| FleetError::Unreachable(format!("etcd {path} answered nonsense: {e}")))
    }

    /// Sends on each endpoint in turn from the preferred one; the first that answers wins.
    pub(crate) async fn send(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, FleetError> {
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last_error = String::new();
        for i in 0..self.endpoints.len() {
            let index = (first + i) % self.endpoints.len();
            let Ok(url) = self.endpoints[index].join(path) else {
                continue;
            };
            let mut request = self.http.post(url).json(body);
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            match request.send().await {
                Ok(response) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(error) => {
                    last_error = format!(
                        "{}: {}",
                        self.endpoints[index],
                        super::super::transport_error(&error)
                    );
                }
            }
        }
        Err(FleetError::Unreachable(last_error))
    }

    /// Grants a lease of `ttl`; its id.
    pub(crate) async fn grant(&self, ttl: Duration) -> Result<i64, FleetError> {
        let r: LeaseResponse = self
            .call("v3/lease/grant", &json!({"TTL": ttl.as_secs().to_string()}))
            .await?;
        Ok(r.id)
    }

    /// Renews lease `id`; the seconds it has left, or `None` if it expired or was revoked.
    pub(crate) async fn keep_alive(&self, id: i64) -> Result<Option<u64>, FleetError> {
        let r: KeepAliveResponse = self
            .call("v3/lease/keepalive", &json!({"ID": id.to_string()}))
            .await?;
        Ok(r.result.filter(|l| l.ttl > 0).map(|l| l.ttl as u64))
    }

    /// Revokes lease `id`, deleting every key under it; a lease already gone is fine.
    pub(crate) async fn revoke(&self, id: i64) -> Result<(), FleetError> {
        match self
            .call::<Value>("v3/lease/revoke", &json!({"ID": id.to_string()}))
            .await
        {
            Ok(_) => Ok(()),
            Err(FleetError::Unreachable(e)) if e.contains("requested lease not found") => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Every key under `prefix`, and the store's revision.
    pub(crate) async fn range_prefix(&self, prefix: &str) -> Result<(Vec<Kv>, u64), FleetError> {
        let r: RangeResponse = self
            .call(
                "v3/kv/range",
                &json!({"key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix))}),
            )
            .await?;
        Ok((r.kvs, r.header.revision))
    }

    /// Writes `key` under `lease` if it does not exist; the revision of the write, or `None`
    /// if the key exists.
    pub(crate) async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        lease: i64,
    ) -> Result<Option<u64>, FleetError> {
        let r: TxnResponse = self
            .call(
                "v3/kv/txn",
                &json!({
                    "compare": [{"key": B64.encode(key), "target": "CREATE", "create_revision": "0", "result": "EQUAL"}],
                    "success": [{"request_put": {"key": B64.encode(key), "value": B64.encode(value), "lease": lease.to_string()}}],
                }),
            )
            .await?;
        Ok(r.succeeded.then_some(r.header.revision))
    }

    /// `key` if it exists under `lease`, read in the same transaction as the comparison.
    pub(crate) async fn held(&self, key: &str, lease: i64) -> Result<Option<Kv>, FleetError> {
        let r: TxnResponse = self
            .call(
                "v3/kv/txn",
                &json!({
                    "compare": [{"key": B64.encode(key), "target": "LEASE", "lease": lease.to_string(), "result": "EQUAL"}],
                    "success": [{"request_range": {"key": B64.encode(key)}}],
                }),
            )
            .await?;
        if !r.succeeded {
            return Ok(None);
        }
        let kv = r
            .responses
            .first()
            .and_then(|resp| resp.get("response_range"))
            .and_then(|range| range.get("kvs"))
            .and_then(|kvs| kvs.get(0))
            .and_then(|kv| serde_json::from_value::<Kv>(kv.clone()).ok());
        Ok(kv)
    }

    /// The request that opens a watch of every key under `prefix`.
    pub(crate) fn watch_body(prefix: &str) -> Value {
        json!({"create_request": {"key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix))}})
    }
}

/// The end of the range of keys that start with `prefix` (its last byte plus one).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A number the gateway wrote as a string (64-bit) or as a number.
fn number<'de, D: Deserializer<'de>, T>(d: D) -> Result<T, D::Error>
where
    T: std::str::FromStr + TryFrom<i64>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(i64),
    }
    let invalid = || serde::de::Error::custom("not a number in range");
    match Either::deserialize(d)? {
        Either::Text(text) => text.parse().map_err(|_| invalid()),
        Either::Number(n) => T::try_from(n).map_err(|_| invalid()),
    }
}

fn base64_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    B64.decode(text).map_err(serde::de::Error::custom)
}

fn base64_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::from_utf8(base64_bytes(d)?).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_after_the_last_key_with_it() {
        assert_eq!(prefix_end("lull/g/slots/"), b"lull/g/slots0");
    }

    #[test]
    fn reads_the_gateways_json_with_numbers_as_strings_and_zero_fields_left_out() {
        let kv: Kv = serde_json::from_value(json!({
            "key": B64.encode("lull/g/slots/0"), "create_revision": "2", "mod_revision": "2",
            "version": "1", "value": B64.encode("{}"), "lease": "7587899313777030151"
        }))
        .unwrap();
        assert_eq!(
            (kv.key.as_str(), kv.mod_revision, kv.lease),
            ("lull/g/slots/0", 2, 7_587_899_313_777_030_151)
        );
        let txn: TxnResponse =
            serde_json::from_value(json!({"header": {"revision": "3"}})).unwrap();
        assert!(!txn.succeeded, "absent means false");
        let lapsed: KeepAliveResponse =
            serde_json::from_value(json!({"result": {"header": {}, "ID": "7"}})).unwrap();
        assert_eq!(lapsed.result.unwrap().ttl, 0);
    }
}
