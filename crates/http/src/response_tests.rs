//! Answers in each shape, parsed back as JSON.

use serde_json::{Value, json};

use super::*;

const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

fn answer(shape: Shape, status: u16, h: &HeaderMap, body: &[u8]) -> Value {
    let status = StatusCode::from_u16(status).unwrap();
    let bytes = encode(shape, status, h, &Bytes::copy_from_slice(body)).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn two_cookies() -> HeaderMap {
    headers(&[
        ("content-type", "text/plain"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2; HttpOnly"),
        ("x-multi", "one"),
        ("x-multi", "two"),
    ])
}

#[test]
fn rest_with_multi_value_headers_keeps_every_value() {
    let v = answer(
        Shape::Rest { multi_value: true },
        200,
        &two_cookies(),
        b"hi",
    );
    assert_eq!(v["statusCode"], 200);
    assert_eq!(
        v["multiValueHeaders"]["set-cookie"],
        json!(["a=1; Path=/", "b=2; HttpOnly"])
    );
    assert_eq!(v["multiValueHeaders"]["x-multi"], json!(["one", "two"]));
    assert_eq!(v["body"], "hi");
    assert_eq!(v["isBase64Encoded"], false);
}

#[test]
fn rest_without_them_joins_and_keeps_the_last_cookie() {
    let v = answer(
        Shape::Rest { multi_value: false },
        200,
        &two_cookies(),
        b"hi",
    );
    assert_eq!(v["headers"]["x-multi"], "one, two");
    assert_eq!(v["headers"]["set-cookie"], "b=2; HttpOnly");
    assert_eq!(v["multiValueHeaders"], json!({}));
}

#[test]
fn http_api_moves_set_cookie_to_cookies() {
    let v = answer(Shape::Http, 201, &two_cookies(), b"hi");
    assert_eq!(v["statusCode"], 201);
    assert_eq!(v["cookies"], json!(["a=1; Path=/", "b=2; HttpOnly"]));
    assert_eq!(v["headers"]["x-multi"], "one, two");
    // Negative control: the cookies are not also left in the headers.
    assert!(v["headers"].get("set-cookie").is_none(), "{v}");
}

#[test]
fn binary_bodies_go_out_as_base64_in_every_shape() {
    let h = headers(&[("content-type", "image/png")]);
    for shape in [
        Shape::Rest { multi_value: true },
        Shape::Alb { multi_value: false },
        Shape::Http,
        Shape::FunctionUrl,
    ] {
        let v = answer(shape, 200, &h, PNG);
        assert_eq!(v["isBase64Encoded"], true, "{shape:?}");
        assert_eq!(v["body"], "iVBORw0KGgo=", "{shape:?}");
    }
    // Negative control: the same bytes declared as text are not valid UTF-8, still base64;
    // and valid text is sent as is.
    let v = answer(
        Shape::Http,
        200,
        &headers(&[("content-type", "text/plain")]),
        PNG,
    );
    assert_eq!(v["isBase64Encoded"], true);
    let v = answer(
        Shape::Http,
        200,
        &headers(&[("content-type", "text/plain")]),
        b"ok",
    );
    assert_eq!(v["isBase64Encoded"], false);
    assert_eq!(v["body"], "ok");
}

#[test]
fn function_urls_answer_with_their_own_shape() {
    let v = answer(Shape::FunctionUrl, 200, &two_cookies(), b"hi");
    assert_eq!(v["cookies"], json!(["a=1; Path=/", "b=2; HttpOnly"]));
    assert!(v.get("multiValueHeaders").is_none(), "{v}");
    assert_eq!(v["body"], "hi");
}

#[test]
fn alb_answers_carry_a_status_description() {
    let v = answer(
        Shape::Alb { multi_value: true },
        404,
        &HeaderMap::new(),
        b"",
    );
    assert_eq!(v["statusDescription"], "404 Not Found");
    assert!(v.get("body").is_none(), "an empty body is left out: {v}");
    let v = answer(
        Shape::Alb { multi_value: false },
        599,
        &HeaderMap::new(),
        b"",
    );
    assert_eq!(v["statusDescription"], "599");
}
