use super::{Response, read_response};
use std::io::{BufReader, Cursor, ErrorKind, Read};

fn parse_all(wire: &[u8]) -> Vec<std::io::Result<(u16, Vec<u8>, bool)>> {
    let mut r = Cursor::new(wire.to_vec());
    let mut out = Vec::new();
    let mut resp = Response::default();
    while (r.position() as usize) < wire.len() {
        match read_response(&mut r, &mut resp) {
            Ok(()) => out.push(Ok((resp.status, resp.body.clone(), resp.keep_alive()))),
            Err(e) => {
                out.push(Err(e));
                break;
            }
        }
    }
    out
}

fn one(wire: &[u8]) -> (u16, Vec<u8>, bool) {
    let mut all = parse_all(wire);
    assert_eq!(all.len(), 1, "expected exactly one response");
    all.remove(0).expect("parse")
}

#[test]
fn content_length_body() {
    let wire = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}";
    assert_eq!(one(wire), (202, b"{\"status\":\"OK\"}".to_vec(), true));
}

#[test]
fn headers_are_case_insensitive_and_trimmed() {
    let wire = b"HTTP/1.1 200 OK\r\nlambda-runtime-aws-request-id:   abc-1 \r\nLambda-Runtime-Deadline-Ms: 42\r\ncontent-length: 0\r\n\r\n";
    let mut resp = Response::default();
    read_response(&mut Cursor::new(&wire[..]), &mut resp).expect("parse");
    assert_eq!(resp.header("Lambda-Runtime-Aws-Request-Id"), Some("abc-1"));
    assert_eq!(resp.header("LAMBDA-RUNTIME-DEADLINE-MS"), Some("42"));
    assert_eq!(resp.header("lambda-runtime-trace-id"), None);
    let names: Vec<_> = resp.headers().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "lambda-runtime-aws-request-id",
            "Lambda-Runtime-Deadline-Ms",
            "content-length"
        ]
    );
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=x\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n";
    assert_eq!(one(wire), (200, b"hello, world".to_vec(), true));
}

#[test]
fn chunked_wins_over_content_length() {
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(one(wire), (200, b"ok".to_vec(), true));
}

#[test]
fn keep_alive_framing_separates_back_to_back_responses() {
    // Three responses on one connection: the parser must stop exactly at each body's end.
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nthree";
    let got: Vec<_> = parse_all(wire)
        .into_iter()
        .map(|r| r.expect("parse"))
        .collect();
    assert_eq!(
        got,
        [
            (200, b"one".to_vec(), true),
            (200, b"two".to_vec(), true),
            (204, Vec::new(), true),
            (202, b"three".to_vec(), true),
        ]
    );
}

#[test]
fn buffers_are_reused_without_leaking_previous_state() {
    let wire = b"HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 5\r\n\r\nfirst\
HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno";
    let mut r = Cursor::new(&wire[..]);
    let mut resp = Response::default();
    read_response(&mut r, &mut resp).expect("first");
    assert_eq!(resp.header("a"), Some("1"));
    read_response(&mut r, &mut resp).expect("second");
    assert_eq!((resp.status, resp.body.as_slice()), (403, &b"no"[..]));
    assert_eq!(
        resp.header("a"),
        None,
        "headers of the previous response must be gone"
    );
}

#[test]
fn connection_close_and_http10_end_reuse() {
    let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    assert!(!one(close).2);
    let http10 = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert!(!one(http10).2);
    let http10_ka = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
    assert!(one(http10_ka).2);
}

#[test]
fn body_without_length_runs_to_close() {
    let wire = b"HTTP/1.1 200 OK\r\n\r\nall the rest";
    assert_eq!(one(wire), (200, b"all the rest".to_vec(), false));
}

#[test]
fn interim_100_continue_is_skipped() {
    let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(one(wire), (202, b"ok".to_vec(), true));
}

#[test]
fn lf_only_line_endings_are_accepted() {
    let wire = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
    assert_eq!(one(wire), (200, b"ok".to_vec(), true));
}

#[test]
fn truncated_input_is_an_eof_error() {
    let cases: [&[u8]; 5] = [
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ];
    for wire in cases {
        let err =
            read_response(&mut Cursor::new(wire), &mut Response::default()).expect_err("truncated");
        assert_eq!(
            err.kind(),
            ErrorKind::UnexpectedEof,
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn malformed_input_is_invalid_data() {
    let cases: [&[u8]; 4] = [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for wire in cases {
        let err =
            read_response(&mut Cursor::new(wire), &mut Response::default()).expect_err("malformed");
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidData,
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

/// A reader that hands out one byte per `read`, like a slow socket.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn byte_at_a_time_delivery_parses_the_same() {
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 1\r\n\r\nx";
    let mut r = BufReader::with_capacity(1, Trickle(wire));
    let mut resp = Response::default();
    read_response(&mut r, &mut resp).expect("first");
    assert_eq!(resp.body, b"0123456789");
    read_response(&mut r, &mut resp).expect("second");
    assert_eq!((resp.status, resp.body.as_slice()), (202, &b"x"[..]));
}
