//! A small etcd v3 client over etcd's own JSON gateway (`/v3/kv/*`,
//! `/v3/lease/*`, served by every etcd since 3.3 beside gRPC): what
//! membership and ownership need, and nothing else. Keys and values are
//! base64 in the JSON, 64-bit numbers are strings.

mod watch;

use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

pub(crate) use self::watch::{Batch, Change};
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

    /// Watches every key under `prefix` from `revision` on: the changes
    /// as etcd streams them, until the stream breaks (an error ends it).
    pub(crate) async fn watch(
        &self,
        prefix: &str,
        revision: i64,
    ) -> Result<futures::stream::LocalBoxStream<'static, Result<Batch>>> {
        let url = format!("{}/v3/watch", self.base);
        let request = json!({ "create_request": {
            "key": b64(prefix.as_bytes()),
            "range_end": b64(&prefix_end(prefix)),
            "start_revision": revision.to_string(),
        }});
        // The timeout covers the response's head; awc does not apply it
        // to the body, which streams as long as the watch lasts.
        let response = self
            .client
            .post(&url)
            .send_json(&request)
            .await
            .map_err(|e| Error::new(ErrorCategory::Network, format!("etcd /v3/watch: {e}")))?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(protocol(&format!("/v3/watch: {status}")));
        }
        Ok(watch::batches(response))
    }

    /// A counter key's value and its mod revision (0, 0 when absent).
    pub(crate) async fn counter(&self, key: &str) -> Result<(u64, i64)> {
        let reply = self
            .call("/v3/kv/range", json!({ "key": b64(key.as_bytes()) }))
            .await?;
        Ok(match kvs(&reply).first() {
            Some(kv) => {
                let count = std::str::from_utf8(&kv.value)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| protocol(&format!("{key} holds no count")))?;
                (count, kv.mod_revision)
            }
            None => (0, 0),
        })
    }

    /// Sets a counter key to `count` if it is still at `mod_revision` (0:
    /// still absent), and deletes the keys in `[stale_from, stale_to)` in
    /// the same transaction; answers whether it was set.
    pub(crate) async fn set_counter(
        &self,
        key: &str,
        mod_revision: i64,
        count: u64,
        stale: (&str, &str),
    ) -> Result<bool> {
        let key64 = b64(key.as_bytes());
        let compare = if mod_revision == 0 {
            json!({ "key": key64, "target": "CREATE", "result": "EQUAL", "create_revision": "0" })
        } else {
            json!({ "key": key64, "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string() })
        };
        let reply = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [compare],
                    "success": [
                        { "request_put": { "key": key64, "value": b64(count.to_string().as_bytes()) } },
                        { "request_delete_range": { "key": b64(stale.0.as_bytes()), "range_end": b64(stale.1.as_bytes()) } },
                    ],
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
    reply["kvs"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(kv)
        .collect()
}

/// One key as the gateway writes it; `None` when it does not decode.
fn kv(kv: &Value) -> Option<KeyValue> {
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
mod tests;
