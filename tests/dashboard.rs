//! A real headless Chromium loads the dashboard: every endpoint shows up,
//! and a server going down and coming back shows on the page (state and
//! colour) without a reload, and the page's own event stream coming back
//! after the app restarts; an endpoint id that is markup shows as text and
//! never runs. Screenshots land in `target/dashboard.png`
//! (all connected again) and `target/dashboard-degraded.png` (one down).
//! Needs the Debian package `chromium` (.ci/run installs it).

mod common;

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use actix_tether::{web::WebConfig, ConnectionState};
use awc::ws;
use base64::Engine as _;
use common::{ops_app::*, *};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};

/// Bound for the browser to start and for the page to show a change.
const PAGE_WAIT: Duration = Duration::from_secs(30);

/// An endpoint id that is markup: the page must show it as text.
const HOSTILE: &str = "<img src=x onerror=\"window.pwned=1\">";

/// What the page shows of one endpoint.
#[derive(Debug, Clone, serde::Deserialize)]
struct Row {
    id: String,
    state: Option<String>,
    band: Option<String>,
    /// The state badge's classes (its colour).
    colour: String,
    /// The score badge's classes (its band's colour).
    score_colour: String,
    reconnects: String,
    /// The last error cell's text.
    error: String,
    /// Points in its latency sparkline.
    points: usize,
}

/// A Chromium DevTools session on one page.
struct Browser {
    process: KillOnDrop,
    ws: actix_codec::Framed<awc::BoxedSocket, ws::Codec>,
    next_id: u64,
}

impl Browser {
    async fn start() -> Self {
        let binary = require("chromium", "chromium");
        let dir = temp_dir("tether-chromium");
        let profile = dir.join("profile");
        let mut command = Command::new(binary);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "--window-size=1280,640",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null());
        let mut process = KillOnDrop::spawn(&mut command, &dir);
        // Chromium writes the port it chose to DevToolsActivePort.
        let deadline = Instant::now() + PAGE_WAIT;
        let port = loop {
            process.assert_running("chromium");
            let file =
                std::fs::read_to_string(profile.join("DevToolsActivePort")).unwrap_or_default();
            if let Some(port) = file
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<u16>().ok())
            {
                break port;
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port; it said:\n{}",
                process.log()
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        };
        let page = loop {
            let (_, list) = http_get(&format!("http://127.0.0.1:{port}/json/list"), &[]).await;
            let targets: Vec<Value> = serde_json::from_str(&list).unwrap_or_default();
            if let Some(url) = targets
                .iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            {
                break url.to_owned();
            }
            assert!(Instant::now() < deadline, "chromium has no page: {list}");
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        };
        let (_, ws) = awc::Client::new()
            .ws(page)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .expect("connect to chromium's DevTools");
        Self {
            process,
            ws,
            next_id: 0,
        }
    }

    /// Calls a DevTools method and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws
            .send(ws::Message::Text(request.into()))
            .await
            .expect("send to DevTools");
        let answer = actix_rt::time::timeout(PAGE_WAIT, async {
            while let Some(frame) = self.ws.next().await {
                match frame.expect("a DevTools frame") {
                    ws::Frame::Text(text) => {
                        let v: Value = serde_json::from_slice(&text).expect("DevTools JSON");
                        if v["id"] == id {
                            return v;
                        }
                    }
                    ws::Frame::Ping(p) => {
                        let _ = self.ws.send(ws::Message::Pong(p)).await;
                    }
                    _ => {}
                }
            }
            panic!("DevTools closed the connection");
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method}"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Evaluates `expression` in the page; its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// The endpoints table as the page shows it.
    async fn rows(&mut self) -> Vec<Row> {
        let value = self
            .eval(
                "JSON.stringify([...document.querySelectorAll('#rows tr')].map(tr => ({\
                   id: tr.dataset.endpoint, state: tr.dataset.state || null, \
                   band: tr.dataset.band || null, \
                   colour: tr.querySelectorAll('.badge')[0].className, \
                   score_colour: tr.querySelectorAll('.badge')[1].className, \
                   reconnects: tr.children[6].textContent, \
                   error: tr.children[7].textContent, \
                   points: (tr.querySelector('polyline')?.getAttribute('points') || '')\
                     .split(' ').filter(Boolean).length })))",
            )
            .await;
        serde_json::from_str(value.as_str().unwrap_or("[]")).unwrap_or_default()
    }

    /// Waits until the table satisfies `check`; panics with what it showed.
    async fn wait_for(&mut self, what: &str, check: impl Fn(&[Row]) -> bool) -> Vec<Row> {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            self.process.assert_running("chromium");
            let rows = self.rows().await;
            if check(&rows) {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not show {what}; it shows {rows:#?}"
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's live indicator is `want` ("1" or "0").
    async fn wait_live(&mut self, want: &str) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let live = self.eval("document.body.dataset.live").await;
            if live == json!(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page's stream indicator stayed {live}, not {want}"
            );
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the page under the target directory.
    async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        // CARGO_TARGET_TMPDIR is target/tmp: save beside it, in target/.
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let path = tmp.parent().unwrap_or(&tmp).join(name);
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

fn row<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id)
}

fn is_up(row: Option<&Row>) -> bool {
    row.is_some_and(|r| {
        r.state.as_deref() == Some("connected")
            && r.colour.contains("green")
            && r.band.as_deref() == Some("green")
            && r.score_colour.contains("green")
    })
}

#[actix::test]
async fn the_dashboard_shows_every_endpoint_and_a_restart_without_reload() {
    let ids = ["alpha", "beta", "gamma"];
    let mut servers = Vec::new();
    let supervisor = supervisor();
    let mut events = Events::start();
    events.subscribe_all(&supervisor).await;
    for id in ids {
        let server = TestServer::start().await;
        add(&supervisor, id, fast(&server.url()).build().unwrap()).await;
        servers.push(server);
    }
    events
        .count_state(ConnectionState::Connected, ids.len())
        .await;
    // An id that is markup, on a closed port (so it has an error to show
    // too): the page must show it as text, never run it.
    let hostile = fast(&format!("ws://127.0.0.1:{}/", closed_port()))
        .build()
        .unwrap();
    add(&supervisor, HOSTILE, hostile).await;
    let config = WebConfig::default().report_interval(Duration::from_millis(300));
    let app = OpsApp::start(supervisor.clone(), config);

    let mut browser = Browser::start().await;
    browser.call("Page.enable", json!({})).await;
    browser
        .call("Page.navigate", json!({ "url": app.url("/dashboard") }))
        .await;
    browser
        .wait_for("every endpoint connected and green", |rows| {
            rows.len() == ids.len() + 1 && ids.iter().all(|id| is_up(row(rows, id)))
        })
        .await;
    browser
        .wait_for("the hostile id's row with its error", |rows| {
            row(rows, HOSTILE).is_some_and(|r| !r.error.is_empty())
        })
        .await;
    assert_eq!(
        browser
            .eval(
                "[typeof window.pwned, document.querySelectorAll('#rows img').length, \
                  document.getElementById('rows').textContent.includes('<img src=x')]"
            )
            .await,
        json!(["undefined", 0, true]),
        "the endpoint's id was parsed as markup"
    );
    // A mark that a reload would wipe.
    browser.eval("window.tetherMark = 42").await;

    // beta's server goes away: the page shows it down, in another colour.
    servers[1].stop().await;
    let down = browser
        .wait_for("beta down and no longer green", |rows| {
            row(rows, "beta").is_some_and(|r| {
                r.state.as_deref() != Some("connected")
                    && !r.colour.contains("green")
                    && r.band.as_deref() != Some("green")
                    && r.band
                        .as_deref()
                        .is_some_and(|b| r.score_colour.contains(b))
            }) && is_up(row(rows, "alpha"))
        })
        .await;
    eprintln!("beta down: {:?}", row(&down, "beta"));
    let shot = browser.screenshot("dashboard-degraded.png").await;
    eprintln!("screenshot: {}", shot.display());

    // It comes back: connected and green again, one reconnect counted.
    servers[1].restart().await;
    browser
        .wait_for("beta connected and green again", |rows| {
            is_up(row(rows, "beta")) && row(rows, "beta").is_some_and(|r| r.reconnects == "1")
        })
        .await;
    // Every row draws its latency sparkline from the live reports.
    browser
        .wait_for("a latency sparkline on every connected row", |rows| {
            ids.iter()
                .all(|id| row(rows, id).is_some_and(|r| r.points >= 3))
        })
        .await;
    assert_eq!(
        browser.eval("window.tetherMark").await,
        json!(42),
        "the page reloaded"
    );
    assert_eq!(browser.eval("document.body.dataset.live").await, json!("1"));
    let shot = browser.screenshot("dashboard.png").await;
    eprintln!("screenshot: {}", shot.display());

    // The page's own stream drops (the app restarts): it says so, comes
    // back by itself, and shows what changed meanwhile.
    let port = app.port;
    app.stop().await;
    browser.wait_live("0").await;
    servers[2].stop().await;
    let config = WebConfig::default().report_interval(Duration::from_millis(300));
    let _app = OpsApp::start_on(port, supervisor.clone(), config);
    browser.wait_live("1").await;
    browser
        .wait_for("gamma down after the stream came back", |rows| {
            row(rows, "gamma").is_some_and(|r| r.state.as_deref() != Some("connected"))
        })
        .await;
    assert_eq!(
        browser.eval("window.tetherMark").await,
        json!(42),
        "the page reloaded"
    );
}
