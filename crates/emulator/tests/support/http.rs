//! A raw HTTP/1.1 client that can send anything (malformed requests included) and bounds
//! every exchange with a timeout, and the answer parser the scripted runtime shares.

use std::net::SocketAddr;
use std::time::Duration;

/// A raw HTTP/1.1 request with `connection: close` and a `content-length`.
pub fn request(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut raw =
        format!("{method} {target} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n").into_bytes();
    for (k, v) in headers {
        raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    raw.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    raw.extend_from_slice(body);
    raw
}

/// The same request with a chunked body, cut into chunks of `chunk` bytes.
pub fn chunked_request(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    chunk: usize,
) -> Vec<u8> {
    let mut raw =
        format!("{method} {target} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n").into_bytes();
    for (k, v) in headers {
        raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    for part in body.chunks(chunk.max(1)) {
        raw.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        raw.extend_from_slice(part);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

/// Why an exchange produced no answer.
#[derive(Debug)]
pub enum Failure {
    /// Nothing within the limit: a hang.
    Hang,
    /// The connection closed (or broke) without an HTTP answer.
    Closed(String),
}

/// Sends `raw` on a fresh connection and reads the answer until the server closes.
pub async fn exchange(addr: SocketAddr, raw: &[u8], limit: Duration) -> Result<Reply, Failure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let run = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| Failure::Closed(format!("connect: {e}")))?;
        // The server may answer (and close) before the whole body is written: read anyway.
        let _ = s.write_all(raw).await;
        let mut out = Vec::new();
        let read = s.read_to_end(&mut out).await;
        match Reply::parse(&out) {
            Some(reply) => Ok(reply),
            None => Err(Failure::Closed(format!("{read:?}, {} bytes", out.len()))),
        }
    };
    tokio::time::timeout(limit, run)
        .await
        .unwrap_or(Err(Failure::Hang))
}

/// Sends `raw`, closes the sending side, and reads until the server closes: for bytes that may
/// not be HTTP at all. `Ok(None)`: closed without an answer.
pub async fn exchange_then_eof(
    addr: SocketAddr,
    raw: &[u8],
    limit: Duration,
) -> Result<Option<Reply>, Failure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let run = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| Failure::Closed(format!("connect: {e}")))?;
        let _ = s.write_all(raw).await;
        let _ = s.shutdown().await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        Ok(Reply::parse(&out))
    };
    tokio::time::timeout(limit, run)
        .await
        .unwrap_or(Err(Failure::Hang))
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn parse(raw: &[u8]) -> Option<Reply> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Some(Reply {
            status,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `errorType` of a `{"errorType","errorMessage"}` body, if it is one (both strings).
    pub fn error_type(&self) -> Option<String> {
        let v = self.json()?;
        v["errorMessage"].as_str()?;
        v["errorType"].as_str().map(str::to_owned)
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&data[..pos]);
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || data.len() < pos + 2 + size {
            break;
        }
        out.extend_from_slice(&data[pos + 2..pos + 2 + size]);
        data = data.get(pos + 2 + size + 2..).unwrap_or_default();
    }
    out
}

/// One keep-alive connection that sends requests one at a time and reads each answer by its
/// framing (`content-length`, chunked, or none for 204), so that a server which misreads where
/// a request ends shows up as a wrong answer to the next one.
pub struct KeepAlive {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            stream: tokio::net::TcpStream::connect(addr).await?,
            buf: Vec::new(),
        })
    }

    /// Sends `raw` (which must not say `connection: close`) and reads one answer; `None` when
    /// the server closed the connection instead of answering.
    pub async fn send(&mut self, raw: &[u8], head_request: bool) -> Option<Reply> {
        use tokio::io::AsyncWriteExt;
        let _ = self.stream.write_all(raw).await;
        let mut reply = loop {
            let end = loop {
                if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                self.fill().await?;
            };
            let reply = Reply::parse(&self.buf[..end])?;
            self.buf.drain(..end);
            // An interim answer (`100 Continue`) precedes the real one.
            if !(100..200).contains(&reply.status) {
                break reply;
            }
        };
        let length = reply
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        let chunked = reply
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"));
        if head_request || reply.status == 204 || reply.status == 304 {
            return Some(reply);
        }
        if chunked {
            // Through the last chunk and the (possibly empty) trailer block.
            let end = loop {
                if let Some(i) = find_chunked_end(&self.buf) {
                    break i;
                }
                self.fill().await?;
            };
            reply.body = dechunk(&self.buf[..end]);
            self.buf.drain(..end);
        } else {
            let n = length.unwrap_or(0);
            while self.buf.len() < n {
                self.fill().await?;
            }
            reply.body = self.buf.drain(..n).collect();
        }
        Some(reply)
    }

    async fn fill(&mut self) -> Option<()> {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }
}

/// Where a complete chunked body (with its trailers) ends in `data`, if it is all there.
fn find_chunked_end(data: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line = data[at..].windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[at..at + line]).trim(), 16).ok()?;
        at += line + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let next = data[at..].windows(2).position(|w| w == b"\r\n")?;
                at += next + 2;
                if next == 0 {
                    return Some(at);
                }
            }
        }
        if data.len() < at + size + 2 {
            return None;
        }
        at += size + 2;
    }
}

/// A keep-alive request: `content-length`, or chunked in chunks of `chunk` bytes.
pub fn keep_alive_request(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    chunk: Option<usize>,
) -> Vec<u8> {
    let close = match chunk {
        Some(n) => chunked_request(method, target, headers, body, n),
        None => request(method, target, headers, body),
    };
    let marker = b"connection: close\r\n";
    let at = close
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or(0);
    let mut raw = close[..at].to_vec();
    raw.extend_from_slice(&close[at + marker.len()..]);
    raw
}
