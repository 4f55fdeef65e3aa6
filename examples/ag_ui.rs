//! An ag-ui style run: POST a JSON run input to an agent server, read the
//! answer as a stream of typed events, and stop when the server ends the
//! run. The agent server is in-process (127.0.0.1, an ephemeral port).
//!
//! ```text
//! cargo run --example ag_ui
//! ```
//!
//! The endpoint POSTs its body on every attempt (a reconnect would send a
//! fresh one); with `ReconnectMode::OnFailure` a stream the server ends
//! cleanly closes the endpoint instead of starting the run again.

use std::time::Duration;

use actix::prelude::*;
use actix_tether::{
    AddEndpoint, ConnectionState, EndpointConfig, MessageReceived, ReconnectMode, StatusChanged,
    Subscribe, SupervisorActor,
};
use actix_web::{web, App, HttpResponse, HttpServer};
use bytes::Bytes;
use futures::stream;
use serde::Deserialize;
use tokio::sync::oneshot;

/// The ag-ui events this client acts on; the rest are `Other`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
enum AgUiEvent {
    #[serde(rename_all = "camelCase")]
    RunStarted {
        run_id: String,
    },
    #[serde(rename_all = "camelCase")]
    TextMessageContent {
        delta: String,
    },
    #[serde(rename_all = "camelCase")]
    RunFinished {
        run_id: String,
    },
    RunError {
        message: String,
    },
    #[serde(other)]
    Other,
}

/// The agent: answers a run input with an event stream that echoes the
/// last user message word by word, then finishes the run.
async fn run(input: web::Json<serde_json::Value>) -> HttpResponse {
    let run_id = input["runId"].as_str().unwrap_or("run").to_owned();
    let text = input["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|message| message["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let mut events = vec![
        serde_json::json!({"type": "RUN_STARTED", "threadId": input["threadId"], "runId": run_id}),
        serde_json::json!({"type": "TEXT_MESSAGE_START", "messageId": "m2", "role": "assistant"}),
    ];
    for word in text.split_inclusive(' ') {
        events.push(
            serde_json::json!({"type": "TEXT_MESSAGE_CONTENT", "messageId": "m2", "delta": word}),
        );
    }
    events.push(serde_json::json!({"type": "TEXT_MESSAGE_END", "messageId": "m2"}));
    events.push(serde_json::json!({"type": "RUN_FINISHED", "runId": run_id}));
    let frames = events
        .into_iter()
        .map(|event| Ok::<_, actix_web::Error>(Bytes::from(format!("data: {event}\n\n"))));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream::iter(frames))
}

/// Prints the run's events; reports when the endpoint closes.
struct Printer {
    closed: Option<oneshot::Sender<()>>,
}

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<MessageReceived> for Printer {
    type Result = ();
    fn handle(&mut self, msg: MessageReceived, _: &mut Context<Self>) {
        let Some(event) = msg.payload.as_event() else {
            return;
        };
        match serde_json::from_str::<AgUiEvent>(event.data()) {
            Ok(AgUiEvent::RunStarted { run_id }) => println!("run {run_id} started"),
            Ok(AgUiEvent::TextMessageContent { delta }) => println!("  delta {delta:?}"),
            Ok(AgUiEvent::RunFinished { run_id }) => println!("run {run_id} finished"),
            Ok(AgUiEvent::RunError { message }) => println!("run failed: {message}"),
            Ok(AgUiEvent::Other) => println!("  ({})", event.data()),
            Err(err) => println!("not an ag-ui event: {err}"),
        }
    }
}

impl Handler<StatusChanged> for Printer {
    type Result = ();
    fn handle(&mut self, change: StatusChanged, _: &mut Context<Self>) {
        println!("[{} -> {}]", change.from, change.to);
        if change.to == ConnectionState::Closed {
            if let Some(closed) = self.closed.take() {
                let _ = closed.send(());
            }
        }
    }
}

#[actix::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = HttpServer::new(|| App::new().route("/awp", web::post().to(run)))
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
    let url = format!("http://127.0.0.1:{}/awp", server.addrs()[0].port());
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);

    let supervisor = SupervisorActor::default().start();
    let (closed, on_closed) = oneshot::channel();
    let printer = Printer {
        closed: Some(closed),
    }
    .start();
    // Every endpoint's (there is one), subscribed before it exists.
    supervisor
        .send(Subscribe::messages(printer.clone().recipient()))
        .await??;
    supervisor
        .send(Subscribe::status(printer.recipient()))
        .await??;
    let config = EndpointConfig::sse(url)
        .method("POST")
        .json_body(|| {
            serde_json::json!({
                "threadId": "thread-1",
                "runId": "run-1",
                "state": {},
                "messages": [{"id": "m1", "role": "user", "content": "hello from actix-tether"}],
                "tools": [],
                "context": [],
                "forwardedProps": {}
            })
        })
        .reconnect(ReconnectMode::OnFailure)
        .build()?;
    supervisor.send(AddEndpoint::new("agent", config)).await??;
    actix_rt::time::timeout(Duration::from_secs(10), on_closed).await??;
    supervisor.send(actix_tether::Shutdown).await?;
    handle.stop(true).await;
    Ok(())
}
