//! A tower `Service` as the function's handler, on lambda-grace's runtime: the same
//! [`Runtime`] builder, the same shutdown and flush hooks, the same loop.
//!
//! The runtime calls its handler once per invocation, strictly in turn, and a handler's
//! future owns what it uses. So the service is *lent* to each invocation's future and given
//! back when that future ends (or is dropped: a panic in the service is reported by the
//! runtime, and the service is back for the next event). No `Clone`, `Send` or `Sync` is
//! asked of the service; its response body must be `Send` to be streamed.

use std::cell::RefCell;
use std::future::{Future, poll_fn, ready};
use std::rc::Rc;

use aws_lambda_events::encodings::Body;
use bytes::Bytes;
use lambda_grace::{Context, Diagnostic, Report, Response, Runtime};
use tower::Service;

use crate::error::{BoxError, Error};
use crate::options::HttpOptions;
use crate::request::into_request;
use crate::response::{collect, encode};
use crate::stream::{HTTP_INTEGRATION_CONTENT_TYPE, StreamingBody, prelude};

async fn call<S, B>(
    service: &mut S,
    request: http::Request<Body>,
) -> Result<http::Response<B>, Error>
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
{
    poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(|e| Error::Service(e.into()))?;
    service
        .call(request)
        .await
        .map_err(|e| Error::Service(e.into()))
}

/// Answers one event with `service`, buffered: `payload` becomes a request, and the response
/// the JSON answer of the event's kind. Also a way to test a router with event samples,
/// without a runtime.
pub async fn invoke<S, B>(
    service: &mut S,
    payload: &[u8],
    options: &HttpOptions,
    ctx: Option<Context>,
) -> Result<Bytes, Error>
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let (request, shape) = into_request(payload, options, ctx)?;
    tracing::debug!(?shape, method = %request.method(), uri = %request.uri(), "HTTP request");
    let (parts, body) = call(service, request).await?.into_parts();
    let body = collect(body).await?;
    encode(shape, parts.status, &parts.headers, &body).map(Bytes::from)
}

/// Answers one event with `service`, streamed: the prelude, 8 NUL bytes, then the service's
/// body as it comes (the whole of it is what the runtime posts, see `stream`).
pub async fn invoke_streaming<S, B>(
    service: &mut S,
    payload: &[u8],
    options: &HttpOptions,
    ctx: Option<Context>,
) -> Result<StreamingBody<B>, Error>
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let (request, shape) = into_request(payload, options, ctx)?;
    tracing::debug!(?shape, method = %request.method(), uri = %request.uri(), "HTTP request, streamed answer");
    let (parts, body) = call(service, request).await?.into_parts();
    Ok(StreamingBody::new(
        prelude(parts.status, &parts.headers)?,
        body,
    ))
}

/// The service, lent to one invocation at a time.
struct Lease<S> {
    service: Option<S>,
    home: Rc<RefCell<Option<S>>>,
}

impl<S> Lease<S> {
    fn take(home: &Rc<RefCell<Option<S>>>) -> Result<Self, Diagnostic> {
        match home.borrow_mut().take() {
            Some(service) => Ok(Self {
                service: Some(service),
                home: Rc::clone(home),
            }),
            // Only if an earlier invocation's future were still alive: the runtime does not
            // do that, but a diagnostic is better than a panic.
            None => Err(Diagnostic::new(
                "Http.ServiceBusy",
                "the HTTP service is in use",
            )),
        }
    }

    fn get(&mut self) -> Result<&mut S, Diagnostic> {
        self.service
            .as_mut()
            .ok_or_else(|| Diagnostic::new("Http.ServiceBusy", "the HTTP service is in use"))
    }
}

impl<S> Drop for Lease<S> {
    fn drop(&mut self) {
        if let Some(service) = self.service.take() {
            *self.home.borrow_mut() = Some(service);
        }
    }
}

/// Runs `service` until shutdown, answering buffered; the options come from the environment
/// ([`HttpOptions::from_env`]; a bad value is an init error, reported to the platform).
pub async fn run<S, B>(mut runtime: Runtime, service: S) -> Result<Report, lambda_grace::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let options = options_at_init(&mut runtime).await?;
    run_with(runtime, options, service).await
}

/// The options from the environment, read during init (a bad value is an init error).
async fn options_at_init(runtime: &mut Runtime) -> Result<HttpOptions, lambda_grace::Error> {
    runtime
        .init(ready(
            HttpOptions::from_env().map_err(|e| e.to_diagnostic()),
        ))
        .await
}

/// Like [`run`], with these options.
pub fn run_with<S, B>(
    runtime: Runtime,
    options: HttpOptions,
    service: S,
) -> impl Future<Output = Result<Report, lambda_grace::Error>>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let home = Rc::new(RefCell::new(Some(service)));
    let options = Rc::new(options);
    runtime.run_raw(move |payload: Bytes, ctx: Context| {
        let lease = Lease::take(&home);
        let options = Rc::clone(&options);
        async move {
            let mut lease = lease?;
            let answer = invoke(lease.get()?, &payload, &options, Some(ctx)).await;
            drop(lease);
            match answer {
                Ok(json) => Ok(Response::new(json).with_content_type("application/json")),
                Err(e) => Err(e.to_diagnostic()),
            }
        }
    })
}

/// Runs `service` until shutdown, streaming every answer (for Function URLs whose invoke mode
/// is `RESPONSE_STREAM`); options as in [`run`].
pub async fn run_streaming<S, B>(
    mut runtime: Runtime,
    service: S,
) -> Result<Report, lambda_grace::Error>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let options = options_at_init(&mut runtime).await?;
    run_streaming_with(runtime, options, service).await
}

/// Like [`run_streaming`], with these options.
pub fn run_streaming_with<S, B>(
    runtime: Runtime,
    options: HttpOptions,
    service: S,
) -> impl Future<Output = Result<Report, lambda_grace::Error>>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    let home = Rc::new(RefCell::new(Some(service)));
    let options = Rc::new(options);
    runtime.run_raw(move |payload: Bytes, ctx: Context| {
        let lease = Lease::take(&home);
        let options = Rc::clone(&options);
        async move {
            let mut lease = lease?;
            let answer = invoke_streaming(lease.get()?, &payload, &options, Some(ctx)).await;
            // The body is the service's own: it streams on after the service is given back.
            drop(lease);
            match answer {
                Ok(body) => {
                    Ok(Response::streaming(body).with_content_type(HTTP_INTEGRATION_CONTENT_TYPE))
                }
                Err(e) => Err(e.to_diagnostic()),
            }
        }
    })
}

/// [`run`] and [`run_streaming`] as methods of the runtime, so an HTTP function reads like
/// any other: `Runtime::from_env()?.on_shutdown(…).run_http(router).await?`.
pub trait RuntimeExt {
    /// See [`run`].
    fn run_http<S, B>(
        self,
        service: S,
    ) -> impl Future<Output = Result<Report, lambda_grace::Error>>
    where
        S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body,
        B::Error: Into<BoxError>;

    /// See [`run_streaming`].
    fn run_http_streaming<S, B>(
        self,
        service: S,
    ) -> impl Future<Output = Result<Report, lambda_grace::Error>>
    where
        S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>;
}

impl RuntimeExt for Runtime {
    fn run_http<S, B>(self, service: S) -> impl Future<Output = Result<Report, lambda_grace::Error>>
    where
        S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        run(self, service)
    }

    fn run_http_streaming<S, B>(
        self,
        service: S,
    ) -> impl Future<Output = Result<Report, lambda_grace::Error>>
    where
        S: Service<http::Request<Body>, Response = http::Response<B>> + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        run_streaming(self, service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_lent_to_one_invocation_and_given_back() {
        let home = Rc::new(RefCell::new(Some(7_u8)));
        let mut lease = Lease::take(&home).unwrap();
        assert_eq!(*lease.get().unwrap(), 7);
        // While lent, a second invocation is refused, not panicked on.
        let Err(busy) = Lease::take(&home) else {
            panic!("lent twice")
        };
        assert_eq!(busy.error_type, "Http.ServiceBusy");
        drop(lease);
        assert_eq!(*home.borrow(), Some(7), "given back when the future ends");
    }

    #[test]
    fn a_panic_while_lent_still_gives_the_service_back() {
        let home = Rc::new(RefCell::new(Some(String::from("svc"))));
        let lent = Rc::clone(&home);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _lease = Lease::take(&lent).unwrap();
            panic!("in the service");
        }));
        assert!(caught.is_err());
        assert_eq!(home.borrow().as_deref(), Some("svc"));
    }
}
