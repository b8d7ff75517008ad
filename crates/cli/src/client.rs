//! A small HTTP/1.1 client for the Invoke API and the control endpoints.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// An answer: status, headers, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Bytes,
}

/// The endpoint from `--endpoint`, `GRACE_ENDPOINT`, or the default.
pub(crate) fn endpoint(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("GRACE_ENDPOINT").ok())
        .unwrap_or_else(|| "http://127.0.0.1:9001".to_owned())
}

/// Sends one request to `endpoint` + `path`.
pub(crate) async fn send(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> anyhow::Result<Answer> {
    let authority = endpoint
        .strip_prefix("http://")
        .with_context(|| format!("endpoint `{endpoint}` must start with http://"))?
        .trim_end_matches('/');
    if authority.contains('/') {
        bail!("endpoint `{endpoint}` must be http://HOST:PORT");
    }
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("cannot connect to {endpoint} (is `grace serve` running?)"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = sender.send_request(req.body(Full::new(body))?).await?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        headers,
        body,
    })
}
