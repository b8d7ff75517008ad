//! Reading one HTTP/1.1 response off a buffered stream.
//!
//! The parser works on any [`BufRead`], so the unit tests below feed it byte strings, and the
//! client ([`crate::http`]) feeds it the persistent connection. A [`Response`] is a set of
//! buffers that the caller reuses from one request to the next: after the first few invokes the
//! echo path reads responses without allocating.
//!
//! Body framing, in the order RFC 9112 §6.3 applies it: `Transfer-Encoding: chunked`, then
//! `Content-Length`, then "no body" for 1xx/204/304, else "read until the server closes". Only
//! the last one ends the connection's reuse (besides an explicit `Connection: close`).

use std::borrow::Cow;
use std::io::{self, BufRead, Read};
use std::ops::Range;

/// Refuse a response head larger than this, so a confused peer cannot grow memory forever.
const MAX_HEAD: usize = 64 * 1024;

/// One parsed response; every buffer is kept (cleared) for the next parse.
#[derive(Debug, Default)]
pub(crate) struct Response {
    /// Status code, e.g. 200.
    pub(crate) status: u16,
    /// Decoded body (chunked framing removed).
    pub(crate) body: Vec<u8>,
    /// Raw head: status line and header lines, as received.
    head: Vec<u8>,
    /// (name, value) ranges into `head`, values trimmed.
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// Whether the connection may carry another request after this response.
    keep_alive: bool,
}

impl Response {
    /// The first header called `name` (ASCII case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header in the order received.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        // The head was checked to be UTF-8 while parsing, so the fallback never shows.
        self.headers.iter().map(|(n, v)| {
            let text = |r: &Range<usize>| std::str::from_utf8(&self.head[r.clone()]).unwrap_or("");
            (text(n), text(v))
        })
    }

    /// The body as text, for log lines.
    pub(crate) fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Whether the server lets us send another request on this connection.
    pub(crate) fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    fn clear(&mut self) {
        self.status = 0;
        self.body.clear();
        self.head.clear();
        self.headers.clear();
        self.keep_alive = false;
    }
}

/// How the body of a response is delimited.
enum Framing {
    Chunked,
    Length(u64),
    Empty,
    UntilClose,
}

/// Reads one complete response (skipping interim 1xx ones) into `resp`.
///
/// An end of stream before the first byte is reported as `UnexpectedEof` too: for a client that
/// just sent a request, a closed connection is a lost connection.
pub(crate) fn read_response<R: BufRead>(r: &mut R, resp: &mut Response) -> io::Result<()> {
    loop {
        resp.clear();
        let http10 = read_head(r, resp)?;
        if (100..200).contains(&resp.status) && resp.status != 101 {
            continue; // e.g. 100 Continue: the real answer follows
        }
        let framing = framing(resp)?;
        resp.keep_alive = keep_alive(resp, http10);
        match framing {
            Framing::Chunked => read_chunked(r, resp)?,
            Framing::Length(n) => read_exact_into(r, n, &mut resp.body)?,
            Framing::Empty => {}
            Framing::UntilClose => {
                r.read_to_end(&mut resp.body)?;
                resp.keep_alive = false;
            }
        }
        return Ok(());
    }
}

/// Reads the status line and headers; returns whether the peer spoke HTTP/1.0.
fn read_head<R: BufRead>(r: &mut R, resp: &mut Response) -> io::Result<bool> {
    let status_end = read_line(r, &mut resp.head)?;
    let status_line = std::str::from_utf8(&resp.head[..status_end])
        .map_err(|_| bad("status line is not UTF-8"))?;
    let mut parts = status_line.split_ascii_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1.x status line"));
    }
    resp.status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("bad status code"))?;
    let http10 = version == "HTTP/1.0";

    loop {
        let start = resp.head.len();
        let end = read_line(r, &mut resp.head)?;
        if end == start {
            return Ok(http10);
        }
        let line =
            std::str::from_utf8(&resp.head[start..end]).map_err(|_| bad("header is not UTF-8"))?;
        let colon = line
            .find(':')
            .ok_or_else(|| bad("header line without ':'"))?;
        let value = &line[colon + 1..];
        let trimmed = value.trim();
        let value_start = start + colon + 1 + (value.len() - value.trim_start().len());
        let name = start..start + colon;
        resp.headers
            .push((name, value_start..value_start + trimmed.len()));
        if resp.head.len() > MAX_HEAD {
            return Err(bad("response head too large"));
        }
    }
}

fn framing(resp: &Response) -> io::Result<Framing> {
    if let Some(te) = resp.header("transfer-encoding") {
        let last = te.rsplit(',').next().unwrap_or("").trim();
        return Ok(if last.eq_ignore_ascii_case("chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    if let Some(len) = resp.header("content-length") {
        let n = len.parse().map_err(|_| bad("bad Content-Length"))?;
        return Ok(Framing::Length(n));
    }
    if resp.status == 204 || resp.status == 304 {
        return Ok(Framing::Empty);
    }
    Ok(Framing::UntilClose)
}

fn keep_alive(resp: &Response, http10: bool) -> bool {
    let has = |token: &str| {
        resp.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if http10 {
        has("keep-alive")
    } else {
        !has("close")
    }
}

/// Decodes a chunked body into `resp.body`; chunk extensions and trailers are read and dropped.
fn read_chunked<R: BufRead>(r: &mut R, resp: &mut Response) -> io::Result<()> {
    // Size lines and trailers are read into the tail of `head` and cut off again.
    let mark = resp.head.len();
    loop {
        let end = read_line(r, &mut resp.head)?;
        let line = std::str::from_utf8(&resp.head[mark..end]).map_err(|_| bad("bad chunk size"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        resp.head.truncate(mark);
        if size == 0 {
            break;
        }
        read_exact_into(r, size, &mut resp.body)?;
        let end = read_line(r, &mut resp.head)?;
        resp.head.truncate(mark);
        if end != mark {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
    // Trailer section: header lines up to an empty line.
    loop {
        let end = read_line(r, &mut resp.head)?;
        let empty = end == mark;
        resp.head.truncate(mark);
        if empty {
            return Ok(());
        }
    }
}

fn read_exact_into<R: Read>(r: &mut R, n: u64, buf: &mut Vec<u8>) -> io::Result<()> {
    let before = buf.len();
    buf.reserve(usize::try_from(n).map_err(|_| bad("body too large"))?);
    r.take(n).read_to_end(buf)?;
    if ((buf.len() - before) as u64) < n {
        return Err(eof("connection closed in the middle of a body"));
    }
    Ok(())
}

/// Appends one line to `buf` and returns the end of its content (CRLF or LF excluded).
fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let start = buf.len();
    let n = r.take(MAX_HEAD as u64).read_until(b'\n', buf)?;
    if n == 0 {
        return Err(eof("connection closed by the server"));
    }
    if buf.last() != Some(&b'\n') {
        return Err(if n >= MAX_HEAD {
            bad("line too long")
        } else {
            eof("connection closed mid-line")
        });
    }
    let mut end = buf.len() - 1;
    if end > start && buf[end - 1] == b'\r' {
        end -= 1;
    }
    Ok(end)
}

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn eof(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, msg)
}

#[cfg(test)]
mod tests;
