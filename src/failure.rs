//! What a failure leads to: one pure function over the error and the
//! endpoint's config, and the verdict type the close-code table shares.
//!
//! Every way a connection attempt or a live connection can end (a refused
//! HTTP status with its `Retry-After`, SSE's 204, a peer's close code, a
//! heartbeat timeout, an I/O error, a protocol fault, an authentication
//! refusal or timeout, a wrong content type) arrives here as an [`Error`];
//! [`verdict`] turns it into retry (how urgently, and at least how long
//! from now), fail, or stop. Nothing else in the crate decides it.

use crate::{
    config::{EndpointConfig, OnAuthFailure, ReconnectMode},
    verdict::{Urgency, Verdict},
    Error, ErrorCategory,
};

/// What the endpoint does after `error`, under its config.
///
/// The order of the rules:
/// 1. An error with a close code (the peer's, or the one a protocol error
///    we detect maps to) goes through the endpoint's close policy; SSE's
///    204 stops; everything else by its category (see [`ErrorCategory`]).
///    A TLS failure gets the endpoint's `on_tls_failure` (by default a
///    fault retry after at least 60 s; see [`ErrorCategory::Tls`]).
/// 2. An authentication refusal retries when `on_auth_failure` says so.
/// 3. The wait is raised to the server's `Retry-After` and to the floors
///    the urgency names (`try_again_later`, `protocol_fault_delay`).
/// 4. The reconnect mode turns retries into stop (after a clean close) or
///    fail (after any other failure).
pub(crate) fn verdict(error: &Error, config: &EndpointConfig) -> Verdict {
    use ErrorCategory::*;
    let mut verdict = match (error.close_code(), error.category()) {
        (Some(code), _) => config.close_policy.verdict(code),
        (None, ClosedByPeer) if error.http_status() == Some(204) => Verdict::Stop,
        (None, Network | Timeout | Heartbeat | Server | ClosedByPeer) => {
            Verdict::retry(Urgency::Backoff)
        }
        (None, Protocol) => Verdict::retry(Urgency::Fault),
        (None, Tls) => config.on_tls_failure,
        (None, Auth | Rejected | Exhausted | Endpoint | Config | Shutdown | Overflow) => {
            Verdict::Fail
        }
    };
    if error.category() == Auth
        && verdict == Verdict::Fail
        && config.on_auth_failure == OnAuthFailure::Retry
    {
        verdict = Verdict::retry(Urgency::Backoff);
    }
    verdict = verdict.at_least(error.retry_after());
    verdict = match verdict {
        Verdict::Retry {
            urgency: Urgency::Later,
            ..
        } => verdict.at_least(Some(config.try_again_later)),
        Verdict::Retry {
            urgency: Urgency::Fault,
            ..
        } => verdict.at_least(Some(config.protocol_fault_delay)),
        other => other,
    };
    match (verdict, config.reconnect) {
        (Verdict::Retry { .. }, ReconnectMode::OnFailure) if is_clean_close(error) => Verdict::Stop,
        (Verdict::Retry { .. }, ReconnectMode::Never) if is_clean_close(error) => Verdict::Stop,
        (Verdict::Retry { .. }, ReconnectMode::Never) => Verdict::Fail,
        (other, _) => other,
    }
}

/// A close the peer made on purpose, ending normally: close code 1000, or
/// an event stream that ended without an error.
fn is_clean_close(error: &Error) -> bool {
    error.category() == ErrorCategory::ClosedByPeer
        && matches!(error.close_code(), None | Some(1000))
        && error.http_status().is_none()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{ClosePolicy, EndpointBuilder};

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn config() -> EndpointBuilder {
        EndpointConfig::websocket("ws://h/")
            .protocol_fault_delay(S(30))
            .try_again_later(S(10))
    }

    fn retry(urgency: Urgency, secs: u64) -> Verdict {
        Verdict::Retry {
            urgency,
            min_wait: S(secs),
        }
    }

    fn closed(code: u16) -> Error {
        Error::new(crate::close::close_category(code), "peer closed").with_close_code(Some(code))
    }

    #[test]
    fn every_failure_has_one_verdict() {
        use ErrorCategory::*;
        let c = config().build().unwrap();
        let table: Vec<(Error, Verdict)> = vec![
            (Error::new(Network, "reset"), retry(Urgency::Backoff, 0)),
            (Error::new(Timeout, "connect"), retry(Urgency::Backoff, 0)),
            (Error::new(Heartbeat, "silent"), retry(Urgency::Backoff, 0)),
            (Error::new(Protocol, "bad frame"), retry(Urgency::Fault, 30)),
            (Error::new(Auth, "rejected"), Verdict::Fail),
            (Error::new(Config, "bad header"), Verdict::Fail),
            (Error::new(Tls, "unknown issuer"), retry(Urgency::Fault, 60)),
            (
                Error::new(Tls, "expired").with_retry_after(Some(S(90))),
                retry(Urgency::Fault, 90),
            ),
            (
                Error::new(ClosedByPeer, "stream ended"),
                retry(Urgency::Backoff, 0),
            ),
            (Error::refused(503, Some(S(7))), retry(Urgency::Backoff, 7)),
            (Error::refused(429, None), retry(Urgency::Backoff, 0)),
            (Error::refused(408, None), retry(Urgency::Backoff, 0)),
            (Error::refused(401, None), Verdict::Fail),
            (Error::refused(403, Some(S(5))), Verdict::Fail),
            (Error::refused(404, None), Verdict::Fail),
            (Error::refused(200, None), Verdict::Fail),
            (Error::refused(204, None), Verdict::Stop),
            (closed(1000), retry(Urgency::Prompt, 0)),
            (closed(1001), retry(Urgency::Prompt, 0)),
            (closed(1002), retry(Urgency::Fault, 30)),
            (closed(1005), retry(Urgency::Backoff, 0)),
            (closed(1006), retry(Urgency::Backoff, 0)),
            (closed(1007), retry(Urgency::Fault, 30)),
            (closed(1008), Verdict::Fail),
            (closed(1009), retry(Urgency::Fault, 30)),
            (closed(1011), retry(Urgency::Backoff, 0)),
            (closed(1013), retry(Urgency::Later, 10)),
            (closed(4000), retry(Urgency::Backoff, 0)),
        ];
        for (error, want) in table {
            assert_eq!(verdict(&error, &c), want, "{error}");
        }
    }

    #[test]
    fn a_category_and_its_verdict_agree() {
        // Rejected answers fail; Server answers retry: whatever the status.
        let c = config().build().unwrap();
        for status in [200, 301, 400, 404, 410, 426] {
            let error = Error::refused(status, None);
            assert_eq!(error.category(), ErrorCategory::Rejected, "{status}");
            assert_eq!(verdict(&error, &c), Verdict::Fail, "{status}");
        }
        for status in [429, 500, 502, 503] {
            let error = Error::refused(status, None);
            assert_eq!(error.category(), ErrorCategory::Server, "{status}");
            assert!(verdict(&error, &c).is_retry(), "{status}");
        }
    }

    #[test]
    fn auth_refusals_retry_when_configured() {
        let c = config()
            .on_auth_failure(OnAuthFailure::Retry)
            .build()
            .unwrap();
        assert_eq!(
            verdict(&Error::refused(401, None), &c),
            retry(Urgency::Backoff, 0)
        );
        assert_eq!(verdict(&closed(1008), &c), retry(Urgency::Backoff, 0));
    }

    #[test]
    fn tls_failures_follow_on_tls_failure() {
        let tls = Error::new(
            ErrorCategory::Tls,
            "invalid peer certificate: UnknownIssuer",
        );
        let fail = config().on_tls_failure(Verdict::Fail).build().unwrap();
        assert_eq!(verdict(&tls, &fail), Verdict::Fail);
        // A short wait is still raised to the fault floor.
        let short = config()
            .on_tls_failure(retry(Urgency::Fault, 1))
            .build()
            .unwrap();
        assert_eq!(verdict(&tls, &short), retry(Urgency::Fault, 30));
        let uncapped = config()
            .on_tls_failure(retry(Urgency::Backoff, 300))
            .build()
            .unwrap();
        assert_eq!(verdict(&tls, &uncapped), retry(Urgency::Backoff, 300));
        let never = config().reconnect(ReconnectMode::Never).build().unwrap();
        assert_eq!(verdict(&tls, &never), Verdict::Fail);
    }

    #[test]
    fn the_close_policy_overrides_the_table() {
        let policy = ClosePolicy::default()
            .with(4001, Verdict::Fail)
            .with(1000, Verdict::Stop)
            .with(4002, retry(Urgency::Backoff, 60));
        let c = config().close_policy(policy).build().unwrap();
        assert_eq!(verdict(&closed(4001), &c), Verdict::Fail);
        assert_eq!(verdict(&closed(1000), &c), Verdict::Stop);
        assert_eq!(verdict(&closed(4002), &c), retry(Urgency::Backoff, 60));
    }

    #[test]
    fn reconnect_mode_stops_after_clean_closes_and_fails_after_others() {
        let on_failure = config()
            .reconnect(ReconnectMode::OnFailure)
            .build()
            .unwrap();
        let never = config().reconnect(ReconnectMode::Never).build().unwrap();
        let stream_ended = Error::new(ErrorCategory::ClosedByPeer, "event stream ended");
        for clean in [closed(1000), stream_ended] {
            assert_eq!(verdict(&clean, &on_failure), Verdict::Stop, "{clean}");
            assert_eq!(verdict(&clean, &never), Verdict::Stop, "{clean}");
        }
        for failure in [
            closed(1001),
            closed(1011),
            Error::new(ErrorCategory::Network, "reset"),
        ] {
            assert!(verdict(&failure, &on_failure).is_retry(), "{failure}");
            assert_eq!(verdict(&failure, &never), Verdict::Fail, "{failure}");
        }
        assert_eq!(verdict(&Error::refused(204, None), &never), Verdict::Stop);
        assert_eq!(
            verdict(&Error::refused(404, None), &on_failure),
            Verdict::Fail
        );
    }

    #[test]
    fn verdicts_read_and_write_as_config() {
        let parsed: Vec<Verdict> = serde_json::from_str(
            r#"["fail", "stop", "backoff", "prompt", {"retry": "later", "min_wait": "2s"}]"#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                Verdict::Fail,
                Verdict::Stop,
                retry(Urgency::Backoff, 0),
                retry(Urgency::Prompt, 0),
                retry(Urgency::Later, 2),
            ]
        );
        let text = serde_json::to_string(&parsed).unwrap();
        let again: Vec<Verdict> = serde_json::from_str(&text).unwrap();
        assert_eq!(again, parsed);
        assert!(serde_json::from_str::<Verdict>(r#""sometimes""#).is_err());
    }
}
