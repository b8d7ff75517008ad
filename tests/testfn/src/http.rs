//! A minimal blocking HTTP/1.1 client over one persistent `TcpStream`.
//!
//! One [`Conn`] is one keep-alive connection: requests are written with `Content-Length` (never
//! chunked), and responses are read with [`crate::response::read_response`]. The connection is
//! opened lazily and reopened only when the server said it would not take another request
//! (`Connection: close`, HTTP/1.0, or a body delimited by closing). A request that fails on I/O
//! is *not* retried: for this fixture a broken Runtime API connection is an event the emulator's
//! tests want to see, not something to paper over. No timeouts are set: `/next` is a long poll.

use crate::response::{Response, read_response};
use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::TcpStream;

/// Bodies up to this size are copied behind the head and sent with a single write.
const COALESCE_LIMIT: usize = 64 * 1024;

/// A keep-alive HTTP/1.1 connection to `addr` (`host:port`).
#[derive(Debug)]
pub(crate) struct Conn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
    /// Reused buffer for the request head (and small bodies).
    out: Vec<u8>,
}

impl Conn {
    /// A connection to `addr`; nothing is opened until the first request.
    pub(crate) fn new(addr: &str) -> Self {
        Conn {
            addr: addr.to_owned(),
            stream: None,
            out: Vec::with_capacity(1024),
        }
    }

    /// Sends one request and reads its response into `resp` (whose buffers are reused).
    ///
    /// `Content-Length` is sent whenever there is a body or the method is not GET/HEAD.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: fmt::Arguments<'_>,
        headers: &[(&str, &str)],
        body: &[u8],
        resp: &mut Response,
    ) -> io::Result<()> {
        let result = self.exchange(method, path, headers, body, resp);
        if result.is_err() || !resp.keep_alive() {
            self.stream = None;
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: fmt::Arguments<'_>,
        headers: &[(&str, &str)],
        body: &[u8],
        resp: &mut Response,
    ) -> io::Result<()> {
        let stream = connected(&mut self.stream, &self.addr)?;

        self.out.clear();
        write!(
            self.out,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n",
            self.addr
        )?;
        for (name, value) in headers {
            write!(self.out, "{name}: {value}\r\n")?;
        }
        if !body.is_empty() || !(method == "GET" || method == "HEAD") {
            write!(self.out, "Content-Length: {}\r\n", body.len())?;
        }
        self.out.extend_from_slice(b"\r\n");

        let tcp = stream.get_mut();
        if body.len() <= COALESCE_LIMIT {
            self.out.extend_from_slice(body);
            tcp.write_all(&self.out)?;
        } else {
            tcp.write_all(&self.out)?;
            tcp.write_all(body)?;
        }
        read_response(stream, resp)
    }
}

impl Conn {
    /// Sends a chunked request: `chunks` one by one with `pause` between them, then `trailers`
    /// as real HTTP trailers (response streaming, §1.6), and reads the answer into `resp`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn request_chunked(
        &mut self,
        path: fmt::Arguments<'_>,
        headers: &[(&str, &str)],
        chunks: &[Vec<u8>],
        pause: std::time::Duration,
        trailers: &[(&str, &str)],
        resp: &mut Response,
    ) -> io::Result<()> {
        let result = self.exchange_chunked(path, headers, chunks, pause, trailers, resp);
        if result.is_err() || !resp.keep_alive() {
            self.stream = None;
        }
        result
    }

    fn exchange_chunked(
        &mut self,
        path: fmt::Arguments<'_>,
        headers: &[(&str, &str)],
        chunks: &[Vec<u8>],
        pause: std::time::Duration,
        trailers: &[(&str, &str)],
        resp: &mut Response,
    ) -> io::Result<()> {
        let stream = connected(&mut self.stream, &self.addr)?;
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n",
            self.addr
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !trailers.is_empty() {
            let names: Vec<&str> = trailers.iter().map(|(k, _)| *k).collect();
            head.push_str(&format!("Trailer: {}\r\n", names.join(", ")));
        }
        head.push_str("\r\n");
        let tcp = stream.get_mut();
        tcp.write_all(head.as_bytes())?;
        for (i, chunk) in chunks.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(pause);
            }
            tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            tcp.write_all(chunk)?;
            tcp.write_all(b"\r\n")?;
        }
        let mut tail = String::from("0\r\n");
        for (name, value) in trailers {
            tail.push_str(&format!("{name}: {value}\r\n"));
        }
        tail.push_str("\r\n");
        tcp.write_all(tail.as_bytes())?;
        read_response(stream, resp)
    }
}

/// The open connection, or a new one to `addr`.
fn connected<'a>(
    slot: &'a mut Option<BufReader<TcpStream>>,
    addr: &str,
) -> io::Result<&'a mut BufReader<TcpStream>> {
    if let Some(stream) = slot {
        return Ok(stream);
    }
    let tcp = TcpStream::connect(addr)?;
    // Head and body may leave in separate writes; do not let Nagle hold the later ones.
    tcp.set_nodelay(true)?;
    Ok(slot.insert(BufReader::with_capacity(16 * 1024, tcp)))
}

#[cfg(test)]
mod tests {
    use super::Conn;
    use crate::response::Response;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::thread;

    /// Reads one request (head + Content-Length body) and returns it as text.
    fn read_request(r: &mut impl BufRead) -> String {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).expect("read request line");
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.trim().parse().expect("length"));
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("read body");
        head + &String::from_utf8(body).expect("utf-8 body")
    }

    #[test]
    fn requests_share_one_keep_alive_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = thread::spawn(move || {
            // Accept exactly one connection: a second connect would make the client hang here.
            let (sock, _) = listener.accept().expect("accept");
            let mut r = BufReader::new(sock.try_clone().expect("clone"));
            let mut w = sock;
            let first = read_request(&mut r);
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
                .expect("write");
            let second = read_request(&mut r);
            w.write_all(
                b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            )
            .expect("write");
            (first, second)
        });

        let mut conn = Conn::new(&addr);
        let mut resp = Response::default();
        conn.request("GET", format_args!("/a"), &[("X-One", "1")], b"", &mut resp)
            .expect("first");
        assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hi"[..]));
        conn.request("POST", format_args!("/b/{}", 7), &[], b"{}", &mut resp)
            .expect("second");
        assert_eq!((resp.status, resp.body.as_slice()), (202, &b"ok"[..]));

        let (first, second) = server.join().expect("server");
        assert!(first.starts_with("GET /a HTTP/1.1\r\n"), "{first}");
        assert!(
            first.contains("X-One: 1\r\n") && !first.contains("Content-Length"),
            "{first}"
        );
        assert!(second.starts_with("POST /b/7 HTTP/1.1\r\n"), "{second}");
        assert!(second.ends_with("Content-Length: 2\r\n\r\n{}"), "{second}");
    }

    #[test]
    fn closed_connection_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let server = thread::spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            drop(sock);
        });
        let mut conn = Conn::new(&addr);
        let err = conn
            .request(
                "GET",
                format_args!("/next"),
                &[],
                b"",
                &mut Response::default(),
            )
            .expect_err("server closed");
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        server.join().expect("server");
    }
}
