//! The Server-Sent Events transport: a GET with `Accept:
//! text/event-stream` over awc (redirects followed), then an [`SseSession`]
//! that parses the body into events. The transport keeps what the next
//! attempt resumes from: the URL after redirects, the last event id and
//! the server's `retry:`.

use std::{
    cell::RefCell,
    pin::Pin,
    rc::Rc,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, SystemTime},
};

use awc::{
    error::PayloadError,
    http::header::{HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER},
};
use bytes::Bytes;
use bytestring::ByteString;
use futures::{
    future::LocalBoxFuture,
    stream::{LocalBoxStream, Stream},
    StreamExt,
};

use super::{
    http::{client_for, header_pairs, request_error},
    Attempt, Capabilities, Inbound, Read, Session, Transport,
};
use crate::{retry_after::parse_retry_after, sse::SseParser, Error, ErrorCategory, Payload};

/// What a reconnect carries over from the previous connection.
#[derive(Default)]
struct Resume {
    /// The URL after redirects, used by later attempts.
    url: Option<String>,
    /// The last event id, sent as `Last-Event-ID`.
    last_event_id: ByteString,
    /// The reconnection time the server set with `retry:`.
    retry: Option<Duration>,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("url", &self.url.as_deref().map(crate::redact::redact_url))
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry)
            .finish()
    }
}

/// What an SSE connection needs to know.
#[derive(Debug, Clone)]
pub(crate) struct SseSettings {
    /// Largest line or event.
    pub(crate) max_event_size: usize,
    /// Event types that only prove the stream alive: not delivered.
    pub(crate) liveness_events: Arc<[String]>,
    /// Redirects followed per attempt.
    pub(crate) max_redirects: u8,
}

/// Connects `http://` and `https://` event streams.
#[derive(Debug)]
pub(crate) struct SseTransport {
    settings: SseSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Shared with the live session, which leaves its state here when dropped.
    resume: Rc<RefCell<Resume>>,
}

impl SseTransport {
    pub(crate) fn new(settings: SseSettings, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        Self {
            settings,
            tls,
            resume: Rc::default(),
        }
    }
}

/// Resolves a `Location` header against the URL that answered with it.
pub(crate) fn resolve_location(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_owned());
    }
    let base: awc::http::Uri = base.parse().ok()?;
    let scheme = base.scheme_str()?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    let authority = base.authority()?;
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
    Some(format!("{scheme}://{authority}{dir}/{location}"))
}

impl Transport for SseTransport {
    /// One attempt: GET with `Accept: text/event-stream`, following
    /// redirects (the lifecycle bounds the whole attempt; the body's idle
    /// bound is the heartbeat timeout).
    fn connect(
        &mut self,
        attempt: &Attempt,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Session>, Error>> {
        let client = client_for(self.tls.as_ref());
        let headers = header_pairs(attempt.headers());
        // The endpoint's headers (credentials among them) go to its own
        // origin only, never to another one a redirect points at.
        let home = crate::url::origin(attempt.url());
        let (mut url, last_event_id) = {
            let resume = self.resume.borrow();
            let url = resume
                .url
                .clone()
                .unwrap_or_else(|| attempt.url().to_owned());
            let id = match HeaderValue::from_bytes(resume.last_event_id.as_bytes()) {
                Ok(value) if !value.is_empty() => Some(value),
                _ => None,
            };
            (url, id)
        };
        let settings = self.settings.clone();
        let resume = self.resume.clone();
        Box::pin(async move {
            let headers = headers?;
            let max_redirects = settings.max_redirects;
            for _ in 0..=max_redirects {
                let mut request = client
                    .get(url.as_str())
                    .insert_header((ACCEPT, "text/event-stream"))
                    .insert_header((CACHE_CONTROL, "no-cache"));
                if home.is_some() && crate::url::origin(&url) == home {
                    for header in &headers {
                        request = request.insert_header(header.clone());
                    }
                } else if !headers.is_empty() {
                    tracing::debug!(
                        "redirected to another origin: the endpoint's headers stay home"
                    );
                }
                if let Some(id) = &last_event_id {
                    request = request.insert_header(("last-event-id", id.clone()));
                }
                let response = request.send().await.map_err(request_error)?;
                match answer(response, &url)? {
                    Answer::Stream(body) => {
                        let last_event_id = {
                            let mut resume = resume.borrow_mut();
                            resume.url = Some(url);
                            resume.last_event_id.clone()
                        };
                        let session = SseSession {
                            body,
                            parser: SseParser::resuming(settings.max_event_size, last_event_id),
                            liveness_events: settings.liveness_events,
                            resume,
                        };
                        return Ok(Box::new(session) as Box<dyn Session>);
                    }
                    Answer::Redirect(next) => url = next,
                }
            }
            Err(Error::new(
                ErrorCategory::Rejected,
                format!("more than {max_redirects} redirects"),
            ))
        })
    }

    fn min_retry_delay(&self) -> Option<Duration> {
        self.resume.borrow().retry
    }
}

/// The body of an event stream.
type Body = LocalBoxStream<'static, Result<Bytes, PayloadError>>;

/// What a response to the event-stream request says.
enum Answer {
    /// The stream: its body.
    Stream(Body),
    /// Go to this URL.
    Redirect(String),
}

/// Reads the answer to a request for `url`: a 200 event stream, a
/// redirect, or a categorised refusal.
fn answer(response: awc::ClientResponse, url: &str) -> Result<Answer, Error> {
    let status = response.status();
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
    match status.as_u16() {
        200 => {
            let content_type = header(CONTENT_TYPE).unwrap_or("");
            let essence = content_type.split(';').next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("text/event-stream") {
                return Err(Error::new(
                    ErrorCategory::Rejected,
                    format!("expected content type text/event-stream, got {content_type:?}"),
                ));
            }
            Ok(Answer::Stream(response.boxed_local()))
        }
        301 | 302 | 303 | 307 | 308 => header(LOCATION)
            .and_then(|location| resolve_location(url, location))
            .map(Answer::Redirect)
            .ok_or_else(|| {
                Error::new(
                    ErrorCategory::Rejected,
                    format!("redirect {status} without a usable location"),
                )
                .with_http_status(status.as_u16())
            }),
        _ => {
            let hint = header(RETRY_AFTER).and_then(|v| parse_retry_after(v, SystemTime::now()));
            Err(Error::refused(status.as_u16(), hint))
        }
    }
}

/// An open event stream: the response body and the parser.
struct SseSession {
    body: Body,
    parser: SseParser,
    liveness_events: Arc<[String]>,
    resume: Rc<RefCell<Resume>>,
}

impl Drop for SseSession {
    /// Leaves what the next attempt resumes from with the transport.
    fn drop(&mut self) {
        let mut resume = self.resume.borrow_mut();
        resume.last_event_id = self.parser.last_event_id().clone();
        if let Some(retry) = self.parser.take_retry() {
            resume.retry = Some(retry);
        }
    }
}

impl Session for SseSession {
    fn capabilities(&self) -> Capabilities {
        Capabilities::receive_only()
    }

    /// Parses up to a burst's worth of ready chunks; any bytes, comments
    /// included, prove the stream alive.
    fn read(&mut self, cx: &mut Context<'_>, inbound: &mut Inbound) -> Result<Read, Error> {
        let liveness_only = &self.liveness_events;
        for _ in 0..inbound.limit() {
            let chunk = match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => return Ok(Read::Pending),
                Poll::Ready(None) => {
                    return Err(Error::new(
                        ErrorCategory::ClosedByPeer,
                        "event stream ended",
                    ))
                }
                Poll::Ready(Some(chunk)) => {
                    chunk.map_err(|e| Error::network(format!("read failed: {e}")))?
                }
            };
            inbound.alive();
            self.parser.push_each(chunk, |event| {
                if liveness_only.is_empty() || !liveness_only.iter().any(|t| *t == **event.event())
                {
                    inbound.message(Payload::Event(event));
                }
            })?;
        }
        Ok(Read::Full)
    }

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Err(Error::receive_only()))
    }

    fn start_send(&mut self, _: Payload) -> Result<(), Error> {
        Err(Error::receive_only())
    }

    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::resolve_location;

    #[test]
    fn locations_resolve_against_the_answering_url() {
        let base = "http://h:8080/a/b/events?x=1";
        let cases = [
            ("https://other/e", "https://other/e"),
            ("//cdn:1/e", "http://cdn:1/e"),
            ("/moved", "http://h:8080/moved"),
            ("next", "http://h:8080/a/b/next"),
        ];
        for (location, want) in cases {
            assert_eq!(
                resolve_location(base, location).as_deref(),
                Some(want),
                "{location}"
            );
        }
        assert_eq!(resolve_location(base, "  "), None);
        assert_eq!(resolve_location("not a url", "/x"), None);
    }
}
