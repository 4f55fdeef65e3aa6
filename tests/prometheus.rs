//! A real Prometheus server scrapes the operations scope's `/metrics`, and
//! its HTTP API shows the series with the right values; a removed
//! endpoint's series go stale; `promtool check metrics` passes on the
//! exposition. Needs the Debian package `prometheus` (.ci/run installs it).

mod common;

use std::{
    io::Write as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use actix_tether::{web::WebConfig, ConnectionState, ErrorCategory, RemoveEndpoint};
use common::{ops_app::*, *};
use serde_json::Value;

/// Bound for Prometheus to start and scrape (it scrapes every second).
const SCRAPE_WAIT: Duration = Duration::from_secs(60);

struct Prometheus {
    process: KillOnDrop,
    port: u16,
}

impl Prometheus {
    fn start(target_port: u16) -> Self {
        let binary = require("prometheus", "prometheus");
        let dir = temp_dir("tether-prometheus");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: tether\n    metrics_path: {SCOPE}/metrics\n\
             \x20   static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null());
        let process = KillOnDrop::spawn(&mut command, &dir);
        Self { process, port }
    }

    /// The result vector of an instant query, or `None` while Prometheus
    /// does not answer yet.
    async fn query(&self, query: &str) -> Option<Vec<Value>> {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(5))
            .finish();
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let mut response = client
            .get(url)
            .query(&[("query", query)])
            .ok()?
            .send()
            .await
            .ok()?;
        let body: Value = response.json().limit(1 << 20).await.ok()?;
        assert_eq!(body["status"], "success", "query {query}: {body}");
        body["data"]["result"].as_array().cloned()
    }

    /// Polls `query` until `check` holds on its result, or panics.
    async fn wait_until(&mut self, query: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + SCRAPE_WAIT;
        let mut last = None;
        loop {
            self.process.assert_running("prometheus");
            if let Some(result) = self.query(query).await {
                if check(&result) {
                    return result;
                }
                last = Some(result);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting on `{query}`; last result {last:?}; prometheus said:\n{}",
                self.process.log()
            );
            actix_rt::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The value of a query that selects exactly one series.
    async fn value(&mut self, query: &str) -> f64 {
        let result = self.wait_until(query, |r| r.len() == 1).await;
        let value = result[0]["value"][1].as_str().expect("a sample value");
        value.parse().expect("a number")
    }
}

#[actix::test]
async fn prometheus_scrapes_every_series_and_drops_a_removed_endpoint() {
    let promtool = require("promtool", "prometheus");
    let server = TestServer::start().await;
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    let alpha = fast(&server.url()).tag("region", "eu").build().unwrap();
    add(&supervisor, "alpha", alpha).await;
    let secret_url = format!(
        "ws://user:hunter2@127.0.0.1:{}/ws?token=s3cret",
        closed_port()
    );
    add(&supervisor, "beta", fast(&secret_url).build().unwrap()).await;
    loop {
        let e = events.next_status().await;
        if e.endpoint.as_str() == "alpha" && e.to == ConnectionState::Connected {
            break;
        }
    }
    for i in 0..3 {
        let payload = actix_tether::Payload::text(format!("hello {i}"));
        let send = actix_tether::SendPayload::new("alpha", payload);
        supervisor.send(send).await.unwrap().unwrap();
    }
    supervisor
        .send(actix_tether::AddGroup::listed("market", ["alpha"]))
        .await
        .unwrap()
        .unwrap();
    // The monitor has the figures once the connections flushed them.
    let snapshot = wait_for_snapshot(&supervisor, WAIT, "flushed figures", |s| {
        let (Some(a), Some(b)) = (
            s.endpoints.iter().find(|e| e.id().as_str() == "alpha"),
            s.endpoints.iter().find(|e| e.id().as_str() == "beta"),
        ) else {
            return false;
        };
        a.health.traffic.messages_out >= 3
            && a.health.heartbeats.acknowledged >= 1
            && b.health.connects.failures >= 1
    })
    .await;
    let alpha_sent = snapshot.endpoints[0].health.traffic.messages_out;

    let app = OpsApp::start(supervisor.clone(), WebConfig::default());

    // The exposition: classic text passes promtool, OpenMetrics ends in EOF,
    // and neither holds a secret of beta's URL.
    let (status, text) = app.get("/metrics", &[]).await;
    assert_eq!(status, 200);
    let (status, open) = app
        .get(
            "/metrics",
            &[("accept", "application/openmetrics-text; version=1.0.0")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(open.ends_with("# EOF\n"), "{open}");
    for body in [&text, &open] {
        assert!(
            !body.contains("hunter2") && !body.contains("s3cret"),
            "{body}"
        );
    }
    assert!(text.contains("actix_tether_rtt_seconds_bucket{"), "{text}");
    assert!(
        text.contains("# TYPE actix_tether_connect_attempts_total counter"),
        "{text}"
    );
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\non:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes it.
    let mut prometheus = Prometheus::start(app.port);
    prometheus
        .wait_until(r#"up{job="tether"}"#, |r| {
            r.len() == 1 && r[0]["value"][1] == "1"
        })
        .await;
    let q = |s: &str| s.to_owned();
    assert_eq!(prometheus.value(&q("actix_tether_endpoints")).await, 2.0);
    assert_eq!(
        prometheus
            .value(r#"actix_tether_endpoint_state{endpoint="alpha",state="connected",transport="websocket"}"#)
            .await,
        1.0
    );
    assert_eq!(
        prometheus
            .value(r#"actix_tether_endpoint_state{endpoint="beta",state="connected"}"#)
            .await,
        0.0
    );
    assert_eq!(
        prometheus
            .value(r#"actix_tether_messages_sent_total{endpoint="alpha"}"#)
            .await,
        f64::from(u32::try_from(alpha_sent).unwrap())
    );
    assert!(
        prometheus
            .value(r#"actix_tether_connect_failures_total{endpoint="beta"}"#)
            .await
            >= 1.0
    );
    let network = ErrorCategory::Network.name();
    assert!(
        prometheus
            .value(&format!(
                r#"actix_tether_errors_total{{endpoint="beta",category="{network}"}}"#
            ))
            .await
            >= 1.0
    );
    assert!(
        prometheus
            .value(r#"actix_tether_heartbeats_acknowledged_total{endpoint="alpha"}"#)
            .await
            >= 1.0
    );
    assert!(
        prometheus
            .value(r#"actix_tether_rtt_seconds_count{endpoint="alpha"}"#)
            .await
            >= 1.0
    );
    // Every RTT on loopback is under a second.
    let under_a_second = prometheus
        .value(r#"actix_tether_rtt_seconds_count{endpoint="alpha"} - ignoring(le) actix_tether_rtt_seconds_bucket{endpoint="alpha",le=~"1|1.0"}"#)
        .await;
    assert_eq!(under_a_second, 0.0);
    assert_eq!(
        prometheus
            .value(r#"actix_tether_endpoint_tag{endpoint="alpha",tag="region",value="eu"}"#)
            .await,
        1.0
    );
    // Group membership: a label on the endpoint's series, and the group's
    // own gauges.
    assert_eq!(
        prometheus
            .value(r#"actix_tether_endpoint_up{endpoint="alpha",group="market"}"#)
            .await,
        1.0
    );
    assert_eq!(
        prometheus
            .value(r#"actix_tether_group_members_up{group="market"}"#)
            .await,
        1.0
    );
    let score = prometheus
        .value(r#"actix_tether_endpoint_health_score{endpoint="alpha"}"#)
        .await;
    assert!((80.0..=100.0).contains(&score), "alpha's score {score}");

    // Removing beta drops its series: Prometheus marks them stale.
    supervisor
        .send(RemoveEndpoint::new("beta"))
        .await
        .unwrap()
        .unwrap();
    prometheus
        .wait_until(
            r#"actix_tether_endpoint_up{endpoint="beta"}"#,
            <[Value]>::is_empty,
        )
        .await;
    assert_eq!(prometheus.value("actix_tether_endpoints").await, 1.0);
    let (_, text) = app.get("/metrics", &[]).await;
    assert!(!text.contains(r#"endpoint="beta""#), "{text}");
}
