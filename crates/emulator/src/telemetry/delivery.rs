//! One subscriber: its buffer and the task that delivers batches (§3.2).
//!
//! A batch leaves when the buffer holds `maxItems` records or `maxBytes` bytes, or when the
//! oldest record has waited `timeoutMs`, or on a flush. HTTP batches are JSON arrays POSTed to
//! the listener; TCP batches are NDJSON lines on one connection. A subscriber that falls far
//! behind loses records, and is told so with `platform.logsDropped`. There is no timeout on a
//! delivery: a frozen extension answers when it is thawed, as on Lambda.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Record;
use super::subscription::{Destination, Subscription};

/// A subscriber holding more than this many times `maxBytes` is behind: newer records drop.
const BACKLOG_FACTOR: usize = 16;
/// Delivery attempts of one batch before it is dropped.
const ATTEMPTS: u32 = 5;

#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) name: String,
    api: super::Api,
    sub: Subscription,
    queue: Mutex<Queue>,
    wake: Notify,
    drained: Notify,
    stop: CancellationToken,
    busy: AtomicBool,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Bytes>,
    bytes: usize,
    oldest: Option<Instant>,
    flush: bool,
    dropped_records: u64,
    dropped_bytes: u64,
}

impl Subscriber {
    pub(crate) fn start(name: String, api: super::Api, sub: Subscription) -> Arc<Self> {
        let s = Arc::new(Self {
            name,
            api,
            sub,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            drained: Notify::new(),
            stop: CancellationToken::new(),
            busy: AtomicBool::new(false),
        });
        tokio::spawn(Arc::clone(&s).run());
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The subscribed types, as the subscription event lists them.
    pub(crate) fn types_json(&self) -> Vec<&'static str> {
        let mut t = Vec::new();
        if self.sub.platform {
            t.push("platform");
        }
        if self.sub.function {
            t.push("function");
        }
        if self.sub.extension {
            t.push("extension");
        }
        t
    }

    /// Buffers a record if this subscriber wants its kind.
    pub(crate) fn push(&self, record: &Record) {
        if !self.sub.wants(record.kind) || record.only.is_some_and(|api| api != self.api) {
            return;
        }
        let mut q = self.lock();
        if q.bytes + record.json.len() > self.sub.max_bytes * BACKLOG_FACTOR {
            q.dropped_records += 1;
            q.dropped_bytes += record.json.len() as u64;
            return;
        }
        q.bytes += record.json.len();
        q.items.push_back(record.json.clone());
        let first = q.oldest.is_none();
        q.oldest.get_or_insert_with(Instant::now);
        let full = q.items.len() >= self.sub.max_items || q.bytes >= self.sub.max_bytes;
        drop(q);
        if first || full {
            self.wake.notify_one();
        }
    }

    /// Delivers everything buffered now; waits for it, at most until `deadline`.
    pub(crate) async fn flush(&self, deadline: Instant) {
        self.lock().flush = true;
        self.wake.notify_one();
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.lock().items.is_empty() && !self.busy.load(Ordering::Acquire) {
                return;
            }
            if tokio::time::timeout_at(deadline.into(), drained)
                .await
                .is_err()
            {
                return;
            }
        }
    }

    pub(crate) fn stop(&self) {
        self.stop.cancel();
    }

    async fn run(self: Arc<Self>) {
        let mut sender = Sender::new(self.sub.destination.clone());
        loop {
            let due = {
                let q = self.lock();
                if q.items.is_empty() {
                    None
                } else if q.flush
                    || q.items.len() >= self.sub.max_items
                    || q.bytes >= self.sub.max_bytes
                {
                    Some(Instant::now())
                } else {
                    q.oldest
                        .map(|t| t + Duration::from_millis(self.sub.timeout_ms))
                }
            };
            match due {
                None => {
                    self.lock().flush = false;
                    self.drained.notify_waiters();
                    tokio::select! {
                        () = self.wake.notified() => continue,
                        () = self.stop.cancelled() => return,
                    }
                }
                Some(at) if at > Instant::now() => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at.into()) => {}
                        () = self.wake.notified() => {}
                        () = self.stop.cancelled() => return,
                    }
                    continue;
                }
                Some(_) => {}
            }
            self.busy.store(true, Ordering::Release);
            let batch = self.take_batch();
            tokio::select! {
                () = sender.deliver(&batch) => {}
                () = self.stop.cancelled() => return,
            }
            self.busy.store(false, Ordering::Release);
        }
    }

    /// Up to `maxItems` records and about `maxBytes` bytes, oldest first, behind a
    /// `platform.logsDropped` record when some were dropped.
    fn take_batch(&self) -> Vec<Bytes> {
        let mut q = self.lock();
        let mut batch = Vec::new();
        if q.dropped_records > 0 && self.sub.platform {
            let record = json!({
                "time": super::now(),
                "type": "platform.logsDropped",
                "record": {
                    "droppedBytes": q.dropped_bytes,
                    "droppedRecords": q.dropped_records,
                    "reason": "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
                }
            });
            batch.push(Bytes::from(record.to_string()));
        }
        q.dropped_records = 0;
        q.dropped_bytes = 0;
        let mut bytes = 0;
        while let Some(item) = q.items.front() {
            if !batch.is_empty()
                && (batch.len() >= self.sub.max_items || bytes + item.len() > self.sub.max_bytes)
            {
                break;
            }
            bytes += item.len();
            q.bytes -= item.len();
            if let Some(item) = q.items.pop_front() {
                batch.push(item);
            }
        }
        q.oldest = (!q.items.is_empty()).then(Instant::now);
        batch
    }
}

/// Sends batches to one destination.
struct Sender {
    destination: Destination,
    tcp: Option<tokio::net::TcpStream>,
}

impl Sender {
    fn new(destination: Destination) -> Self {
        Self {
            destination,
            tcp: None,
        }
    }

    /// Delivers a batch, retrying with backoff (the listener may not be up yet).
    async fn deliver(&mut self, batch: &[Bytes]) {
        let mut backoff = Duration::from_millis(50);
        for attempt in 1..=ATTEMPTS {
            let sent = match &self.destination {
                Destination::Http { port, path } => post(*port, path, batch).await,
                Destination::Tcp { port } => self.write_tcp(*port, batch).await,
            };
            match sent {
                Ok(()) => return,
                Err(e) if attempt == ATTEMPTS => {
                    tracing::warn!(error = %e, records = batch.len(), "telemetry batch dropped after {ATTEMPTS} attempts");
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }

    async fn write_tcp(&mut self, port: u16, batch: &[Bytes]) -> std::io::Result<()> {
        if self.tcp.is_none() {
            self.tcp = Some(tokio::net::TcpStream::connect(("127.0.0.1", port)).await?);
        }
        let Some(stream) = self.tcp.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::with_capacity(batch.iter().map(|b| b.len() + 1).sum());
        for item in batch {
            buf.extend_from_slice(item);
            buf.push(b'\n');
        }
        let result = stream.write_all(&buf).await;
        if result.is_err() {
            self.tcp = None;
        }
        result
    }
}

/// POSTs a JSON array of the batch's records.
async fn post(port: u16, path: &str, batch: &[Bytes]) -> std::io::Result<()> {
    let mut body = Vec::with_capacity(batch.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (i, item) in batch.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.push(b']');
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    let req = hyper::Request::post(path)
        .header("host", format!("sandbox.localdomain:{port}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(std::io::Error::other)?;
    let res = send
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    let status = res.status();
    let _ = res.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("listener answered {status}")))
    }
}
