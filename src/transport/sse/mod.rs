//! The Server-Sent Events transport: a GET (or the endpoint's method and
//! body) with `Accept: text/event-stream`, redirects followed, then an
//! [`SseSession`] that parses the body into events. The transport keeps
//! what the next attempt resumes from: the URL after redirects, the last
//! event id and the server's `retry:`.
//!
//! The HTTP/1.1 exchange is our own ([`crate::http1`]) over the stream
//! actix-tls's connector makes, so that every response framing works:
//! awc reads an HTTP/1.1 response without a length as having no body
//! (actix-web issue 2287), which loses close-delimited event streams.

mod redirect;
mod request;
mod session;

use std::{
    cell::RefCell,
    rc::Rc,
    sync::Arc,
    time::{Duration, SystemTime},
};

use actix_codec::Framed;
use awc::http::{
    header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, RETRY_AFTER},
    Method,
};
use bytes::Bytes;
use bytestring::ByteString;
use futures::{future::LocalBoxFuture, SinkExt as _, StreamExt as _};

use self::{
    redirect::{resolve_location, Remembered},
    request::Request,
    session::SseSession,
};
use super::{
    http::{header_pairs, http1_tls},
    socket::{io_error, Socket, Target},
    Attempt, Session, Transport,
};
use crate::{
    config::RequestBody,
    http1::{Part, ReadError, ResponseCodec, ResponseHead},
    retry_after::parse_retry_after,
    sse::SseParser,
    Error, ErrorCategory,
};

/// What a reconnect carries over from the previous connection.
#[derive(Default)]
struct Resume {
    /// The URL after redirects, used by later attempts.
    url: Option<String>,
    /// A redirect on the way there turned the request into a GET without
    /// a body: later attempts send that.
    as_get: bool,
    /// The last event id, sent as `Last-Event-ID`.
    last_event_id: ByteString,
    /// The reconnection time the server set with `retry:`.
    retry: Option<Duration>,
}

impl std::fmt::Debug for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume")
            .field("url", &self.url.as_deref().map(crate::redact::redact_url))
            .field("as_get", &self.as_get)
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
    /// Comment lines are delivered.
    pub(crate) comments: bool,
    /// Redirects followed per attempt.
    pub(crate) max_redirects: u8,
    /// The request method.
    pub(crate) method: Method,
    /// The request body, made for every attempt.
    pub(crate) body: Option<RequestBody>,
    /// The `Last-Event-ID` of the first request.
    pub(crate) last_event_id: Option<ByteString>,
}

/// Connects `http://` and `https://` event streams.
#[derive(Debug)]
pub(crate) struct SseTransport {
    settings: SseSettings,
    /// The endpoint's TLS config (ALPN `http/1.1`), made at the first
    /// attempt.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The endpoint's own TLS settings, if it has them.
    own_tls: Option<Arc<rustls::ClientConfig>>,
    /// Shared with the live session, which leaves its state here when dropped.
    resume: Rc<RefCell<Resume>>,
    /// A last event id that cannot be sent was logged (once per endpoint).
    warned_unsendable_id: bool,
}

impl SseTransport {
    pub(crate) fn new(settings: SseSettings, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let resume = Resume {
            last_event_id: settings.last_event_id.clone().unwrap_or_default(),
            ..Resume::default()
        };
        Self {
            settings,
            tls: None,
            own_tls: tls,
            resume: Rc::new(RefCell::new(resume)),
            warned_unsendable_id: false,
        }
    }

    /// The `Last-Event-ID` to send, if any. `build()` checks the initial
    /// id, but a stream's id may hold what a header cannot (a control
    /// character): the request goes without one, and a warning says so
    /// the first time.
    fn last_event_id(&mut self) -> Option<HeaderValue> {
        let resume = self.resume.borrow();
        match HeaderValue::from_bytes(resume.last_event_id.as_bytes()) {
            Ok(value) => (!value.is_empty()).then_some(value),
            Err(_) => {
                if !std::mem::replace(&mut self.warned_unsendable_id, true) {
                    tracing::warn!(
                        "the stream's last event id holds a character a header cannot: \
                         reconnecting without Last-Event-ID"
                    );
                }
                None
            }
        }
    }
}

impl Transport for SseTransport {
    /// One attempt: the endpoint's method (GET unless set) with `Accept:
    /// text/event-stream` and a freshly made body, following redirects
    /// (the lifecycle bounds the whole attempt; the body's idle bound is
    /// the heartbeat timeout).
    fn connect(
        &mut self,
        attempt: &Attempt,
    ) -> LocalBoxFuture<'static, Result<Box<dyn Session>, Error>> {
        let tls = self
            .tls
            .get_or_insert_with(|| http1_tls(self.own_tls.as_ref()))
            .clone();
        let headers = header_pairs(attempt.headers());
        // The endpoint's headers (credentials among them) go to its own
        // origin only, never to another one a redirect points at.
        let home = crate::url::origin(attempt.url());
        let last_event_id = self.last_event_id();
        let (mut url, mut request, mut remembered) = {
            let resume = self.resume.borrow();
            let url = resume
                .url
                .clone()
                .unwrap_or_else(|| attempt.url().to_owned());
            let request = match resume.as_get {
                true => Ok(Request::get()),
                false => Request::configured(&self.settings),
            };
            let remembered = Remembered::new(url.clone(), resume.as_get);
            (url, request, remembered)
        };
        let settings = self.settings.clone();
        let resume = self.resume.clone();
        Box::pin(async move {
            let headers = headers?;
            let max_redirects = settings.max_redirects;
            for _ in 0..=max_redirects {
                let current = request.as_ref().map_err(Clone::clone)?;
                let target = Target::parse(&url)?;
                let own = if home.is_some() && crate::url::origin(&url) == home {
                    &headers[..]
                } else {
                    if !headers.is_empty() {
                        tracing::debug!(
                            "redirected to another origin: the endpoint's headers stay home"
                        );
                    }
                    &[]
                };
                let bytes = current.encode(&target, own, last_event_id.as_ref())?;
                let (head, body) = exchange(&target, bytes, &tls).await?;
                match answer(&head, &url)? {
                    Answer::Stream => {
                        let last_event_id = {
                            let mut resume = resume.borrow_mut();
                            resume.url = Some(remembered.url);
                            resume.as_get = remembered.as_get;
                            resume.last_event_id.clone()
                        };
                        let session = SseSession::new(
                            body,
                            SseParser::resuming(settings.max_event_size, last_event_id)
                                .keep_comments(settings.comments),
                            settings.liveness_events,
                            resume,
                        );
                        return Ok(Box::new(session) as Box<dyn Session>);
                    }
                    Answer::Redirect { to, status } => {
                        if !current.survives(status) {
                            request = Ok(Request::get());
                        }
                        let as_get = request.as_ref().is_ok_and(Request::is_plain_get);
                        remembered.redirected(status, &to, as_get);
                        url = to;
                    }
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

/// An event stream's response body, read through our HTTP/1.1 codec.
type Body = Framed<Socket, ResponseCodec>;

/// Connects to `target`, sends `request` and reads the response head.
async fn exchange(
    target: &Target,
    request: Bytes,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(ResponseHead, Body), Error> {
    let socket = target.connect(|| tls.clone()).await?;
    let mut body = Framed::new(socket, ResponseCodec::default());
    body.send(request).await.map_err(|err| match err {
        ReadError::Io(io) => io_error("request failed", &io),
        other => read_error(other),
    })?;
    match body.next().await {
        Some(Ok(Part::Head(head))) => Ok((head, body)),
        Some(Err(err)) => Err(read_error(err)),
        Some(Ok(_)) | None => Err(read_error(ReadError::Truncated("before a response"))),
    }
}

/// Our owned, categorised error for a failed read: broken framing is a
/// protocol fault, a connection that ended early or failed a network one
/// (a TLS one only when the server refused our client certificate).
fn read_error(err: ReadError) -> Error {
    match err {
        ReadError::Framing(_) => Error::protocol(err.to_string()),
        ReadError::Truncated(_) => Error::network(err.to_string()),
        ReadError::Io(io) => io_error("read failed", &io),
    }
}

/// What a response to the event-stream request says.
enum Answer {
    /// The stream: its body follows.
    Stream,
    /// Go to this URL, as the redirect status says.
    Redirect { to: String, status: u16 },
}

/// Reads the answer to a request for `url`: a 200 event stream, a
/// redirect, or a categorised refusal.
fn answer(head: &ResponseHead, url: &str) -> Result<Answer, Error> {
    let status = head.status;
    match status {
        200 => {
            let content_type = head.header(CONTENT_TYPE).unwrap_or("");
            let essence = content_type.split(';').next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("text/event-stream") {
                return Err(Error::new(
                    ErrorCategory::Rejected,
                    format!("expected content type text/event-stream, got {content_type:?}"),
                ));
            }
            if let Some(codings) = content_codings(head) {
                return Err(Error::protocol(format!(
                    "unsupported content coding {codings}: the request asks for identity"
                )));
            }
            Ok(Answer::Stream)
        }
        301 | 302 | 303 | 307 | 308 => head
            .header(LOCATION)
            .and_then(|location| resolve_location(url, location))
            .map(|to| Answer::Redirect { to, status })
            .ok_or_else(|| {
                Error::new(
                    ErrorCategory::Rejected,
                    format!("redirect {status} without a usable location"),
                )
                .with_http_status(status)
            }),
        _ => {
            let hint = head
                .header(RETRY_AFTER)
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            Err(Error::refused(status, hint))
        }
    }
}

/// The content codings of a response other than `identity`, comma
/// separated, if it has any: the event parser must never see coded bytes.
fn content_codings(head: &ResponseHead) -> Option<String> {
    let codings: Vec<String> = head
        .headers
        .get_all(CONTENT_ENCODING)
        .flat_map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(',')
                .map(|coding| coding.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
        .collect();
    (!codings.is_empty()).then(|| codings.join(", "))
}

#[cfg(test)]
mod tests;
