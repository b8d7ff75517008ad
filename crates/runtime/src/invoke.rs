//! The invoke loop: `/next` → handler → `/response` or `/error` → flush hooks, with SIGTERM
//! watched all along; then the shutdown: cancel the token, run the hooks, print the report.
//!
//! Everything runs on the caller's task: the handler's future is polled in place (inside
//! `catch_unwind`, so a panic is reported and the loop goes on), with no task spawned per
//! invocation and no hand-off between threads.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use grace_protocol::runtime_api as api;
use tokio::time::{Instant, timeout_at};
use tracing::Instrument;

use crate::api::Invocation;
use crate::client::Client;
use crate::config::Config;
use crate::context::{Context, ContextError};
use crate::error::{Diagnostic, Error, chain};
use crate::hooks::{FlushHook, run_flush_hooks, run_shutdown_hooks};
use crate::report::{HandlerOutcome, InterruptedInvocation, Report, Trigger};
use crate::response::Response;
use crate::runtime::{Runtime, Settings};
use crate::signal::{ShutdownSignal, until_shutdown};
use crate::unwind::{Panic, call_catching, panic_message, poll_catching};
use crate::{extension, trace_env};

/// The error type reported for a handler that panicked.
pub(crate) const PANIC_ERROR_TYPE: &str = "Runtime.HandlerPanic";

/// Why the loop ended.
enum End {
    Shutdown {
        trigger: Trigger,
        started: Instant,
        interrupted: Option<InterruptedInvocation>,
    },
    Fatal(Error),
}

/// The parts of the runtime one invocation uses.
struct Loop<'a, H> {
    client: &'a mut Client,
    signal: &'a mut ShutdownSignal,
    settings: &'a Settings,
    flush_hooks: &'a mut [FlushHook],
    token: &'a tokio_util::sync::CancellationToken,
    handler: &'a mut H,
}

pub(crate) async fn run<H, Fut, R, E>(runtime: Runtime, mut handler: H) -> Result<Report, Error>
where
    H: FnMut(Bytes, Context) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    R: Into<Response>,
    E: Into<Diagnostic>,
{
    let Runtime {
        config,
        mut client,
        mut signal,
        settings,
        shutdown_hooks,
        mut flush_hooks,
        token,
    } = runtime;
    // Before the first `/next`, which closes extension registration.
    let _parked = if settings.register_extension {
        extension::start(&mut client).await
    } else {
        None
    };
    let mut state = Loop {
        client: &mut client,
        signal: &mut signal,
        settings: &settings,
        flush_hooks: &mut flush_hooks,
        token: &token,
        handler: &mut handler,
    };
    let end = loop {
        let invocation = match until_shutdown(state.signal, state.client.next()).await {
            Err(trigger) => {
                break End::Shutdown {
                    trigger,
                    started: Instant::now(),
                    interrupted: None,
                };
            }
            Ok(Err(e)) => break End::Fatal(e),
            Ok(Ok(invocation)) => invocation,
        };
        if let Some(end) = state.invoke(invocation, &config).await {
            break end;
        }
    };
    let (trigger, started, interrupted, fatal) = match end {
        End::Shutdown {
            trigger,
            started,
            interrupted,
        } => (trigger, started, interrupted, None),
        End::Fatal(e) => {
            tracing::error!(error = %chain(&e), "the runtime cannot go on");
            (Trigger::RuntimeApiError, Instant::now(), None, Some(e))
        }
    };
    token.cancel();
    let hooks = run_shutdown_hooks(shutdown_hooks, started + settings.shutdown_budget).await;
    let report = Report {
        trigger,
        interrupted,
        hooks,
        elapsed: started.elapsed(),
        budget: settings.shutdown_budget,
    };
    // One line, always: written with `eprintln!` rather than a tracing event so that it shows
    // whether or not the function installed a subscriber, whatever its level, as one write.
    eprintln!("[lambda-grace] {report}");
    match fatal {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

impl<H, Fut, R, E> Loop<'_, H>
where
    H: FnMut(Bytes, Context) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    R: Into<Response>,
    E: Into<Diagnostic>,
{
    /// Handles one invocation, inside a span that carries its request id; `Some` when the
    /// loop must end.
    async fn invoke(&mut self, invocation: Invocation, config: &Arc<Config>) -> Option<End> {
        let Invocation { headers, body } = invocation;
        // A cheap clone (the bytes are shared), kept to answer after the context moved.
        let Some(request_id) = headers.get(api::HDR_REQUEST_ID).cloned() else {
            return no_request_id();
        };
        let ctx = match Context::from_headers(headers, Arc::clone(config)) {
            Ok(ctx) => ctx,
            Err(ContextError::NoRequestId) => return no_request_id(),
            Err(ContextError::Invalid(diagnostic)) => {
                let id = request_id.to_str().unwrap_or_default();
                tracing::error!(request_id = id, error = %diagnostic.error_message, "invalid invocation");
                return self.answer(id, Err(diagnostic)).await;
            }
        };
        // Checked by `Context::from_headers`.
        let id = request_id.to_str().unwrap_or_default();
        if self.settings.export_trace_id {
            trace_env::export(ctx.xray_trace_id());
        }
        let span = tracing::info_span!("invoke", requestId = %id);
        self.handle(id, body, ctx).instrument(span).await
    }

    async fn handle(&mut self, id: &str, body: Bytes, ctx: Context) -> Option<End> {
        let handler = &mut *self.handler;
        let fut = match call_catching(|| handler(body, ctx)) {
            Ok(fut) => fut,
            Err(panic) => return self.answer(id, Err(panicked(&panic))).await,
        };
        // On this task's stack: no allocation per invocation.
        let mut fut = pin!(fut);
        let outcome =
            until_shutdown(self.signal, poll_fn(|cx| poll_catching(fut.as_mut(), cx))).await;
        let result = match outcome {
            Ok(Ok(Ok(response))) => Ok(response.into()),
            Ok(Ok(Err(e))) => Err(e.into()),
            Ok(Err(panic)) => Err(panicked(&panic)),
            Err(trigger) => {
                // A reset (timeout, crash) while the handler runs: it gets what is left of the
                // budget, then the hooks get the rest.
                let started = Instant::now();
                self.token.cancel();
                let deadline = started + self.settings.shutdown_budget;
                let finished =
                    timeout_at(deadline, poll_fn(|cx| poll_catching(fut.as_mut(), cx))).await;
                let outcome = match finished {
                    Ok(Ok(_)) => HandlerOutcome::Finished,
                    Ok(Err(_)) => HandlerOutcome::Panicked,
                    Err(_) => HandlerOutcome::Abandoned,
                };
                return Some(End::Shutdown {
                    trigger,
                    started,
                    interrupted: Some(InterruptedInvocation {
                        request_id: id.to_owned(),
                        outcome,
                        elapsed: started.elapsed(),
                    }),
                });
            }
        };
        self.answer(id, result).await
    }

    /// Posts the answer, then runs the flush hooks.
    async fn answer(&mut self, id: &str, result: Result<Response, Diagnostic>) -> Option<End> {
        let posted = match result {
            Ok(response) => self.client.post_response(id, response).await,
            Err(diagnostic) => {
                tracing::error!(
                    error_type = %diagnostic.error_type,
                    error = %diagnostic.error_message,
                    "invocation failed"
                );
                self.client.post_error(id, &diagnostic).await
            }
        };
        if let Err(e) = posted {
            return Some(End::Fatal(e));
        }
        run_flush_hooks(self.flush_hooks, self.settings.flush_timeout).await;
        None
    }
}

fn panicked(panic: &Panic) -> Diagnostic {
    Diagnostic::new(
        PANIC_ERROR_TYPE,
        format!("the handler panicked: {}", panic_message(panic.as_ref())),
    )
}

fn no_request_id() -> Option<End> {
    Some(End::Fatal(Error::InvalidEvent {
        reason: "no usable Lambda-Runtime-Aws-Request-Id header".into(),
    }))
}
