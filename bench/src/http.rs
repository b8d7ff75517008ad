//! A minimal blocking HTTP/1.1 client (one request per connection), enough to check that a
//! system echoes before it is measured, and to probe RIE with concurrent invokes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The event every benchmark sends.
pub(crate) const EVENT: &str = r#"{"hello":"world"}"#;

/// A response: status code and (de-chunked) body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Splits `http://HOST:PORT/PATH` into a socket address and a path.
pub(crate) fn split_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http URL: {url}"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = host
        .parse()
        .map_err(|e| format!("bad address in {url}: {e}"))?;
    let path = if path.is_empty() { "/" } else { path };
    Ok((addr, path.to_owned()))
}

/// POSTs `body` to `url` with `Connection: close` and reads the whole response.
pub(crate) fn post(url: &str, body: &str, timeout: Duration) -> Result<Response, String> {
    request("POST", url, body, timeout)
}

/// GETs `url` with `Connection: close` and reads the whole response.
pub(crate) fn get(url: &str, timeout: Duration) -> Result<Response, String> {
    request("GET", url, "", timeout)
}

fn request(method: &str, url: &str, body: &str, timeout: Duration) -> Result<Response, String> {
    let (addr, path) = split_url(url)?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending to {addr}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("reading from {addr}: {e}"))?;
    parse_response(&raw)
}

/// POSTs [`EVENT`] until the answer is a 200 echoing it, or `limit` passes (a system may still
/// be initialising).
pub(crate) fn wait_echo(url: &str, limit: Duration) -> Result<(), String> {
    let end = Instant::now() + limit;
    loop {
        let err = match post(url, EVENT, Duration::from_secs(5)) {
            Ok(r) if r.status == 200 && is_echo(&r.body) => return Ok(()),
            Ok(r) => format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body)),
            Err(e) => e,
        };
        if Instant::now() >= end {
            return Err(format!("no echo from {url} within {limit:?}: {err}"));
        }
        crate::procs::sleep(Duration::from_millis(50))?;
    }
}

/// Whether `body` is the JSON of [`EVENT`].
pub(crate) fn is_echo(body: &[u8]) -> bool {
    let want: Result<serde_json::Value, _> = serde_json::from_str(EVENT);
    let got: Result<serde_json::Value, _> = serde_json::from_slice(body);
    matches!((want, got), (Ok(w), Ok(g)) if w == g)
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    if raw.is_empty() {
        return Err("connection closed without a response".into());
    }
    let head_end = find(raw, b"\r\n\r\n").ok_or("connection closed in the middle of a response")?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).ok_or("truncated chunk")?);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{\"hello\":\"world\"}";
        let r = parse_response(plain).unwrap();
        assert_eq!(r.status, 200);
        assert!(is_echo(&r.body));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"hel\r\nc\r\nlo\":\"world\"}\r\n0\r\n\r\n";
        let r = parse_response(chunked).unwrap();
        assert!(is_echo(&r.body), "{:?}", String::from_utf8_lossy(&r.body));
    }

    #[test]
    fn urls() {
        let (addr, path) = split_url("http://127.0.0.1:9001/2015-03-31/x").unwrap();
        assert_eq!(addr.port(), 9001);
        assert_eq!(path, "/2015-03-31/x");
    }
}
