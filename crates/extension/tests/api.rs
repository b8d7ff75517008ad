//! The client against a scripted fake of the Extensions and Telemetry APIs: what goes on the
//! wire (paths, headers, bodies) and what the event loop does with the answers. The real
//! platform side is exercised by `grace serve` in `crates/cli/tests/it/extension_client.rs`.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lambda_grace_extension::{
    Error, Extension, NextEvent, ShutdownOutcome, Telemetry, TelemetryType,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// Bodies answered to `/event/next`, in order; when empty, the call never returns.
    events: VecDeque<String>,
}

/// The fake platform.
#[derive(Clone)]
struct Fake {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Fake {
    async fn start(events: Vec<Value>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Fake {
            addr: listener.local_addr().unwrap(),
            state: Arc::new(Mutex::new(State {
                seen: Vec::new(),
                events: events.iter().map(Value::to_string).collect(),
            })),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| server.clone().answer(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        fake
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    async fn answer(self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let seen = Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        self.state.lock().unwrap().seen.push(seen.clone());
        let reply = |status: u16, body: String| {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
            r
        };
        Ok(match (seen.method.as_str(), seen.path.as_str()) {
            ("POST", "/2020-01-01/extension/register") => {
                if seen.header("lambda-extension-name") == Some("refused") {
                    return Ok(reply(403, error("Extension.InvalidExtensionState")));
                }
                let mut body = json!({"functionName": "fn", "functionVersion": "$LATEST", "handler": "app.handler"});
                if seen.header("lambda-extension-accept-feature") == Some("accountId") {
                    body["accountId"] = "123456789012".into();
                }
                let mut r = reply(200, body.to_string());
                r.headers_mut()
                    .insert("lambda-extension-identifier", "ext-id-1".parse().unwrap());
                r
            }
            ("GET", "/2020-01-01/extension/event/next") => {
                let next = self.state.lock().unwrap().events.pop_front();
                match next {
                    Some(event) => reply(200, event),
                    None => std::future::pending().await,
                }
            }
            ("PUT", "/2022-07-01/telemetry") => reply(200, "\"OK\"".into()),
            ("POST", "/2020-01-01/extension/init/error" | "/2020-01-01/extension/exit/error") => {
                reply(202, r#"{"status":"OK"}"#.into())
            }
            _ => reply(404, error("NotFound")),
        })
    }
}

fn error(kind: &str) -> String {
    json!({"errorType": kind, "errorMessage": "refused"}).to_string()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn invoke(id: &str) -> Value {
    json!({"eventType": "INVOKE", "deadlineMs": now_ms() + 3000, "requestId": id,
           "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:fn"})
}

fn shutdown(in_ms: u64) -> Value {
    json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": now_ms() + in_ms})
}

#[tokio::test]
async fn registration_sends_the_name_the_events_and_the_feature_and_reads_the_answer() {
    let fake = Fake::start(vec![]).await;
    let ext = Extension::new()
        .with_name("my-ext")
        .with_account_id()
        .on_invoke(|_| async { Ok::<_, Error>(()) })
        .on_shutdown(|_| async { Ok::<_, Error>(()) })
        .with_runtime_api(fake.addr.to_string())
        .register()
        .await
        .unwrap();
    assert_eq!(ext.identifier(), "ext-id-1");
    assert_eq!(ext.name(), "my-ext");
    assert_eq!(
        (ext.function_name(), ext.function_version(), ext.handler()),
        ("fn", "$LATEST", "app.handler")
    );
    assert_eq!(ext.account_id(), Some("123456789012"));
    let seen = fake.seen().remove(0);
    assert_eq!(seen.header("lambda-extension-name"), Some("my-ext"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&seen.body).unwrap(),
        json!({"events": ["INVOKE", "SHUTDOWN"]})
    );

    // Without the feature there is no account id, and the default name is the file name.
    let fake = Fake::start(vec![]).await;
    let ext = Extension::new()
        .with_runtime_api(format!("http://{}", fake.addr))
        .register()
        .await
        .unwrap();
    assert_eq!(ext.account_id(), None);
    assert!(
        ext.name().starts_with("api"),
        "the test binary's name: {}",
        ext.name()
    );
    assert_eq!(fake.seen()[0].body, r#"{"events":[]}"#);
    assert_eq!(
        fake.seen()[0].header("lambda-extension-accept-feature"),
        None
    );
}

#[tokio::test]
async fn refusals_come_back_as_api_errors_with_the_body() {
    let fake = Fake::start(vec![]).await;
    let err = Extension::new()
        .with_name("refused")
        .with_runtime_api(fake.addr.to_string())
        .register()
        .await
        .unwrap_err();
    match err {
        Error::Api { status, body, .. } => {
            assert_eq!(status, 403);
            assert!(body.contains("Extension.InvalidExtensionState"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    let err = Extension::new()
        .with_runtime_api("127.0.0.1:1")
        .register()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn the_loop_runs_each_invoke_then_the_shutdown_work_and_returns_its_report() {
    let fake = Fake::start(vec![invoke("r1"), invoke("r2"), shutdown(2_000)]).await;
    let invoked = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&invoked);
    let report = Extension::new()
        .with_runtime_api(fake.addr.to_string())
        .on_invoke(move |e| {
            sink.lock().unwrap().push(e.request_id);
            async { Ok::<_, Error>(()) }
        })
        .on_shutdown(|e| async move {
            assert_eq!(e.shutdown_reason, "spindown");
            Ok::<_, Error>(())
        })
        .register()
        .await
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(
        matches!(report.outcome, ShutdownOutcome::Completed),
        "{report}"
    );
    assert!(report.budget > Duration::from_millis(1_800), "{report}");
    assert_eq!(*invoked.lock().unwrap(), ["r1", "r2"]);
    let nexts: Vec<Seen> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/event/next"))
        .collect();
    assert_eq!(nexts.len(), 3);
    assert!(
        nexts
            .iter()
            .all(|s| s.header("lambda-extension-identifier") == Some("ext-id-1"))
    );
}

#[tokio::test]
async fn shutdown_work_is_cut_off_before_the_deadline() {
    let fake = Fake::start(vec![shutdown(300)]).await;
    let started = std::time::Instant::now();
    let report = Extension::new()
        .with_runtime_api(fake.addr.to_string())
        .with_shutdown_margin(Duration::from_millis(100))
        .on_shutdown(|_| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Error>(())
        })
        .register()
        .await
        .unwrap()
        .run()
        .await
        .unwrap();
    assert!(
        matches!(report.outcome, ShutdownOutcome::CutOff),
        "{report}"
    );
    assert!(!report.is_clean());
    assert!(started.elapsed() < Duration::from_millis(300), "{report}");
}

#[tokio::test]
async fn a_failed_invoke_callback_is_reported_to_exit_error() {
    let fake = Fake::start(vec![invoke("r1")]).await;
    let err = Extension::new()
        .with_runtime_api(fake.addr.to_string())
        .on_invoke(|_| async { Err::<(), _>(std::io::Error::other("disk full")) })
        .register()
        .await
        .unwrap()
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Callback(_)), "{err:?}");
    let seen = fake.seen().pop().unwrap();
    assert_eq!(seen.path, "/2020-01-01/extension/exit/error");
    assert_eq!(seen.header("lambda-extension-identifier"), Some("ext-id-1"));
    assert_eq!(
        seen.header("lambda-extension-function-error-type"),
        Some("Extension.InvokeCallbackFailed")
    );
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["errorType"], "Extension.InvokeCallbackFailed");
    assert_eq!(body["errorMessage"], "disk full");
}

#[tokio::test]
async fn init_errors_carry_the_type_header_and_body() {
    let fake = Fake::start(vec![]).await;
    let ext = Extension::new()
        .with_runtime_api(fake.addr.to_string())
        .register()
        .await
        .unwrap();
    ext.init_error("Extension.ConfigMissing", "no endpoint")
        .await
        .unwrap();
    let seen = fake.seen().pop().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/2020-01-01/extension/init/error")
    );
    assert_eq!(
        seen.header("lambda-extension-function-error-type"),
        Some("Extension.ConfigMissing")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&seen.body).unwrap(),
        json!({"errorType": "Extension.ConfigMissing", "errorMessage": "no endpoint"})
    );
}

#[tokio::test]
async fn a_telemetry_subscription_names_its_listener_which_hands_batches_over() {
    let fake = Fake::start(vec![]).await;
    let mut ext = Extension::new()
        .with_runtime_api(fake.addr.to_string())
        .register()
        .await
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let sub = ext
        .subscribe_telemetry(
            Telemetry::new([TelemetryType::Platform, TelemetryType::Function]),
            move |records| {
                sink.lock().unwrap().extend(records);
                async { Ok::<_, Error>(()) }
            },
        )
        .await
        .unwrap();
    assert!(sub.local_addr.ip().is_loopback());
    let port = sub.local_addr.port();
    assert_eq!(
        sub.destination,
        format!("http://sandbox.localdomain:{port}/telemetry")
    );
    let put = fake.seen().pop().unwrap();
    assert_eq!(put.header("lambda-extension-identifier"), Some("ext-id-1"));
    let body: Value = serde_json::from_str(&put.body).unwrap();
    assert_eq!(body["types"], json!(["platform", "function"]));
    assert_eq!(body["destination"]["URI"], sub.destination.as_str());

    // Deliver a batch as the platform does.
    let batch = r#"[{"time":"2024-01-01T00:00:00.000Z","type":"function","record":"hello"}]"#;
    let mut s = TcpStream::connect(sub.local_addr).await.unwrap();
    let req = format!(
        "POST /telemetry HTTP/1.1\r\nHost: sandbox.localdomain:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{batch}",
        batch.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(got.lock().unwrap()[0]["record"], "hello");
}

#[tokio::test]
async fn next_event_can_drive_the_loop_by_hand() {
    let fake = Fake::start(vec![invoke("r1"), shutdown(2_000)]).await;
    let mut ext = Extension::new()
        .with_events(&[lambda_grace_extension::EventType::Invoke])
        .with_runtime_api(fake.addr.to_string())
        .register()
        .await
        .unwrap();
    assert!(
        matches!(ext.next_event().await.unwrap(), NextEvent::Invoke(e) if e.request_id == "r1")
    );
    assert!(matches!(
        ext.next_event().await.unwrap(),
        NextEvent::Shutdown(_)
    ));
}
