//! The SSE transport's pure parts.

use awc::http::header::{HeaderMap, HeaderValue, CONTENT_ENCODING};

use std::sync::{Arc, Mutex};

use super::{content_codings, ResponseHead, SseSettings, SseTransport};

/// A writer for tracing output that keeps it.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_stream_id_a_header_cannot_hold_is_not_sent_and_warned_about_once() {
    let settings = SseSettings {
        max_event_size: 1024,
        liveness_events: Arc::from(Vec::new()),
        comments: false,
        max_redirects: 0,
        method: awc::http::Method::GET,
        body: None,
        last_event_id: Some("41".into()),
    };
    let mut transport = SseTransport::new(settings, None);
    assert_eq!(transport.last_event_id().unwrap(), "41");
    transport.resume.borrow_mut().last_event_id = "4\u{1}2".into();
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        assert_eq!(transport.last_event_id(), None);
        assert_eq!(transport.last_event_id(), None);
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("WARN").count(), 1, "{text}");
    assert!(text.contains("without Last-Event-ID"), "{text}");
    transport.resume.borrow_mut().last_event_id = "".into();
    assert_eq!(transport.last_event_id(), None);
}

#[test]
fn every_content_coding_but_identity_is_named() {
    let coded = |values: &[&'static str]| {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CONTENT_ENCODING, HeaderValue::from_static(value));
        }
        let head = ResponseHead {
            minor_version: 1,
            status: 200,
            headers,
        };
        content_codings(&head)
    };
    assert_eq!(coded(&[]), None);
    assert_eq!(coded(&["identity"]), None);
    assert_eq!(coded(&["Identity, "]), None);
    assert_eq!(coded(&["gzip"]).as_deref(), Some("gzip"));
    assert_eq!(
        coded(&["identity, br", "gzip"]).as_deref(),
        Some("br, gzip")
    );
}
