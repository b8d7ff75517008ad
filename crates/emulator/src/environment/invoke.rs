//! One invocation (§4.2): the event handed to the runtime's parked `/next`, the answer handed
//! back to the caller the moment the runtime posts it, and the completion (runtime's next
//! `/next` plus every INVOKE-subscribed extension's `event/next`) that makes the environment
//! idle again. Also the function timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grace_protocol::ErrorBody;
use grace_protocol::extensions_api::{Event, Tracing};
use grace_protocol::runtime_api::error_type;
use tokio::sync::oneshot;

use super::{Environment, Phase, RuntimeState, State};
use crate::events::{EventKind, now_ms};
use crate::logs::Report;

/// What the caller asked for.
#[derive(Debug, Clone)]
pub(crate) struct InvokeRequest {
    pub(crate) request_id: Arc<str>,
    pub(crate) payload: Bytes,
    pub(crate) content_type: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<String>,
    pub(crate) tenant_id: Option<String>,
    /// Keep the log for `X-Amz-Log-Result`.
    pub(crate) tail: bool,
    /// The invoke's deadline when it was fixed earlier (a suppressed init ran inside it).
    pub(crate) deadline: Option<Instant>,
}

/// The event as the runtime's `/next` answer carries it (§1.2).
#[derive(Debug)]
pub(crate) struct NextEvent {
    pub(crate) request_id: Arc<str>,
    pub(crate) deadline_ms: u64,
    pub(crate) arn: Arc<str>,
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) payload: Bytes,
    pub(crate) content_type: Option<String>,
}

/// What the caller gets.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The runtime's `/response` body and content type.
    Response {
        body: Bytes,
        content_type: Option<String>,
    },
    /// A streamed `/response`, forwarded as it arrives.
    Streamed {
        body: crate::server::stream::StreamedBody,
        content_type: Option<String>,
    },
    /// The runtime's `/error` body (passed through unchanged).
    FunctionError { body: Bytes },
    /// The platform failed the invocation (timeout, crash, oversized response…).
    PlatformError { body: Bytes },
}

/// An invocation in flight.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) request_id: Arc<str>,
    pub(crate) started: Instant,
    pub(crate) deadline: Instant,
    pub(crate) reply: Option<oneshot::Sender<Outcome>>,
    pub(crate) done: Option<oneshot::Sender<Vec<u8>>>,
    pub(crate) runtime_done: bool,
    pub(crate) init_duration: Option<std::time::Duration>,
    pub(crate) error_type: Option<String>,
    /// When the runtime answered, and how many bytes (telemetry's runtimeDone).
    pub(crate) responded: Option<Instant>,
    pub(crate) produced_bytes: usize,
}

/// The answer of [`Environment::invoke`]: the outcome, and (with `tail`) the log tail once the
/// invocation has completed.
#[derive(Debug)]
pub(crate) struct Invoked {
    pub(crate) outcome: Outcome,
    pub(crate) tail: Option<oneshot::Receiver<Vec<u8>>>,
}

/// How long past its deadline an unanswered invocation may stay before housekeeping times it
/// out (the invoke's own timer normally does it first).
const ABANDONED_SLACK: Duration = Duration::from_millis(100);

/// A platform error body: `{"errorType":…,"errorMessage":"RequestId: … Error: …"}`.
pub(crate) fn platform_error(request_id: &str, error_type: &str, message: &str) -> Bytes {
    let body = ErrorBody::new(
        error_type,
        format!("RequestId: {request_id} Error: {message}"),
    );
    Bytes::from(body.to_json())
}

impl Environment {
    /// Runs one invocation on this idle environment. The pool guarantees exclusivity.
    pub(crate) async fn invoke(self: &Arc<Self>, req: InvokeRequest) -> Invoked {
        let started = Instant::now();
        let deadline = req.deadline.unwrap_or(started + self.cfg.timeout);
        let (reply_tx, reply_rx) = oneshot::channel();
        let (done_tx, done_rx) = if req.tail {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let id = Arc::clone(&req.request_id);
        {
            let mut st = self.lock();
            let RuntimeState::Parked(next) = std::mem::take(&mut st.runtime) else {
                // The pool only hands out idle environments; an exited runtime lands here.
                let body =
                    platform_error(&id, error_type::RUNTIME_EXIT_ERROR, "Runtime is not ready");
                return Invoked {
                    outcome: Outcome::PlatformError { body },
                    tail: None,
                };
            };
            st.phase = Phase::Busy;
            st.invocations += 1;
            self.thaw(&mut st);
            if req.tail {
                self.log.begin_tail();
            }
            self.record(EventKind::InvokeStart {
                request_id: id.to_string(),
            });
            self.log.platform(&format!(
                "START RequestId: {id} Version: {}",
                self.cfg.version()
            ));
            let deadline_ms =
                now_ms() + deadline.saturating_duration_since(started).as_millis() as u64;
            let trace_id = req.trace_id.unwrap_or_else(new_trace_id);
            self.telemetry.platform("platform.start", || {
                serde_json::json!({
                    "requestId": *id,
                    "version": self.cfg.version(),
                    "tracing": { "type": "X-Amzn-Trace-Id", "value": trace_id },
                })
            });
            if st.extensions.iter().any(|e| e.invoke) {
                let event = Event::Invoke {
                    deadline_ms,
                    request_id: id.to_string(),
                    invoked_function_arn: self.arn.to_string(),
                    tracing: Some(Tracing {
                        kind: "X-Amzn-Trace-Id".to_owned(),
                        value: trace_id.clone(),
                    }),
                };
                let event = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
                self.deliver_invoke(&mut st, &event);
            }
            let event = NextEvent {
                request_id: Arc::clone(&id),
                deadline_ms,
                arn: Arc::clone(&self.arn),
                trace_id,
                client_context: req.client_context,
                cognito_identity: req.cognito_identity,
                tenant_id: req.tenant_id,
                payload: req.payload,
                content_type: req.content_type,
            };
            // If the runtime's connection is gone the process is exiting; its exit is
            // reported through the reply like any crash.
            let _ = next.send(event);
            st.runtime = RuntimeState::Running(Arc::clone(&id));
            st.invocation = Some(Invocation {
                request_id: Arc::clone(&id),
                started,
                deadline,
                reply: Some(reply_tx),
                done: done_tx,
                runtime_done: false,
                init_duration: st.cold_start.take(),
                error_type: None,
                responded: None,
                produced_bytes: 0,
            });
        }
        let mut reply_rx = reply_rx;
        let outcome = tokio::select! {
            biased;
            outcome = &mut reply_rx => outcome.ok(),
            () = tokio::time::sleep_until(deadline.into()) => None,
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => match self.time_out(&id) {
                Some(outcome) => outcome,
                // The reply raced the deadline and won, or the environment failed meanwhile.
                None => reply_rx.await.unwrap_or_else(|_| Outcome::PlatformError {
                    body: platform_error(
                        &id,
                        error_type::RUNTIME_UNKNOWN,
                        "Invocation was abandoned",
                    ),
                }),
            },
        };
        Invoked {
            outcome,
            tail: done_rx,
        }
    }

    /// The function timeout fired: the caller gets `Task timed out`, and the environment is
    /// reset with reason `timeout` (§9.4). `None` if the invocation already got its answer.
    fn time_out(self: &Arc<Self>, id: &Arc<str>) -> Option<Outcome> {
        let mut st = self.lock();
        let inv = st.invocation.as_mut().filter(|inv| inv.request_id == *id)?;
        let reply = inv.reply.take()?;
        drop(reply);
        let elapsed = inv.started.elapsed();
        let timeout_ms = self.cfg.timeout.as_millis() as u64;
        let message = format!("Task timed out after {:.2} seconds", elapsed.as_secs_f64());
        self.finish_timed_out(&mut st, &message, timeout_ms);
        drop(st);
        self.spawn_shutdown(grace_protocol::extensions_api::ShutdownReason::Timeout);
        let body = platform_error(id, error_type::SANDBOX_TIMEDOUT, &message);
        Some(Outcome::PlatformError { body })
    }

    /// Writes the timeout lines and ends the invocation with status `timeout`.
    fn finish_timed_out(&self, st: &mut State, message: &str, timeout_ms: u64) {
        let Some(inv) = st.invocation.as_mut() else {
            return;
        };
        let id = Arc::clone(&inv.request_id);
        self.record(EventKind::Timeout {
            request_id: id.to_string(),
            timeout_ms,
        });
        self.runtime_done_telemetry(inv, "timeout", Some(error_type::SANDBOX_TIMEDOUT));
        self.drain_logs(st);
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        self.log.platform(&format!("{ts} {id} {message}"));
        self.finish(
            st,
            Some("timeout"),
            Some(error_type::SANDBOX_TIMEDOUT.to_owned()),
        );
    }

    /// An invocation past its deadline that the invoke's own timer did not end: a runtime that
    /// answered but did not come back to `/next` (the caller already has its answer), or one
    /// whose caller hung up (and took the timer with it). It times out here. Called by the
    /// pool's housekeeping.
    pub(crate) fn check_overdue(self: &Arc<Self>, now: Instant) {
        let mut st = self.lock();
        let Some(inv) = st.invocation.as_ref().filter(|_| st.phase == Phase::Busy) else {
            return;
        };
        if inv.reply.is_some() {
            // Still unanswered past the deadline: its caller went away (the invoke's own timer
            // went with it), so the timeout is enforced here.
            if inv.deadline + ABANDONED_SLACK <= now {
                let id = Arc::clone(&inv.request_id);
                drop(st);
                let _ = self.time_out(&id);
            }
            return;
        }
        if inv.deadline > now {
            return;
        }
        let elapsed = inv.started.elapsed();
        let message = format!("Task timed out after {:.2} seconds", elapsed.as_secs_f64());
        self.finish_timed_out(&mut st, &message, self.cfg.timeout.as_millis() as u64);
        drop(st);
        self.spawn_shutdown(grace_protocol::extensions_api::ShutdownReason::Timeout);
    }

    /// Ends the current invocation if the runtime and every INVOKE-subscribed extension are
    /// done. Returns `true` when the environment became idle.
    pub(crate) fn try_complete(&self, st: &mut State) -> bool {
        let Some(inv) = st.invocation.as_ref() else {
            return false;
        };
        if !inv.runtime_done || st.extensions.iter().any(|e| e.busy) {
            return false;
        }
        let error_type = inv.error_type.clone();
        self.finish(st, error_type.as_ref().map(|_| "error"), error_type);
        st.phase = Phase::Idle;
        st.idle_since = Instant::now();
        true
    }

    /// Writes END and REPORT for the current invocation and forgets it.
    fn finish(&self, st: &mut State, status: Option<&str>, error_type: Option<String>) {
        let Some(mut inv) = st.invocation.take() else {
            return;
        };
        self.drain_logs(st);
        let duration = inv.started.elapsed();
        let max_memory_mb = self.max_memory_mb(st);
        let id = &inv.request_id;
        self.log.platform(&format!("END RequestId: {id}"));
        self.telemetry
            .logs_api("platform.end", || serde_json::json!({ "requestId": **id }));
        let report = Report {
            request_id: id,
            duration,
            memory_mb: self.cfg.memory_mb,
            max_memory_mb,
            init_duration: inv.init_duration,
            status,
            error_type: error_type.as_deref(),
        };
        self.log.platform(&report.line());
        self.telemetry.platform("platform.report", || {
            let mut metrics = serde_json::json!({
                "durationMs": crate::telemetry::ms(duration),
                "billedDurationMs": report.billed_ms(),
                "memorySizeMB": self.cfg.memory_mb,
                "maxMemoryUsedMB": max_memory_mb,
            });
            if let Some(init) = inv.init_duration {
                metrics["initDurationMs"] = serde_json::json!(crate::telemetry::ms(init));
            }
            let mut record = serde_json::json!({
                "requestId": **id,
                "status": status.unwrap_or("success"),
                "metrics": metrics,
            });
            if let Some(t) = &error_type {
                record["errorType"] = serde_json::json!(t);
            }
            record
        });
        self.record(EventKind::InvokeEnd {
            request_id: id.to_string(),
            duration_ms: crate::logs::ms(duration),
            max_memory_mb,
        });
        if let Some(done) = inv.done.take() {
            let _ = done.send(self.log.take_tail());
        }
    }

    /// Fails the invocation in flight, if any, with a platform error (crash, extension
    /// failure), writing its END/REPORT lines.
    pub(crate) fn fail_invocation(&self, st: &mut State, error_type: &str, message: &str) {
        let Some(inv) = st.invocation.as_mut() else {
            return;
        };
        if let Some(reply) = inv.reply.take() {
            let body = platform_error(&inv.request_id, error_type, message);
            let _ = reply.send(Outcome::PlatformError { body });
        }
        if !inv.runtime_done {
            let status = if error_type.starts_with("Sandbox.") {
                "failure"
            } else {
                "error"
            };
            self.runtime_done_telemetry(inv, status, Some(error_type));
        }
        let id = Arc::clone(&inv.request_id);
        self.drain_logs(st);
        let fault = format!("RequestId: {id} Error: {message}");
        self.log.platform(&fault);
        self.telemetry
            .logs_api("platform.fault", || serde_json::json!(fault));
        self.finish(st, Some("error"), Some(error_type.to_owned()));
    }

    /// `platform.runtimeDone` (§3.3): status, duration, bytes, and the response latency span.
    pub(super) fn runtime_done_telemetry(
        &self,
        inv: &Invocation,
        status: &str,
        error_type: Option<&str>,
    ) {
        self.telemetry.platform("platform.runtimeDone", || {
            let now = Instant::now();
            let start = std::time::SystemTime::now() - now.saturating_duration_since(inv.started);
            let mut record = serde_json::json!({
                "requestId": *inv.request_id,
                "status": status,
                "metrics": {
                    "durationMs": crate::telemetry::ms(now.saturating_duration_since(inv.started)),
                    "producedBytes": inv.produced_bytes,
                },
            });
            if let Some(responded) = inv.responded {
                record["spans"] = serde_json::json!([{
                    "name": "responseLatency",
                    "start": humantime::format_rfc3339_millis(start).to_string(),
                    "durationMs": crate::telemetry::ms(responded.saturating_duration_since(inv.started)),
                }]);
            }
            if let Some(t) = error_type {
                record["errorType"] = serde_json::json!(t);
            }
            record
        });
    }

    /// The environment became idle: hand it back to the pool.
    pub(crate) fn after_idle(self: &Arc<Self>) {
        match self.hooks.upgrade() {
            Some(hooks) => hooks.idle(Arc::clone(self)),
            None => self.freeze_if_idle(),
        }
    }

    /// How long the environment has been idle, if it is.
    pub(crate) fn idle_for(&self, now: Instant) -> Option<Duration> {
        let st = self.lock();
        (st.phase == Phase::Idle).then(|| now.saturating_duration_since(st.idle_since))
    }

    /// Busy with an invocation whose answer has gone out: it will be idle soon.
    pub(crate) fn is_finishing(&self) -> bool {
        let st = self.lock();
        st.phase == Phase::Busy && st.invocation.as_ref().is_some_and(|i| i.reply.is_none())
    }
}

/// A new X-Ray trace header: `Root=1-{8 hex time}-{24 hex}` with a parent and `Sampled=0`.
fn new_trace_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let r = crate::ids::uuid().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &r[..24],
        &r[16..32]
    )
}
