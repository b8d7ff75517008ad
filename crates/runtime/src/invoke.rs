//! The invoke loop: `/next` → handler → `/response` or `/error` → flush hooks, with SIGTERM
//! watched all along; then the shutdown: cancel the token, run the hooks, print the report.
//!
//! Everything runs on the caller's task: the handler's future is polled in place (inside
//! `catch_unwind`, so a panic is reported and the loop goes on), with no task spawned per
//! invocation and no hand-off between threads. Only [`call`] depends on the handler's type;
//! the rest is compiled once, whatever the number of handlers.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::Invocation;
use crate::client::Client;
use crate::config::Config;
use crate::context::{Context, ContextError};
use crate::error::{Diagnostic, Error, chain};
use crate::hooks::{FlushHook, ShutdownHook, run_flush_hooks, run_shutdown_hooks};
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

/// Everything of the runtime but the handler and the shutdown hooks.
struct Session {
    config: Arc<Config>,
    client: Client,
    signal: ShutdownSignal,
    settings: Settings,
    flush_hooks: Vec<FlushHook>,
    token: CancellationToken,
    /// The buffer [`Ready::request_id`] is copied into, handed back after each invocation.
    id_buf: String,
}

/// An event ready for the handler.
struct Ready {
    request_id: String,
    body: Bytes,
    ctx: Context,
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
        client,
        signal,
        settings,
        shutdown_hooks,
        flush_hooks,
        token,
    } = runtime;
    let mut session = Session {
        config,
        client,
        signal,
        settings,
        flush_hooks,
        token,
        id_buf: String::new(),
    };
    // Before the first `/next`, which closes extension registration.
    let parked = if session.settings.register_extension {
        extension::start(&mut session.client).await
    } else {
        None
    };
    let end = loop {
        let ready = match session.next().await {
            Ok(Some(ready)) => ready,
            Ok(None) => continue,
            Err(end) => break end,
        };
        let Ready {
            request_id,
            body,
            ctx,
        } = ready;
        let id = request_id.as_str();
        let span = tracing::info_span!("invoke", requestId = %id);
        let step = async {
            let result = call(&mut session, &mut handler, id, body, ctx).await?;
            session.answer(id, result).await
        };
        let stepped = step.instrument(span).await;
        session.id_buf = request_id;
        if let Err(end) = stepped {
            break end;
        }
    };
    drop(parked);
    session.finish(end, shutdown_hooks).await
}

/// Runs the handler on one event, watching the shutdown triggers. `Err` when the shutdown
/// began meanwhile: the handler was given what is left of the budget.
async fn call<H, Fut, R, E>(
    session: &mut Session,
    handler: &mut H,
    id: &str,
    body: Bytes,
    ctx: Context,
) -> Result<Result<Response, Diagnostic>, End>
where
    H: FnMut(Bytes, Context) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    R: Into<Response>,
    E: Into<Diagnostic>,
{
    let fut = match call_catching(|| handler(body, ctx)) {
        Ok(fut) => fut,
        Err(panic) => return Ok(Err(panicked(&panic))),
    };
    // On this task's stack: no allocation per invocation.
    let mut fut = pin!(fut);
    let outcome = until_shutdown(
        &mut session.signal,
        pin!(poll_fn(|cx| poll_catching(fut.as_mut(), cx))),
    )
    .await;
    match outcome {
        Ok(Ok(Ok(response))) => Ok(Ok(response.into())),
        Ok(Ok(Err(e))) => Ok(Err(e.into())),
        Ok(Err(panic)) => Ok(Err(panicked(&panic))),
        Err(trigger) => {
            // A reset (timeout, crash) while the handler runs: it gets what is left of the
            // budget, then the hooks get the rest. Its answer is not posted: the platform
            // has already failed the invocation.
            let started = Instant::now();
            session.token.cancel();
            let deadline = started + session.settings.shutdown_budget;
            let finished =
                timeout_at(deadline, poll_fn(|cx| poll_catching(fut.as_mut(), cx))).await;
            let outcome = match finished {
                Ok(Ok(_)) => HandlerOutcome::Finished,
                Ok(Err(_)) => HandlerOutcome::Panicked,
                Err(_) => HandlerOutcome::Abandoned,
            };
            Err(End::Shutdown {
                trigger,
                started,
                interrupted: Some(InterruptedInvocation {
                    request_id: id.to_owned(),
                    outcome,
                    elapsed: started.elapsed(),
                }),
            })
        }
    }
}

impl Session {
    /// Waits for the next event (or a shutdown trigger) and prepares it; `Ok(None)` when the
    /// event was answered already (its context was invalid).
    async fn next(&mut self) -> Result<Option<Ready>, End> {
        let Invocation { headers, body } =
            match until_shutdown(&mut self.signal, pin!(self.client.next())).await {
                Err(trigger) => {
                    return Err(End::Shutdown {
                        trigger,
                        started: Instant::now(),
                        interrupted: None,
                    });
                }
                Ok(Err(e)) => return Err(End::Fatal(e)),
                Ok(Ok(invocation)) => invocation,
            };
        match Context::from_headers(headers, Arc::clone(&self.config)) {
            Ok(ctx) => {
                // Kept to answer after the context moved: a copy, into a buffer reused from
                // one invocation to the next (not a clone, which would keep the buffer hyper
                // read `/next` into alive for as long as the user keeps the context).
                let mut request_id = std::mem::take(&mut self.id_buf);
                request_id.clear();
                request_id.push_str(ctx.request_id());
                if self.settings.export_trace_id {
                    trace_env::export(ctx.xray_trace_id());
                }
                Ok(Some(Ready {
                    request_id,
                    body,
                    ctx,
                }))
            }
            Err(ContextError::NoRequestId) => Err(no_request_id()),
            Err(ContextError::Invalid(request_id, diagnostic)) => {
                let id = request_id.to_str().unwrap_or_default();
                tracing::error!(request_id = id, error = %diagnostic.error_message, "invalid invocation");
                self.answer(id, Err(diagnostic)).await.map(|()| None)
            }
        }
    }

    /// Posts the answer (a streamed one may take long: SIGTERM is watched meanwhile), then runs
    /// the flush hooks.
    async fn answer(&mut self, id: &str, result: Result<Response, Diagnostic>) -> Result<(), End> {
        let client = &mut self.client;
        let post = async {
            match result {
                Ok(response) => client.post_response(id, response).await,
                Err(diagnostic) => {
                    tracing::error!(
                        error_type = %diagnostic.error_type,
                        error = %diagnostic.error_message,
                        "invocation failed"
                    );
                    client.post_error(id, &diagnostic).await
                }
            }
        };
        match until_shutdown(&mut self.signal, pin!(post)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(End::Fatal(e)),
            Err(trigger) => {
                tracing::warn!("shutdown while posting the answer; the post is abandoned");
                return Err(End::Shutdown {
                    trigger,
                    started: Instant::now(),
                    interrupted: None,
                });
            }
        }
        // SIGTERM may come while the flush hooks run (a reset right after the answer): the
        // flush still finishes — it is what saves the data — but the budget counts from the
        // signal, not from the end of the flush.
        let mut flush = pin!(run_flush_hooks(
            &mut self.flush_hooks,
            self.settings.flush_timeout
        ));
        match until_shutdown(&mut self.signal, flush.as_mut()).await {
            Ok(()) => Ok(()),
            Err(trigger) => {
                let started = Instant::now();
                let _ = timeout_at(started + self.settings.shutdown_budget, flush).await;
                Err(End::Shutdown {
                    trigger,
                    started,
                    interrupted: None,
                })
            }
        }
    }

    /// The shutdown: cancel the token, run the hooks inside the budget, print the report.
    async fn finish(self, end: End, hooks: Vec<ShutdownHook>) -> Result<Report, Error> {
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
        self.token.cancel();
        let budget = self.settings.shutdown_budget;
        let hooks = run_shutdown_hooks(hooks, started + budget).await;
        let report = Report {
            trigger,
            interrupted,
            hooks,
            elapsed: started.elapsed(),
            budget,
        };
        // One line on stderr, always: written directly rather than as a tracing event so that
        // it shows whether or not the function installed a subscriber, whatever its level, in
        // one write. Not `eprintln!`, which panics if stderr is gone.
        let line = format!("[lambda-grace] {report}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        match fatal {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

fn panicked(panic: &Panic) -> Diagnostic {
    Diagnostic::new(
        PANIC_ERROR_TYPE,
        format!("the handler panicked: {}", panic_message(panic.as_ref())),
    )
}

fn no_request_id() -> End {
    End::Fatal(Error::InvalidEvent {
        reason: "no usable Lambda-Runtime-Aws-Request-Id header".into(),
    })
}
