//! Server-Sent Events transport over awc HTTP streaming.

use std::time::{Duration, Instant, SystemTime};

use actix::{AsyncContext, Context, StreamHandler};
use awc::{
    error::PayloadError,
    http::header::{HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER},
    Client,
};
use bytes::Bytes;
use futures::{stream::LocalBoxStream, StreamExt};

use super::{
    transport::{handshake_headers, request_error, Reader, Resume},
    ConnectionActor,
};
use crate::{
    config::EndpointConfig, failure::refused, retry_after::parse_retry_after, sse::SseParser,
    Error, ErrorCategory, Payload,
};

/// An open event stream.
pub(crate) struct Connected {
    body: LocalBoxStream<'static, Result<Bytes, PayloadError>>,
    /// The URL after redirects.
    url: String,
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

/// One attempt: GET with `Accept: text/event-stream`, following redirects,
/// bounded by `connect_timeout` per request (the body's idle bound is the
/// heartbeat timeout, enforced by the actor).
pub(crate) fn connect(
    client: Client,
    config: &EndpointConfig,
    resume: &Resume,
) -> impl std::future::Future<Output = Result<Connected, Error>> + 'static {
    let headers = handshake_headers(config);
    let mut url = resume.url.clone().unwrap_or_else(|| config.url.clone());
    let last_event_id = match HeaderValue::from_bytes(resume.last_event_id.as_bytes()) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => None,
    };
    let timeout = config.connect_timeout;
    let max_redirects = config.sse.max_redirects;
    async move {
        let headers = headers?;
        for _ in 0..=max_redirects {
            let mut request = client
                .get(url.as_str())
                .insert_header((ACCEPT, "text/event-stream"))
                .insert_header((CACHE_CONTROL, "no-cache"));
            for header in &headers {
                request = request.insert_header(header.clone());
            }
            if let Some(id) = &last_event_id {
                request = request.insert_header(("last-event-id", id.clone()));
            }
            let response = match actix_rt::time::timeout(timeout, request.send()).await {
                Err(_) => {
                    return Err(Error::timeout(format!(
                        "connect timed out after {timeout:?}"
                    )))
                }
                Ok(result) => result.map_err(request_error)?,
            };
            let status = response.status();
            let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
            match status.as_u16() {
                200 => {
                    let content_type = header(CONTENT_TYPE).unwrap_or("");
                    let essence = content_type.split(';').next().unwrap_or("").trim();
                    if !essence.eq_ignore_ascii_case("text/event-stream") {
                        return Err(Error::new(
                            ErrorCategory::Rejected,
                            format!(
                                "expected content type text/event-stream, got {content_type:?}"
                            ),
                        ));
                    }
                    return Ok(Connected {
                        body: response.boxed_local(),
                        url,
                    });
                }
                301 | 302 | 303 | 307 | 308 => {
                    url = header(LOCATION)
                        .and_then(|location| resolve_location(&url, location))
                        .ok_or_else(|| {
                            Error::new(
                                ErrorCategory::Rejected,
                                format!("redirect {status} without a usable location"),
                            )
                            .with_http_status(status.as_u16())
                        })?;
                }
                _ => {
                    let hint =
                        header(RETRY_AFTER).and_then(|v| parse_retry_after(v, SystemTime::now()));
                    return Err(refused(status.as_u16(), hint));
                }
            }
        }
        Err(Error::new(
            ErrorCategory::Rejected,
            format!("more than {max_redirects} redirects"),
        ))
    }
}

/// Wires the stream into the actor; remembers the final URL for reconnects.
pub(super) fn attach(
    conn: Connected,
    config: &EndpointConfig,
    resume: &mut Resume,
    ctx: &mut Context<ConnectionActor>,
) -> SseParser {
    resume.url = Some(conn.url);
    ctx.add_stream(conn.body.ready_chunks(config.max_batch));
    SseParser::resuming(config.sse.max_event_size, resume.last_event_id.clone())
}

/// One round trip to the endpoint's ping URL.
pub(crate) async fn measure_ping(
    client: Client,
    url: String,
    timeout: Duration,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let response = actix_rt::time::timeout(timeout, client.get(url.as_str()).send())
        .await
        .map_err(|_| Error::timeout("ping timed out"))?
        .map_err(request_error)?;
    if !response.status().is_success() {
        return Err(Error::new(
            ErrorCategory::Server,
            format!("ping answered {}", response.status()),
        ));
    }
    Ok(started.elapsed())
}

type Chunks = Vec<Result<Bytes, PayloadError>>;

impl StreamHandler<Chunks> for ConnectionActor {
    fn handle(&mut self, chunks: Chunks, ctx: &mut Context<Self>) {
        let now = Instant::now();
        self.inbound_alive(now);
        let Some(Reader::Sse(parser)) = self.link.as_mut().map(|l| &mut l.reader) else {
            return;
        };
        let liveness_only = &self.config.sse.liveness_events;
        let mut payloads = Vec::new();
        let mut failure = None;
        for chunk in chunks {
            let parsed = chunk
                .map_err(|e| Error::network(format!("read failed: {e}")))
                .and_then(|bytes| {
                    parser.push_each(bytes, |event| {
                        if liveness_only.is_empty()
                            || !liveness_only.iter().any(|t| *t == **event.event())
                        {
                            payloads.push(Payload::Event(event));
                        }
                    })
                });
            if let Err(error) = parsed {
                failure = Some(error);
                break;
            }
        }
        self.deliver(payloads, now, ctx);
        if let Some(error) = failure {
            self.connection_lost(error, ctx);
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.socket_finished(ctx);
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
