use http_body_util::BodyExt;
use serde_json::json;

use super::*;

fn body_of(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[test]
fn a_v2_answer_with_a_status_code_is_the_response() {
    let answer = json!({
        "statusCode": 201,
        "headers": {"Content-Type": "text/plain", "x-n": 1},
        "cookies": ["a=1; Max-Age=60", "b=2"],
        "body": "aGk=",
        "isBase64Encoded": true,
    });
    let m = v2(&body_of(&answer)).unwrap();
    assert_eq!(m.status, 201);
    assert_eq!(m.body, Bytes::from_static(b"hi"));
    assert!(m.headers.contains(&("x-n".into(), "1".into())));
    let cookies: Vec<&str> = m
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1; Max-Age=60", "b=2"]);
}

#[test]
fn any_other_v2_json_is_a_200_json_body() {
    for answer in [r#""Hello, world!""#, r#"{"message":"hi"}"#, "[1,2]", "42"] {
        let m = v2(answer.as_bytes()).unwrap();
        assert_eq!((m.status, m.body.as_ref()), (200, answer.as_bytes()));
        assert_eq!(
            m.headers,
            [("content-type".to_owned(), "application/json".to_owned())]
        );
    }
    // Negative controls: not JSON, a status that is not one, a body that is not a string.
    assert!(v2(b"not json").is_err());
    assert!(v2(br#"{"statusCode":"abc"}"#).is_err());
    assert!(v2(br#"{"statusCode":200,"body":{"a":1}}"#).is_err());
}

#[test]
fn typed_and_value_readings_of_a_v2_answer_agree() {
    let usual = [
        r#"{"statusCode":200,"headers":{"content-type":"text/plain","b":"2","a":true},"multiValueHeaders":{"x":["1"]},"body":"Hello, bench!","isBase64Encoded":false,"cookies":[]}"#,
        r#"{"statusCode":"404","body":null,"headers":null,"cookies":["a=1",7]}"#,
        r#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true,"extra":{"ignored":[1]}}"#,
        r#"{"statusCode":204}"#,
        r#"{"statusCode":200,"body":"caf\u00e9 \"q\""}"#,
    ];
    for answer in usual {
        let typed = v2_typed(answer.as_bytes());
        assert!(typed.is_some(), "{answer}");
        assert_eq!(typed, v2_value(answer.as_bytes()).ok(), "{answer}");
    }
    // Negative controls: every other shape is left to the `Value` reading (which maps it, or
    // refuses it with a reason).
    let other = [
        r#"{"message":"no statusCode"}"#,
        r#""a string""#,
        r#"{"statusCode":200,"statusCode":201}"#,
        r#"{"statusCode":200,"isBase64Encoded":"yes","body":"x"}"#,
        r#"{"statusCode":200,"cookies":"a=1"}"#,
        r#"{"statusCode":200,"headers":{"a":{"b":1}}}"#,
        r#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
        r#"{"statusCode":99}"#,
        r#"{"statusCode":null}"#,
    ];
    for answer in other {
        assert_eq!(v2_typed(answer.as_bytes()), None, "{answer}");
    }
    assert_eq!(
        v2(br#"{"statusCode":200,"cookies":"a=1"}"#).unwrap().status,
        200
    );
    assert_eq!(
        v2(br#"{"statusCode":200,"isBase64Encoded":"yes","body":"x"}"#)
            .unwrap()
            .body,
        "x"
    );
}

#[test]
fn a_v1_answer_is_strict_and_merges_multi_value_headers() {
    let answer = json!({
        "statusCode": 200,
        "headers": {"x-a": "single", "x-b": "b"},
        "multiValueHeaders": {"x-a": ["1", "2"]},
        "body": "ok",
        "isBase64Encoded": false,
    });
    let m = v1(&body_of(&answer)).unwrap();
    let a: Vec<&str> = m
        .headers
        .iter()
        .filter(|(k, _)| k == "x-a")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(a, ["1", "2"]);
    assert!(m.headers.contains(&("x-b".into(), "b".into())));
    assert_eq!(m.body, Bytes::from_static(b"ok"));
    // Negative controls: what a 2.0 answer may be is malformed at 1.0.
    assert!(v1(br#"{"message":"hi"}"#).is_err(), "no statusCode");
    assert!(v1(br#""hi""#).is_err(), "not an object");
    assert!(
        v1(br#"{"statusCode":200,"cookies":["a=1"]}"#).is_err(),
        "an unknown key"
    );
}

#[tokio::test]
async fn the_prelude_sets_the_response_and_the_rest_streams() {
    let (tx, stream) = crate::stream::channel();
    let tasks = TaskTracker::new();
    // The prelude split over two frames, the delimiter and the first bytes in the second.
    tx.send(http_body::Frame::data(Bytes::from_static(
        br#"{"statusCode":201,"headers":{"x-s":"1"},"#,
    )))
    .await
    .unwrap();
    tx.send(http_body::Frame::data(Bytes::from_static(
        b"\"cookies\":[\"c=1\"]}\0\0\0\0\0\0\0\0first ",
    )))
    .await
    .unwrap();
    tx.send(http_body::Frame::data(Bytes::from_static(b"second")))
        .await
        .unwrap();
    drop(tx);
    let res = streamed(stream, &tasks).await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["x-s"], "1");
    assert_eq!(res.headers()["set-cookie"], "c=1");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, Bytes::from_static(b"first second"));
}

#[tokio::test]
async fn a_stream_without_the_delimiter_is_malformed() {
    let (tx, stream) = crate::stream::channel();
    tx.send(http_body::Frame::data(Bytes::from_static(
        br#"{"statusCode":201}"#,
    )))
    .await
    .unwrap();
    drop(tx);
    assert!(streamed(stream, &TaskTracker::new()).await.is_err());
}
