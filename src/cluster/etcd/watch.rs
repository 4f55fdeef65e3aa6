//! A watch over a key prefix, as the JSON gateway streams it: one JSON
//! object a line (`{"result": {...}}`), each a batch of changes in
//! revision order, or the watch's creation, or its end (compaction).

use bytes::{Buf, BytesMut};
use futures::{stream::LocalBoxStream, Stream, StreamExt};
use serde_json::Value;

use super::{kv, number, protocol, KeyValue};
use crate::{Error, ErrorCategory, Result};

/// The longest line a watch may send (one batch of changes).
const MAX_LINE: usize = super::MAX_RESPONSE;

/// One change under the watched prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The key was created or changed.
    Put(KeyValue),
    /// The key was deleted.
    Delete(String),
}

/// One message of a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Batch {
    /// The watch is set up.
    Created,
    /// Changes, in order.
    Changes(Vec<Change>),
    /// etcd ended the watch (its start revision was compacted, say): read
    /// the prefix again and watch anew.
    Canceled(String),
}

/// Reads one message of the gateway's watch stream.
pub(crate) fn batch(message: &Value) -> Result<Batch> {
    if !message["error"].is_null() {
        return Err(protocol(&format!("watch: {}", message["error"])));
    }
    let result = &message["result"];
    if result.is_null() {
        return Err(protocol(&format!("watch: no result in {message}")));
    }
    if result["canceled"].as_bool().unwrap_or(false) {
        let why = match number(&result["compact_revision"]) {
            0 => result["cancel_reason"]
                .as_str()
                .unwrap_or("canceled")
                .to_owned(),
            compacted => format!("compacted at revision {compacted}"),
        };
        return Ok(Batch::Canceled(why));
    }
    if result["created"].as_bool().unwrap_or(false) {
        return Ok(Batch::Created);
    }
    let events = result["events"].as_array().map_or(&[][..], Vec::as_slice);
    let mut changes = Vec::with_capacity(events.len());
    for event in events {
        let Some(kv) = kv(&event["kv"]) else {
            return Err(protocol(&format!("watch: an event without a key: {event}")));
        };
        // A put is the default (0), so the gateway leaves its type out.
        changes.push(match event["type"].as_str() {
            None | Some("PUT") => Change::Put(kv),
            Some("DELETE") => Change::Delete(kv.key),
            Some(other) => return Err(protocol(&format!("watch: event type {other}"))),
        });
    }
    Ok(Batch::Changes(changes))
}

/// Splits a byte stream into the watch's messages: a line each, bounded
/// by [`MAX_LINE`]. Ends with an error when the stream breaks or ends
/// (a watch never ends on its own).
pub(crate) fn batches<S, E>(body: S) -> LocalBoxStream<'static, Result<Batch>>
where
    S: Stream<Item = std::result::Result<bytes::Bytes, E>> + 'static,
    E: std::fmt::Display,
{
    // The body, what is buffered, how much of it holds no newline, done.
    let state = (Box::pin(body), BytesMut::new(), 0, false);
    futures::stream::unfold(state, |(mut body, mut buffer, mut seen, done)| async move {
        if done {
            return None;
        }
        loop {
            if let Some(at) = buffer[seen..].iter().position(|&b| b == b'\n') {
                let line = buffer.split_to(seen + at + 1);
                seen = 0;
                let text = line.chunk().trim_ascii();
                if text.is_empty() {
                    continue;
                }
                let parsed = serde_json::from_slice::<Value>(text)
                    .map_err(|e| protocol(&format!("watch: {e}")))
                    .and_then(|message| batch(&message));
                let done = parsed.is_err();
                return Some((parsed, (body, buffer, seen, done)));
            }
            seen = buffer.len();
            if buffer.len() > MAX_LINE {
                let error = protocol("watch: a message over the size limit");
                return Some((Err(error), (body, buffer, seen, true)));
            }
            let error = match body.next().await {
                Some(Ok(bytes)) => {
                    buffer.extend_from_slice(&bytes);
                    continue;
                }
                Some(Err(e)) => format!("etcd watch: {e}"),
                None => "etcd watch: the stream ended".to_owned(),
            };
            let error = Error::new(ErrorCategory::Network, error);
            return Some((Err(error), (body, buffer, seen, true)));
        }
    })
    .boxed_local()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(text: &str) -> String {
        super::super::b64(text.as_bytes())
    }

    #[test]
    fn reads_puts_deletes_creation_and_compaction() {
        let created = json!({ "result": { "header": { "revision": "1" }, "created": true } });
        assert_eq!(batch(&created).unwrap(), Batch::Created);
        let changes = json!({ "result": { "header": { "revision": "4" }, "events": [
            { "kv": { "key": b64("p/a"), "value": b64("1"), "create_revision": "2", "mod_revision": "3" } },
            { "type": "DELETE", "kv": { "key": b64("p/b"), "mod_revision": "4" } },
        ]}});
        let Batch::Changes(changes) = batch(&changes).unwrap() else {
            panic!("not changes");
        };
        assert!(
            matches!(&changes[0], Change::Put(kv) if kv.key == "p/a" && kv.value == b"1" && kv.create_revision == 2)
        );
        assert_eq!(changes[1], Change::Delete("p/b".into()));
        let compacted =
            json!({ "result": { "header": {}, "canceled": true, "compact_revision": "3" } });
        assert_eq!(
            batch(&compacted).unwrap(),
            Batch::Canceled("compacted at revision 3".into())
        );
        assert!(batch(&json!({ "error": { "message": "x" } })).is_err());
        assert!(batch(&json!({ "result": { "events": [{ "kv": {} }] } })).is_err());
        assert!(batch(
            &json!({ "result": { "events": [{ "type": "X", "kv": { "key": b64("k") } }] } })
        )
        .is_err());
    }

    #[actix_rt::test]
    async fn splits_lines_at_any_chunk_boundary_and_ends_with_an_error() {
        let text = format!(
            "{}\n\n{}\n",
            json!({ "result": { "created": true } }),
            json!({ "result": { "header": { "revision": "9" }, "events": [
                { "type": "DELETE", "kv": { "key": b64("p/x") } },
            ]}}),
        );
        for cut in 0..text.len() {
            let (a, b) = text.as_bytes().split_at(cut);
            let chunks = vec![
                Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(a)),
                Ok(bytes::Bytes::copy_from_slice(b)),
            ];
            let got: Vec<_> = batches(futures::stream::iter(chunks)).collect().await;
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got[0].as_ref().unwrap(), &Batch::Created);
            assert!(matches!(
                got[1].as_ref().unwrap(),
                Batch::Changes(c) if c.len() == 1
            ));
            assert_eq!(
                got[2].as_ref().unwrap_err().category(),
                ErrorCategory::Network
            );
        }
        let bad = vec![Ok::<_, std::io::Error>(bytes::Bytes::from_static(
            b"{not json\n",
        ))];
        let got: Vec<_> = batches(futures::stream::iter(bad)).collect().await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].as_ref().unwrap_err().category(),
            ErrorCategory::Protocol
        );
    }
}
