//! [`Runtime`]: configuration, options, init, hooks; `run` hands over to the invoke loop.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::api::post_init_error_blocking;
use crate::client::Client;
use crate::config::{Config, ConfigError, Endpoint, env_lookup};
use crate::context::Context;
use crate::error::{Diagnostic, Error, chain};
use crate::hooks::{FlushHook, ShutdownHook};
use crate::report::Report;
use crate::response::Response;
use crate::signal::ShutdownSignal;

/// The default shutdown budget: the 500 ms the platform gives a runtime whose only extensions
/// are internal (§4.4), minus 50 ms for the process to exit before the SIGKILL.
pub const DEFAULT_SHUTDOWN_BUDGET: Duration = Duration::from_millis(450);

/// The default limit for each flush hook.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(100);

/// The error type of init errors caused by the configuration (the platform's own example, §1.4).
const CONFIG_ERROR_TYPE: &str = "Runtime.ConfigInvalid";

/// A Lambda runtime: build it with [`Runtime::from_env`], register hooks, then [`run`] a
/// handler. See the [crate documentation](crate) for an example.
///
/// [`run`]: Runtime::run
pub struct Runtime {
    pub(crate) config: Arc<Config>,
    pub(crate) client: Client,
    pub(crate) signal: ShutdownSignal,
    pub(crate) settings: Settings,
    pub(crate) shutdown_hooks: Vec<ShutdownHook>,
    pub(crate) flush_hooks: Vec<FlushHook>,
    pub(crate) token: CancellationToken,
}

/// The options of a [`Runtime`].
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) register_extension: bool,
    pub(crate) shutdown_budget: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) export_trace_id: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: Vec<&str>| v.join(", ");
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("settings", &self.settings)
            .field(
                "shutdown_hooks",
                &names(self.shutdown_hooks.iter().map(|h| h.name()).collect()),
            )
            .field(
                "flush_hooks",
                &names(self.flush_hooks.iter().map(|h| h.name()).collect()),
            )
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts listening for SIGTERM, then reads the configuration from the process
    /// environment. A missing or malformed variable is reported to `/runtime/init/error` (when
    /// `AWS_LAMBDA_RUNTIME_API` itself is usable) and returned as [`Error::Config`].
    ///
    /// Must be called inside a tokio runtime (with its IO driver, as `#[tokio::main]` builds).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(env_lookup)
    }

    /// Like [`from_env`](Runtime::from_env), reading variables through `lookup`.
    // Not inlined into the caller (typically `main`'s future, under every poll of the invoke
    // loop): its temporaries would stay in that frame, and on the stack, for good.
    #[inline(never)]
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        // First, so that a SIGTERM during the rest of init is not missed.
        let signal = ShutdownSignal::listen()?;
        let endpoint = match lookup("AWS_LAMBDA_RUNTIME_API") {
            Some(value) => Endpoint::parse(&value)?,
            None => {
                return Err(ConfigError::Missing {
                    var: "AWS_LAMBDA_RUNTIME_API",
                }
                .into());
            }
        };
        let config = match Config::with_endpoint(endpoint.clone(), &lookup) {
            Ok(config) => config,
            Err(e) => {
                let diagnostic = Diagnostic::new(CONFIG_ERROR_TYPE, e.to_string());
                if let Err(io) = post_init_error_blocking(&endpoint, &diagnostic) {
                    tracing::error!(error = %io, "could not report the init error to the Runtime API");
                }
                return Err(e.into());
            }
        };
        Ok(Self {
            client: Client::new(&config.runtime_api),
            config: Arc::new(config),
            signal,
            settings: Settings {
                register_extension: true,
                shutdown_budget: DEFAULT_SHUTDOWN_BUDGET,
                flush_timeout: DEFAULT_FLUSH_TIMEOUT,
                export_trace_id: true,
            },
            shutdown_hooks: Vec::new(),
            flush_hooks: Vec::new(),
            token: CancellationToken::new(),
        })
    }

    /// The function's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs the function's initialisation code. If it fails, the error is reported to
    /// `/runtime/init/error` (the platform answers the first invocation with it) and returned
    /// as [`Error::Init`]: return it from `main` so that the process exits.
    pub async fn init<T, E, Fut>(&mut self, init: Fut) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Into<Diagnostic>,
    {
        match init.await {
            Ok(value) => Ok(value),
            Err(e) => {
                let diagnostic = e.into();
                if let Err(post) = self.client.post_init_error(&diagnostic).await {
                    tracing::error!(error = %chain(&post), "could not report the init error to the Runtime API");
                }
                Err(Error::Init(diagnostic))
            }
        }
    }

    /// Whether to register the no-op internal extension that makes the platform send SIGTERM
    /// (default: yes). Without any extension, Lambda SIGKILLs the runtime and no shutdown hook
    /// runs; turn it off only if another extension is registered.
    pub fn register_extension(mut self, on: bool) -> Self {
        self.settings.register_extension = on;
        self
    }

    /// The time the shutdown may take, from SIGTERM to the end of the last hook (default
    /// [`DEFAULT_SHUTDOWN_BUDGET`], 450 ms). With external extensions the platform gives the
    /// runtime only 300 ms: use 250 ms then.
    pub fn shutdown_budget(mut self, budget: Duration) -> Self {
        self.settings.shutdown_budget = budget;
        self
    }

    /// The limit for each flush hook (default [`DEFAULT_FLUSH_TIMEOUT`], 100 ms).
    pub fn flush_timeout(mut self, limit: Duration) -> Self {
        self.settings.flush_timeout = limit;
        self
    }

    /// Whether to export each invocation's trace header as `_X_AMZN_TRACE_ID` (default: yes,
    /// as the platform asks of custom runtimes; the AWS SDKs and X-Ray read it).
    ///
    /// The variable is one environment entry owned by the runtime and rewritten in place at
    /// each invocation, so it costs no memory per invocation (runtimes that call `setenv` each
    /// time, as `lambda_runtime` does, keep every value: about 140 bytes per invocation). Like
    /// any change to the environment, it races with a thread that reads the environment at the
    /// same moment; turn it off if the function has such threads.
    pub fn export_trace_id(mut self, on: bool) -> Self {
        self.settings.export_trace_id = on;
        self
    }

    /// Also shut down (gracefully, as on SIGTERM) when `signal` completes: for tests, or
    /// `tokio::signal::ctrl_c()` in local development. Lambda itself only sends SIGTERM.
    pub fn shutdown_on(mut self, signal: impl Future<Output = ()> + 'static) -> Self {
        self.signal.also_on(signal);
        self
    }

    /// A token cancelled at shutdown, before the hooks run: give it (or child tokens) to
    /// background tasks so they stop, then wait for them in a hook.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Registers a shutdown hook. Hooks run once, in reverse order of registration (what was
    /// opened last is closed first), each bounded by what is left of the shutdown budget; one
    /// that runs past it is abandoned and reported, and the next still runs.
    pub fn on_shutdown<F, Fut>(mut self, name: impl Into<Cow<'static, str>>, hook: F) -> Self
    where
        F: FnOnce() -> Fut + 'static,
        Fut: Future<Output = Result<(), Diagnostic>> + 'static,
    {
        self.shutdown_hooks.push(ShutdownHook::new(name, hook));
        self
    }

    /// Registers a flush hook: it runs after every invocation's answer is posted and before the
    /// next `/next` — the last moment before the platform may freeze the environment, after
    /// which timers do not fire. Flush hooks run in order of registration, each bounded by
    /// the [flush timeout](Runtime::flush_timeout).
    pub fn on_flush<F, Fut>(mut self, name: impl Into<Cow<'static, str>>, hook: F) -> Self
    where
        F: FnMut() -> Fut + 'static,
        Fut: Future<Output = Result<(), Diagnostic>> + 'static,
    {
        self.flush_hooks.push(FlushHook::new(name, hook));
        self
    }

    /// Runs a handler of JSON events until shutdown: each event is deserialised into `Ev`,
    /// the handler's value serialised as the answer. Resolves to the shutdown [`Report`] (also
    /// printed on stderr); an error only if the Runtime API failed.
    pub fn run<H, Fut, Ev, R, E>(
        self,
        mut handler: H,
    ) -> impl Future<Output = Result<Report, Error>>
    where
        H: FnMut(Ev, Context) -> Fut,
        Fut: Future<Output = Result<R, E>>,
        Ev: DeserializeOwned,
        R: Serialize,
        E: Into<Diagnostic>,
    {
        self.run_raw(move |body: Bytes, ctx: Context| {
            let call = serde_json::from_slice::<Ev>(&body).map(|event| handler(event, ctx));
            async move {
                match call {
                    Ok(fut) => match fut.await {
                        Ok(value) => Response::json(&value),
                        Err(e) => Err(e.into()),
                    },
                    Err(e) => Err(Diagnostic::new(
                        "Runtime.InvalidEvent",
                        format!(
                            "the event is not a valid {}: {e}",
                            std::any::type_name::<Ev>()
                        ),
                    )),
                }
            }
        })
    }

    /// Runs a handler of raw events until shutdown: it gets the payload's bytes and answers
    /// with anything that converts into a [`Response`] (bytes, a string, a streamed body).
    ///
    /// The loop's state (several kB: the connection, the pending requests) is boxed, once: the
    /// future returned here is a pointer, so the caller's future stays small and
    /// `block_on` does not copy the loop around the main thread's stack. (Not inlined, for the
    /// same reason: the state is built on the stack before it moves into its box.)
    #[inline(never)]
    pub fn run_raw<H, Fut, R, E>(self, handler: H) -> impl Future<Output = Result<Report, Error>>
    where
        H: FnMut(Bytes, Context) -> Fut,
        Fut: Future<Output = Result<R, E>>,
        R: Into<Response>,
        E: Into<Diagnostic>,
    {
        Box::pin(crate::invoke::run(self, handler))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        let value = match name {
            "AWS_LAMBDA_RUNTIME_API" => "127.0.0.1:9",
            "AWS_LAMBDA_FUNCTION_NAME" => "f",
            "AWS_LAMBDA_FUNCTION_VERSION" => "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => "128",
            _ => return None,
        };
        Some(value.to_owned())
    }

    #[tokio::test]
    async fn the_loop_is_boxed_so_the_callers_future_is_a_pointer() {
        let handler = |body: Bytes, _ctx: Context| async move { Ok::<_, Diagnostic>(body) };
        let boxed = Runtime::from_lookup(lookup).unwrap().run_raw(handler);
        assert_eq!(size_of_val(&boxed), size_of::<usize>());
        // Negative control: what `run_raw` boxes is several kB (the client with its
        // connection, the pending requests), which `block_on` would copy on the stack.
        let unboxed = crate::invoke::run(Runtime::from_lookup(lookup).unwrap(), handler);
        assert!(
            size_of_val(&unboxed) > 2048,
            "{} bytes",
            size_of_val(&unboxed)
        );
    }
}
