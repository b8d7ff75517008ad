//! A minimal blocking HTTP/1.1 client (one request per connection), enough to check that a
//! system echoes before it is measured, and to probe RIE with concurrent invokes.

use crate::error::{Error, Result, unexpected};
use std::io::{BufRead, BufReader, Read, Write};
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
pub(crate) fn split_url(url: &str) -> Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| unexpected!("not an http URL: {url}"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr = host
        .parse()
        .map_err(|e| unexpected!("bad address in {url}: {e}"))?;
    let path = if path.is_empty() { "/" } else { path };
    Ok((addr, path.to_owned()))
}

/// POSTs `body` to `url` with `Connection: close` and reads the whole response.
pub(crate) fn post(url: &str, body: &str, timeout: Duration) -> Result<Response> {
    request("POST", url, body, timeout)
}

/// GETs `url` with `Connection: close` and reads the whole response.
pub(crate) fn get(url: &str, timeout: Duration) -> Result<Response> {
    request("GET", url, "", timeout)
}

fn request(method: &str, url: &str, body: &str, timeout: Duration) -> Result<Response> {
    let (addr, path) = split_url(url)?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(Error::io(format!("connecting to {addr}")))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(Error::io("setting socket timeouts"))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(Error::io(format!("sending to {addr}")))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(Error::io(format!("reading from {addr}")))?;
    parse_response(&raw)
}

/// A keep-alive HTTP/1.1 connection for many requests in a row (the soak's callers).
#[derive(Debug)]
pub(crate) struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

/// Where a keep-alive request failed: before the request was fully sent (nothing was asked),
/// or after (the request may have been served: its answer is lost).
#[derive(Debug)]
pub(crate) enum ConnError {
    Send(Error),
    Receive(Error),
}

impl Conn {
    /// Connects to `addr` with `timeout` for the connection and every read and write.
    pub(crate) fn open(addr: SocketAddr, timeout: Duration) -> Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(Error::io(format!("connecting to {addr}")))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(Error::io("setting socket options"))?;
        Ok(Self {
            addr,
            reader: BufReader::new(stream),
        })
    }

    /// POSTs `body` to `path` and reads the answer (Content-Length or chunked); the
    /// connection stays open unless the server said `Connection: close` (then `Err` next time).
    pub(crate) fn post(&mut self, path: &str, body: &str) -> Result<Response, ConnError> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(|e| ConnError::Send(Error::io(format!("sending to {}", self.addr))(e)))?;
        self.read_response().map_err(ConnError::Receive)
    }

    fn read_response(&mut self) -> Result<Response> {
        let ctx = || format!("reading from {}", self.addr);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).map_err(Error::io(ctx()))?;
            if n == 0 {
                return Err(unexpected!(
                    "{}: connection closed without a response",
                    ctx()
                ));
            }
            if line == "\r\n" {
                break;
            }
            head += &line;
        }
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| unexpected!("bad status line in {head:?}"))?;
        let mut length = None;
        let mut chunked = false;
        for l in lines {
            let l = l.to_ascii_lowercase();
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            } else if l.starts_with("transfer-encoding:") && l.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).map_err(Error::io(ctx()))?;
                let hex = size.split(';').next().unwrap_or("").trim();
                let n = usize::from_str_radix(hex, 16)
                    .map_err(|_| unexpected!("bad chunk size {size:?}"))?;
                let mut chunk = vec![0; n + 2];
                self.reader
                    .read_exact(&mut chunk)
                    .map_err(Error::io(ctx()))?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body.resize(length.unwrap_or(0), 0);
            self.reader
                .read_exact(&mut body)
                .map_err(Error::io(ctx()))?;
        }
        Ok(Response { status, body })
    }
}

/// POSTs [`EVENT`] until the answer is a 200 echoing it, or `limit` passes (a system may still
/// be initialising).
pub(crate) fn wait_echo(url: &str, limit: Duration) -> Result<()> {
    let end = Instant::now() + limit;
    loop {
        let err = match post(url, EVENT, Duration::from_secs(5)) {
            Ok(r) if r.status == 200 && is_echo(&r.body) => return Ok(()),
            Ok(r) => format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body)),
            Err(e) => crate::error::chain(&e),
        };
        if Instant::now() >= end {
            return Err(unexpected!("no echo from {url} within {limit:?}: {err}"));
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

fn parse_response(raw: &[u8]) -> Result<Response> {
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
        .ok_or_else(|| unexpected!("bad status line in {head:?}"))?;
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

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
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
