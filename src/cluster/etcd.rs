//! A small etcd v3 client over etcd's own JSON gateway (`/v3/kv/*`,
//! `/v3/lease/*`, served by every etcd since 3.3 beside gRPC): what
//! membership and ownership need, and nothing else. Keys and values are
//! base64 in the JSON, 64-bit numbers are strings.

use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use crate::{Error, ErrorCategory, Result};

/// The longest an etcd request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The most a response body may hold (a range over every endpoint).
const MAX_RESPONSE: usize = 64 << 20;

/// One key as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyValue {
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
    /// The revision that created it: an owner key's epoch.
    pub(crate) create_revision: i64,
    /// The revision of its last change.
    pub(crate) mod_revision: i64,
    /// The lease it is bound to (0: none).
    pub(crate) lease: i64,
}

/// An etcd endpoint (`http://host:port`), with awc's client of this thread.
#[derive(Clone)]
pub(crate) struct Etcd {
    base: String,
    client: awc::Client,
    /// No request of this handle runs past it.
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Etcd {
    pub(crate) fn new(base: &str) -> Self {
        let client = awc::Client::builder().timeout(REQUEST_TIMEOUT).finish();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            deadline: None,
        }
    }

    /// This client, with every request cut off at `deadline`.
    pub(crate) fn until(&self, deadline: Option<Instant>) -> Self {
        Self {
            deadline,
            ..self.clone()
        }
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let timeout = match self.deadline {
            Some(deadline) => {
                REQUEST_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()))
            }
            None => REQUEST_TIMEOUT,
        };
        if timeout.is_zero() {
            return Err(Error::new(
                ErrorCategory::Timeout,
                format!("etcd {path}: past the lease's safety deadline"),
            ));
        }
        let mut response = self
            .client
            .post(&url)
            .timeout(timeout)
            .send_json(&body)
            .await
            .map_err(|e| Error::new(ErrorCategory::Network, format!("etcd {path}: {e}")))?;
        let status = response.status();
        let body = response
            .body()
            .limit(MAX_RESPONSE)
            .await
            .map_err(|e| Error::new(ErrorCategory::Network, format!("etcd {path}: {e}")))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(Error::new(
                ErrorCategory::Protocol,
                format!("etcd {path}: {status}: {text}"),
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Error::new(ErrorCategory::Protocol, format!("etcd {path}: {e}")))
    }

    /// A new lease of `ttl`; answers its id.
    pub(crate) async fn grant(&self, ttl: Duration) -> Result<i64> {
        let reply = self
            .call("/v3/lease/grant", json!({ "TTL": ttl.as_secs().max(1) }))
            .await?;
        match number(&reply["ID"]) {
            0 => Err(protocol("lease grant answered no id")),
            id => Ok(id),
        }
    }

    /// Renews a lease; answers whether it still exists.
    pub(crate) async fn keep_alive(&self, lease: i64) -> Result<bool> {
        let reply = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        lease_alive(&reply)
    }

    /// Ends a lease: every key bound to it goes at once.
    pub(crate) async fn revoke(&self, lease: i64) -> Result<()> {
        self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .await
            .map(drop)
    }

    /// Every key under `prefix`, and the store's revision.
    pub(crate) async fn range_prefix(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64)> {
        let reply = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(prefix.as_bytes()), "range_end": b64(&prefix_end(prefix)) }),
            )
            .await?;
        Ok((kvs(&reply), number(&reply["header"]["revision"])))
    }

    /// Writes `key` = `value`, bound to `lease` (0: none).
    pub(crate) async fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<()> {
        let mut request = json!({ "key": b64(key.as_bytes()), "value": b64(value) });
        if lease != 0 {
            request["lease"] = json!(lease.to_string());
        }
        self.call("/v3/kv/put", request).await.map(drop)
    }

    /// Deletes `key`.
    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        self.call("/v3/kv/deleterange", json!({ "key": b64(key.as_bytes()) }))
            .await
            .map(drop)
    }

    /// Creates `key` = `value` bound to `lease` only if it does not exist;
    /// answers the creation revision when it did, `None` when the key was
    /// there already.
    pub(crate) async fn create(&self, key: &str, value: &[u8], lease: i64) -> Result<Option<i64>> {
        let key64 = b64(key.as_bytes());
        let reply = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": key64, "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
                    "success": [{ "request_put": { "key": key64, "value": b64(value), "lease": lease.to_string() } }],
                }),
            )
            .await?;
        let created = reply["succeeded"].as_bool().unwrap_or(false);
        Ok(created.then(|| number(&reply["header"]["revision"])))
    }

    /// Deletes `key` only if it was created at `revision` (a claim of ours,
    /// not a newer one of someone else's).
    pub(crate) async fn delete_if_created(&self, key: &str, revision: i64) -> Result<bool> {
        let key64 = b64(key.as_bytes());
        let reply = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": key64, "target": "CREATE", "result": "EQUAL", "create_revision": revision.to_string() }],
                    "success": [{ "request_delete_range": { "key": key64 } }],
                }),
            )
            .await?;
        Ok(reply["succeeded"].as_bool().unwrap_or(false))
    }
}

/// Whether a keep-alive answer says the lease lives. The gateway streams
/// this call: an error (a leader change, say) comes as `{"error": ...}`
/// with status 200, and must not be taken for an expired lease (TTL 0,
/// omitted as a default, means expired).
fn lease_alive(reply: &Value) -> Result<bool> {
    if !reply["error"].is_null() || reply["result"].is_null() {
        return Err(protocol(&format!("lease keep-alive: {reply}")));
    }
    Ok(number(&reply["result"]["TTL"]) > 0)
}

fn protocol(what: &str) -> Error {
    Error::new(ErrorCategory::Protocol, format!("etcd: {what}"))
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A 64-bit number as the gateway writes it (a string), or as a number.
fn number(value: &Value) -> i64 {
    match value {
        Value::String(text) => text.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The keys of a range answer; entries that do not decode are skipped.
fn kvs(reply: &Value) -> Vec<KeyValue> {
    let Some(kvs) = reply["kvs"].as_array() else {
        return Vec::new();
    };
    kvs.iter()
        .filter_map(|kv| {
            let key = STANDARD.decode(kv["key"].as_str()?).ok()?;
            let value = match kv["value"].as_str() {
                Some(value) => STANDARD.decode(value).ok()?,
                None => Vec::new(),
            };
            Some(KeyValue {
                key: String::from_utf8(key).ok()?,
                value,
                create_revision: number(&kv["create_revision"]),
                mod_revision: number(&kv["mod_revision"]),
                lease: number(&kv["lease"]),
            })
        })
        .collect()
}

/// The end of the range of every key starting with `prefix`: the prefix
/// with its last byte below 0xFF incremented (etcd's convention).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xFF (or empty): to the end of the keyspace.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_and_gateway_numbers() {
        assert_eq!(prefix_end("a/b/"), b"a/b0");
        assert_eq!(prefix_end(""), [0]);
        assert_eq!(number(&json!("42")), 42);
        assert_eq!(number(&json!(7)), 7);
        assert_eq!(number(&json!(null)), 0);
        assert_eq!(number(&json!("x")), 0);
        let reply = json!({ "kvs": [
            { "key": b64(b"p/1"), "value": b64(b"v"), "create_revision": "5", "lease": "9" },
            { "key": "not base64!", "value": "" },
            { "key": b64(b"p/2") },
        ]});
        let kvs = kvs(&reply);
        assert_eq!(kvs.len(), 2);
        assert_eq!(kvs[0].key, "p/1");
        assert_eq!((kvs[0].create_revision, kvs[0].lease), (5, 9));
        assert!(kvs[1].value.is_empty());
    }

    #[test]
    fn keep_alive_answers() {
        let alive = json!({ "result": { "header": {}, "ID": "7", "TTL": "10" } });
        assert!(lease_alive(&alive).unwrap());
        // etcd 3.4 omits a TTL of 0: the lease is gone.
        let gone = json!({ "result": { "header": {}, "ID": "7" } });
        assert!(!lease_alive(&gone).unwrap());
        // A stream error is an error, not an expiry.
        let error = json!({ "error": { "grpc_code": 14, "message": "leader changed" } });
        assert!(lease_alive(&error).is_err());
    }
}
