//! Property tests of the Extensions API registration and the Telemetry/Logs subscriptions while
//! they are open: during init. The scripted runtime registers an internal extension and holds
//! its init open; meanwhile random registrations (names, events, features, bodies) and random
//! subscriptions (schema versions, types, buffering, destinations, garbage) arrive, with the
//! real identifier, random ones or none. Every answer must be a defined one (200 with an
//! identifier or `"OK"`, 400 or 403 with an error body), never a panic, 5xx or hang; each
//! registration that succeeds is then driven like an extension (`event/next` in a loop). When
//! init is released, the invoke that started it, and the next, must succeed.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use grace_emulator::InvokeInput;
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{ANSWER_LIMIT, HOLD_ENV, Harness, exchange, proptest_config, request};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

#[derive(Debug, Clone)]
enum Who {
    Held,
    Random(String),
    Nobody,
}

#[derive(Debug, Clone)]
enum Case {
    Register {
        name: String,
        feature: Option<String>,
        body: Vec<u8>,
    },
    Subscribe {
        path: &'static str,
        who: Who,
        body: Vec<u8>,
    },
}

fn maybe<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(0.7, s)
}

/// Subscription bodies; every well-formed destination is `sink` (a port this test owns), so
/// that no telemetry is ever sent to someone else's port.
fn subscription_body(sink: u16) -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![
        Just("2022-07-01".to_owned()),
        Just("2022-12-13".to_owned()),
        Just("2025-01-29".to_owned()),
        Just("2020-08-15".to_owned()),
        Just("2021-03-18".to_owned()),
        "[0-9-]{0,12}",
    ];
    let kind = prop_oneof![
        Just("platform".to_owned()),
        Just("function".to_owned()),
        Just("extension".to_owned()),
        "[a-z]{0,8}",
    ];
    let number = prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        any::<u32>().prop_map(|n| json!(n)),
        Just(json!("x"))
    ];
    let buffering = (maybe(number.clone()), maybe(number.clone()), maybe(number))
        .prop_map(|(a, b, c)| json!({"maxItems": a, "maxBytes": b, "timeoutMs": c}));
    let destination = (
        maybe(prop_oneof![
            Just("HTTP".to_owned()),
            Just("TCP".to_owned()),
            "[A-Z]{0,5}"
        ]),
        maybe(prop_oneof![
            "[a-z/]{0,10}"
                .prop_map(move |path| format!("http://sandbox.localdomain:{sink}/{path}")),
            Just(format!("http://127.0.0.1:{sink}")),
            "[ -~]{0,30}",
        ]),
        maybe(prop_oneof![Just(sink), Just(0)]),
    )
        .prop_map(|(protocol, uri, port)| json!({"protocol": protocol, "URI": uri, "port": port}));
    let structured = (
        maybe(version),
        maybe(prop::collection::vec(kind, 0..4)),
        maybe(buffering),
        maybe(destination),
    )
        .prop_map(|(v, t, b, d)| {
            serde_json::to_vec(
                &json!({"schemaVersion": v, "types": t, "buffering": b, "destination": d}),
            )
            .unwrap()
        });
    let valid = prop_oneof![Just("HTTP"), Just("TCP")].prop_map(move |protocol| {
        let uri = (protocol == "HTTP").then(|| format!("http://sandbox.localdomain:{sink}/t"));
        serde_json::to_vec(&json!({
            "types": ["platform", "function"],
            "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 100},
            "destination": {"protocol": protocol, "URI": uri, "port": sink},
        }))
        .unwrap()
    });
    prop_oneof![
        4 => structured,
        2 => valid,
        1 => prop::collection::vec(any::<u8>(), 0..128),
        1 => Just(b"[]".to_vec()),
    ]
}

fn register_body() -> impl Strategy<Value = Vec<u8>> {
    let event = prop_oneof![
        Just("INVOKE".to_owned()),
        Just("SHUTDOWN".to_owned()),
        "[A-Z]{0,8}"
    ];
    prop_oneof![
        3 => prop::collection::vec(event, 0..3)
            .prop_map(|e| serde_json::to_vec(&json!({"events": e})).unwrap()),
        1 => Just(b"{}".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn case(sink: u16) -> impl Strategy<Value = Case> {
    let who = prop_oneof![
        3 => Just(Who::Held),
        1 => "[0-9a-f-]{0,36}".prop_map(Who::Random),
        1 => Just(Who::Nobody),
    ];
    let path = prop_oneof![Just("/2022-07-01/telemetry"), Just("/2020-08-15/logs")];
    let register = (
        prop_oneof![
            Just("held".to_owned()),
            "[A-Za-z0-9._-]{0,20}",
            "[ -~]{1,20}"
        ],
        prop::option::of(prop_oneof![Just("accountId".to_owned()), "[a-zA-Z]{0,10}"]),
        register_body(),
    )
        .prop_map(|(name, feature, body)| Case::Register {
            name,
            feature,
            body,
        });
    let subscribe = (path, who, subscription_body(sink))
        .prop_map(|(path, who, body)| Case::Subscribe { path, who, body });
    prop_oneof![1 => register, 3 => subscribe]
}

/// Waits (bounded) for the scripted runtime to write `file` in `dir`.
fn read_when_written(h: &Harness, dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    h.block_on(async {
        for _ in 0..6000 {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the scripted runtime never wrote {}", path.display());
    })
}

fn hold_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grace-init-phase-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn registrations_and_subscriptions_during_init_get_defined_answers() {
    let dir = hold_dir();
    let h = Harness::start(|cfg| {
        cfg.env
            .push((HOLD_ENV.to_owned(), dir.display().to_string()));
        cfg.init_timeout = Duration::from_secs(600);
    });
    let emulator = h.emulator.clone();
    let first = h.rt.spawn(async move {
        emulator
            .invoke(InvokeInput::new("f", r#"{"first":1}"#))
            .await
    });
    let addr: std::net::SocketAddr = read_when_written(&h, &dir, "api").parse().unwrap();
    let held = read_when_written(&h, &dir, "ext-id");

    // The telemetry sink: accepts and drops whatever is delivered.
    let sink = h
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let sink_port = sink.local_addr().unwrap().port();
    h.rt.spawn(async move {
        while let Ok((conn, _)) = sink.accept().await {
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut conn = conn;
                let mut buf = vec![0u8; 65536];
                while conn.read(&mut buf).await.is_ok_and(|n| n > 0) {}
            });
        }
    });
    let started = std::time::Instant::now();
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(256));
    let result = runner.run(&case(sink_port), |c| {
        let (raw, is_register) = match &c {
            Case::Register {
                name,
                feature,
                body,
            } => {
                let mut headers = vec![("Lambda-Extension-Name".to_owned(), name.clone())];
                if let Some(f) = feature {
                    headers.push(("Lambda-Extension-Accept-Feature".to_owned(), f.clone()));
                }
                (
                    request("POST", "/2020-01-01/extension/register", &headers, body),
                    true,
                )
            }
            Case::Subscribe { path, who, body } => {
                let id = match who {
                    Who::Held => Some(held.clone()),
                    Who::Random(id) => Some(id.clone()),
                    Who::Nobody => None,
                };
                let headers: Vec<_> = id
                    .map(|id| ("Lambda-Extension-Identifier".to_owned(), id))
                    .into_iter()
                    .collect();
                (request("PUT", path, &headers, body), false)
            }
        };
        let reply = h
            .block_on(exchange(addr, &raw, ANSWER_LIMIT))
            .unwrap_or_else(|f| panic!("no answer ({f:?}) to {c:?}"));
        let error_type = reply.error_type();
        *seen
            .borrow_mut()
            .entry(format!(
                "{} {}",
                reply.status,
                error_type.clone().unwrap_or_default()
            ))
            .or_default() += 1;
        prop_assert!(
            [200, 400, 403].contains(&reply.status),
            "{} {}",
            reply.status,
            reply.text()
        );
        if reply.status != 200 {
            prop_assert!(error_type.is_some(), "not an error body: {}", reply.text());
        } else if is_register {
            let id = reply
                .header("lambda-extension-identifier")
                .unwrap_or_default();
            prop_assert!(uuid::Uuid::parse_str(id).is_ok(), "identifier {id:?}");
            prop_assert!(
                reply.json().is_some_and(|v| v.is_object()),
                "{}",
                reply.text()
            );
            // Behave as the extension: park in event/next until the environment goes.
            let id = id.to_owned();
            h.rt.spawn(fake_extension(addr, id));
        } else {
            prop_assert_eq!(reply.json(), Some(Value::from("OK")));
            let Case::Subscribe { who, .. } = &c else {
                unreachable!()
            };
            prop_assert!(
                matches!(who, Who::Held),
                "a subscription without a valid identifier"
            );
        }
        Ok(())
    });
    eprintln!(
        "init_phase: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    std::fs::write(dir.join("go"), b"").unwrap();
    let out = h
        .block_on(async { tokio::time::timeout(Duration::from_secs(60), first).await })
        .expect("the held invoke ended")
        .expect("invoke task");
    assert_eq!(out.status, 200, "{:?}", String::from_utf8_lossy(&out.body));
    assert_eq!(
        out.function_error,
        None,
        "{:?}",
        String::from_utf8_lossy(&out.body)
    );
    assert_eq!(&out.body[..], br#"{"first":1}"#);
    h.assert_normal_invoke(1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An extension that only says "next" until its environment is gone.
async fn fake_extension(addr: std::net::SocketAddr, id: String) {
    let headers = [("Lambda-Extension-Identifier".to_owned(), id)];
    let raw = request("GET", "/2020-01-01/extension/event/next", &headers, b"");
    while let Ok(reply) = exchange(addr, &raw, Duration::from_secs(3600)).await {
        if reply.status != 200 {
            return;
        }
    }
}
