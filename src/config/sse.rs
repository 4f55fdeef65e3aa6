//! Settings only SSE endpoints use, and the request body they may send.

use std::{fmt, sync::Arc};

use bytes::Bytes;

/// Settings only SSE endpoints use.
///
/// `Debug` prints the `ping_url` through [`redact_url`](crate::redact_url),
/// and of the body only its content type.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SseConfig {
    /// Largest line or event in bytes; more is a protocol error and a
    /// reconnect, never unbounded memory. Default 1 MiB.
    pub max_event_size: usize,
    /// Event types that only prove the stream alive (for example
    /// `heartbeat`): not delivered to subscribers. Default: none.
    pub liveness_events: Vec<String>,
    /// Comment lines are delivered as
    /// [`Payload::Comment`](crate::Payload::Comment). Default false (they
    /// only prove the stream alive).
    pub comments: bool,
    /// A URL fetched with GET every heartbeat interval to measure round trips
    /// for the monitor (`http://` or `https://`; user info in it becomes the
    /// ping requests' `Authorization: Basic` header). Default: none.
    pub ping_url: Option<String>,
    /// Redirects followed per attempt. Default 10.
    pub max_redirects: u8,
    /// The request method: any HTTP token (`POST`, `REPORT`, ...) but
    /// `HEAD` and `CONNECT`, which cannot answer with an event stream.
    /// Default `GET`.
    pub method: String,
    /// The request body, made afresh for every attempt. Default: none (no
    /// body; `Content-Length: 0` for POST, PUT and PATCH).
    #[serde(skip)]
    pub body: Option<RequestBody>,
    /// The `Last-Event-ID` of the first request, for a service that stored
    /// the last id it processed and resumes after its own restart; the
    /// stream's `id:` fields replace it as usual (an empty one clears it).
    /// Events before the stream's first `id:` carry it as their id. Must
    /// be a valid header value (no control character but tab). Default:
    /// none.
    pub last_event_id: Option<String>,
}

impl Default for SseConfig {
    fn default() -> Self {
        Self {
            max_event_size: crate::sse::DEFAULT_MAX_EVENT_SIZE,
            liveness_events: Vec::new(),
            comments: false,
            ping_url: None,
            max_redirects: 10,
            method: "GET".to_owned(),
            body: None,
            last_event_id: None,
        }
    }
}

impl fmt::Debug for SseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseConfig")
            .field("max_event_size", &self.max_event_size)
            .field("liveness_events", &self.liveness_events)
            .field("comments", &self.comments)
            .field(
                "ping_url",
                &self.ping_url.as_deref().map(crate::redact::redact_url),
            )
            .field("max_redirects", &self.max_redirects)
            .field("method", &self.method)
            .field("body", &self.body)
            .field("last_event_id", &self.last_event_id)
            .finish()
    }
}

/// Makes a request body; called on every attempt.
type MakeBody = Arc<dyn Fn() -> Result<Bytes, String> + Send + Sync>;

/// The body of an SSE endpoint's request: its content type, and a
/// provider called on every attempt, so a reconnect sends a fresh body
/// (for example one that carries the cursor the application reached).
///
/// Set it with [`EndpointBuilder::body`](crate::EndpointBuilder::body) or
/// [`json_body`](crate::EndpointBuilder::json_body). `Debug` shows the
/// content type only; two bodies are equal when they are clones of one
/// another.
#[derive(Clone)]
pub struct RequestBody {
    content_type: String,
    make: MakeBody,
}

impl RequestBody {
    /// A body of `content_type` that `provider` makes on every attempt.
    ///
    /// ```
    /// use actix_tether::config::RequestBody;
    /// let body = RequestBody::new("text/plain", || "hello".into());
    /// assert_eq!(body.content_type(), "text/plain");
    /// assert_eq!(body.make().unwrap(), "hello");
    /// ```
    pub fn new(
        content_type: impl Into<String>,
        provider: impl Fn() -> Bytes + Send + Sync + 'static,
    ) -> Self {
        Self {
            content_type: content_type.into(),
            make: Arc::new(move || Ok(provider())),
        }
    }

    /// An `application/json` body: what `provider` returns on each
    /// attempt, serialized with `serde_json`.
    ///
    /// ```
    /// use actix_tether::config::RequestBody;
    /// let body = RequestBody::json(|| serde_json::json!({"threadId": "t1"}));
    /// assert_eq!(body.content_type(), "application/json");
    /// assert_eq!(body.make().unwrap(), r#"{"threadId":"t1"}"#);
    /// ```
    pub fn json<T: serde::Serialize>(provider: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self {
            content_type: "application/json".to_owned(),
            make: Arc::new(move || {
                serde_json::to_vec(&provider())
                    .map(Bytes::from)
                    .map_err(|err| err.to_string())
            }),
        }
    }

    /// The body's content type, sent as `Content-Type`.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// Makes the body for one attempt.
    ///
    /// # Errors
    /// Serializing a [`json`](Self::json) body failed; the attempt fails
    /// with a [`Config`](crate::ErrorCategory::Config) error (the endpoint
    /// fails).
    pub fn make(&self) -> Result<Bytes, crate::Error> {
        (self.make)().map_err(|problem| {
            crate::Error::new(
                crate::ErrorCategory::Config,
                format!("the request body could not be made: {problem}"),
            )
        })
    }
}

impl PartialEq for RequestBody {
    fn eq(&self, other: &Self) -> bool {
        self.content_type == other.content_type && Arc::ptr_eq(&self.make, &other.make)
    }
}

impl Eq for RequestBody {}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}
