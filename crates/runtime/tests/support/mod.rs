//! A scripted fake of the Runtime and Extensions APIs on 127.0.0.1:0, speaking raw HTTP/1.1 so
//! that the tests see exactly what went over the wire (connections, chunked bodies, trailers).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which connection (0, 1, … in order of acceptance).
    pub conn: usize,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
    pub fn trailer(&self, name: &str) -> Option<&str> {
        find(&self.trailers, name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// An event to hand out on `/next`.
#[derive(Debug, Clone)]
pub struct Event {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Event {
    /// An event with a request id and a deadline a minute away.
    pub fn new(request_id: &str, body: &str) -> Self {
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            + 60_000;
        Self {
            headers: vec![
                ("Lambda-Runtime-Aws-Request-Id".into(), request_id.into()),
                ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
            ],
            body: body.into(),
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quirks {
    /// Close the connection after answering each `/response` and `/error`.
    pub close_after_answer: bool,
    /// Answer `/next` with 500 once the queue is empty (instead of waiting).
    pub fail_next_when_empty: bool,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Event>,
    seen: Vec<Seen>,
    connections: usize,
    waiting: bool,
    notes: Vec<String>,
}

/// The fake server.
#[derive(Clone, Debug)]
pub struct FakeApi {
    pub addr: String,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    quirks: Quirks,
}

impl FakeApi {
    pub async fn start(events: Vec<Event>, quirks: Quirks) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeApi {
            addr: listener.local_addr().unwrap().to_string(),
            state: Arc::new(Mutex::new(State {
                queue: events.into(),
                ..State::default()
            })),
            changed: Arc::new(Notify::new()),
            quirks,
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = {
                    let mut st = server.state.lock().unwrap();
                    st.connections += 1;
                    st.connections - 1
                };
                tokio::spawn(server.clone().serve(stream, conn));
            }
        });
        fake
    }

    /// A lookup with a complete, valid configuration pointing at this fake.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + use<> {
        let addr = self.addr.clone();
        move |k| match k {
            "AWS_LAMBDA_RUNTIME_API" => Some(addr.clone()),
            "AWS_LAMBDA_FUNCTION_NAME" => Some("fake".into()),
            "AWS_LAMBDA_FUNCTION_VERSION" => Some("$LATEST".into()),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("128".into()),
            _ => None,
        }
    }

    /// Completes once the runtime waits on `/next` with no event left: use it with
    /// `Runtime::shutdown_on` to end a run after the scripted events.
    pub fn drained(&self) -> impl Future<Output = ()> + 'static {
        let fake = self.clone();
        async move {
            loop {
                let notified = fake.changed.notified();
                if fake.state.lock().unwrap().waiting {
                    return;
                }
                notified.await;
            }
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// `METHOD path` of every request, in order, with notes interleaved.
    pub fn script(&self) -> Vec<String> {
        self.state.lock().unwrap().notes.clone()
    }

    /// Adds a note to the script (from a handler or hook), to check the order of things.
    pub fn note(&self, text: &str) {
        self.state.lock().unwrap().notes.push(text.to_owned());
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    async fn serve(self, stream: TcpStream, conn: usize) {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        while let Some(seen) = read_request(&mut reader, conn).await {
            {
                let mut st = self.state.lock().unwrap();
                st.notes
                    .push(format!("{} {}", seen.method, short(&seen.path)));
                st.seen.push(seen.clone());
            }
            self.changed.notify_waiters();
            let answer = self.answer(&seen).await;
            let Some((answer, close)) = answer else {
                // Parked forever (the extension's /event/next).
                std::future::pending::<()>().await;
                return;
            };
            if write.write_all(answer.as_bytes()).await.is_err() || close {
                return;
            }
        }
    }

    async fn answer(&self, seen: &Seen) -> Option<(String, bool)> {
        let path = seen.path.as_str();
        if path == "/2020-01-01/extension/register" {
            return Some((
                reply(
                    "200 OK",
                    &[("Lambda-Extension-Identifier", "ext-1")],
                    r#"{"functionName":"fake","functionVersion":"$LATEST","handler":"bootstrap"}"#,
                ),
                false,
            ));
        }
        if path == "/2020-01-01/extension/event/next" {
            return None;
        }
        if path == "/2018-06-01/runtime/invocation/next" {
            loop {
                let event = {
                    let mut st = self.state.lock().unwrap();
                    let e = st.queue.pop_front();
                    st.waiting = e.is_none();
                    e
                };
                if let Some(e) = event {
                    let headers: Vec<(&str, &str)> = e
                        .headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    return Some((reply("200 OK", &headers, &e.body), false));
                }
                if self.quirks.fail_next_when_empty {
                    let body = r#"{"errorType":"Runtime.Unknown","errorMessage":"Container error. Non-recoverable state. Runtime should exit promptly."}"#;
                    return Some((reply("500 Internal Server Error", &[], body), false));
                }
                // Tell `drained` (before listening, so as not to wake this very loop), then
                // wait for an event that never comes in these tests.
                self.changed.notify_waiters();
                std::future::pending::<()>().await;
            }
        }
        let close = self.quirks.close_after_answer;
        let extra: &[(&str, &str)] = if close {
            &[("Connection", "close")]
        } else {
            &[]
        };
        Some((reply("202 Accepted", extra, r#"{"status":"OK"}"#), close))
    }
}

fn short(path: &str) -> String {
    path.strip_prefix("/2018-06-01/runtime/invocation/")
        .or_else(|| path.strip_prefix("/2018-06-01/runtime/"))
        .or_else(|| path.strip_prefix("/2020-01-01/extension/"))
        .unwrap_or(path)
        .to_owned()
}

fn reply(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

async fn read_request<R: AsyncBufReadExt + Unpin>(r: &mut R, conn: usize) -> Option<Seen> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let headers = read_fields(r).await?;
    let chunked = find(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let mut body = Vec::new();
    let mut trailers = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).await.ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                trailers = read_fields(r).await?;
                break;
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).await.ok()?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = find(&headers, "content-length").and_then(|v| v.parse().ok()) {
        body = vec![0; len];
        r.read_exact(&mut body).await.ok()?;
    }
    Some(Seen {
        conn,
        method,
        path,
        headers,
        body,
        trailers,
    })
}

async fn read_fields<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Option<Vec<(String, String)>> {
    let mut fields = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            return Some(fields);
        }
        let (k, v) = line.split_once(':')?;
        fields.push((k.trim().to_owned(), v.trim().to_owned()));
    }
}
