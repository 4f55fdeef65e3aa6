//! Recovers `Retry-After` from refused WebSocket handshakes.
//!
//! awc turns a non-101 handshake answer into `InvalidResponseStatus(status)`
//! and drops the headers. This client middleware sees the tunnel response
//! first and records the hint per request URI on the (single) arbiter thread,
//! where the connection actor picks it up right after the refusal.

use std::{
    cell::RefCell,
    collections::HashMap,
    rc::Rc,
    time::{Duration, SystemTime},
};

use actix_service::Service;
use awc::{
    error::SendRequestError,
    http::{header::RETRY_AFTER, StatusCode},
    middleware::Transform,
    ConnectRequest, ConnectResponse,
};
use futures::future::LocalBoxFuture;

use crate::retry_after::parse_retry_after;

/// Hints awaiting pickup; bounded because each refusal's hint is taken by
/// the attempt that caused it.
const MAX_PENDING_HINTS: usize = 1024;

thread_local! {
    static HINTS: RefCell<HashMap<String, Duration>> = RefCell::new(HashMap::new());
}

/// Takes the hint recorded for `uri` by the last refused handshake, if any.
pub(super) fn take_hint(uri: &str) -> Option<Duration> {
    let key = uri.parse::<awc::http::Uri>().ok()?.to_string();
    HINTS.with(|hints| hints.borrow_mut().remove(&key))
}

fn record(uri: String, hint: Duration) {
    HINTS.with(|hints| {
        let mut hints = hints.borrow_mut();
        if hints.len() >= MAX_PENDING_HINTS {
            hints.clear();
        }
        hints.insert(uri, hint);
    });
}

/// The middleware; install with `ClientBuilder::wrap`.
pub(super) struct RetryAfterProbe;

impl<S> Transform<S, ConnectRequest> for RetryAfterProbe
where
    S: Service<ConnectRequest, Response = ConnectResponse, Error = SendRequestError> + 'static,
{
    type Transform = RetryAfterService<S>;

    fn new_transform(self, service: S) -> Self::Transform {
        RetryAfterService {
            inner: Rc::new(service),
        }
    }
}

pub(super) struct RetryAfterService<S> {
    inner: Rc<S>,
}

impl<S> Service<ConnectRequest> for RetryAfterService<S>
where
    S: Service<ConnectRequest, Response = ConnectResponse, Error = SendRequestError> + 'static,
{
    type Response = ConnectResponse;
    type Error = SendRequestError;
    type Future = LocalBoxFuture<'static, Result<ConnectResponse, SendRequestError>>;

    actix_service::forward_ready!(inner);

    fn call(&self, req: ConnectRequest) -> Self::Future {
        let uri = match &req {
            ConnectRequest::Tunnel(head, _) => Some(head.uri.to_string()),
            ConnectRequest::Client(..) => None,
        };
        let service = Rc::clone(&self.inner);
        Box::pin(async move {
            let response = service.call(req).await?;
            if let (Some(uri), ConnectResponse::Tunnel(head, _)) = (uri, &response) {
                let hint = (head.status != StatusCode::SWITCHING_PROTOCOLS)
                    .then(|| head.headers.get(RETRY_AFTER)?.to_str().ok())
                    .flatten()
                    .and_then(|value| parse_retry_after(value, SystemTime::now()));
                if let Some(hint) = hint {
                    record(uri, hint);
                }
            }
            Ok(response)
        })
    }
}
