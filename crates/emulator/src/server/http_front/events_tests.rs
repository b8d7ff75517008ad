use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: Bytes::copy_from_slice(body),
        source_ip: "127.0.0.1".into(),
        port: 9001,
        protocol: "HTTP/1.1",
        stamp: Stamp::at(UNIX_EPOCH + Duration::from_millis(1_583_348_638_390)),
        request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
    }
}

fn url_context() -> V2Context<'static> {
    V2Context {
        account_id: "anonymous",
        api_id: "urlid",
        domain_name: "urlid.lambda-url.us-east-1.on.aws",
        route_key: "$default",
        stage: "$default",
        path_parameters: &[],
    }
}

#[test]
fn a_function_url_event_joins_repeats_and_moves_cookies() {
    let req = request(
        "GET",
        "/my/path",
        "parameter1=value1&parameter1=value2&parameter2=a%20b",
        &[
            ("header2", "value1"),
            ("header2", "value2"),
            ("cookie", "c1=v1; c2=v2"),
            ("user-agent", "agent"),
        ],
        b"",
    );
    let e = v2(&req, &url_context());
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawPath"], "/my/path");
    assert_eq!(
        e["rawQueryString"],
        "parameter1=value1&parameter1=value2&parameter2=a%20b"
    );
    assert_eq!(e["headers"]["header2"], "value1,value2");
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert!(e["headers"].get("cookie").is_none());
    assert_eq!(
        e["queryStringParameters"],
        json!({"parameter1": "value1,value2", "parameter2": "a b"})
    );
    let rc = &e["requestContext"];
    assert_eq!(rc["domainPrefix"], "urlid");
    assert_eq!(
        rc["http"],
        json!({"method": "GET", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "agent"})
    );
    assert_eq!(rc["stage"], "$default");
    assert_eq!(rc["time"], "04/Mar/2020:19:03:58 +0000");
    assert_eq!(rc["timeEpoch"], 1_583_348_638_390_u64);
    assert_eq!(e["isBase64Encoded"], false);
    // Negative controls: no body, no path parameters, no cookies key without cookies.
    assert!(e.get("body").is_none() && e.get("pathParameters").is_none());
    let plain = v2(&request("GET", "/", "", &[], b""), &url_context());
    assert!(plain.get("cookies").is_none() && plain.get("queryStringParameters").is_none());
}

#[test]
fn bodies_are_base64_unless_their_type_is_text() {
    let binary = request(
        "POST",
        "/",
        "",
        &[("content-type", "application/octet-stream")],
        &[0, 159, 146, 150],
    );
    let e = v2(&binary, &url_context());
    assert_eq!(
        (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
        (Some("AJ+Slg=="), Some(true))
    );
    // Negative control: the same bytes that are valid text, typed as JSON, stay text.
    let json_body = request(
        "POST",
        "/",
        "",
        &[("content-type", "application/json; charset=utf-8")],
        b"{\"a\":1}",
    );
    let e = v2(&json_body, &url_context());
    assert_eq!(
        (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
        (Some("{\"a\":1}"), Some(false))
    );
    assert!(is_text(Some("text/plain")) && is_text(Some("application/ld+json")));
    assert!(!is_text(None) && !is_text(Some("image/png")));
}

#[test]
fn an_http_api_stage_prefixes_the_raw_path() {
    let params = [("id".to_owned(), "7".to_owned())];
    let ctx = V2Context {
        account_id: "123456789012",
        api_id: "abc",
        domain_name: "abc.execute-api.us-east-1.amazonaws.com",
        route_key: "GET /items/{id}",
        stage: "dev",
        path_parameters: &params,
    };
    let e = v2(&request("GET", "/items/7", "", &[], b""), &ctx);
    assert_eq!(e["rawPath"], "/dev/items/7");
    assert_eq!(e["requestContext"]["http"]["path"], "/dev/items/7");
    assert_eq!(e["requestContext"]["stage"], "dev");
    assert_eq!(e["routeKey"], "GET /items/{id}");
    assert_eq!(e["pathParameters"], json!({"id": "7"}));
    // Negative control: the `$default` stage adds nothing.
    let e = v2(
        &request("GET", "/items/7", "", &[], b""),
        &V2Context {
            stage: "$default",
            ..ctx
        },
    );
    assert_eq!(e["rawPath"], "/items/7");
}

#[test]
fn a_rest_event_has_single_and_multi_values_and_the_stage_in_the_context_path() {
    let params = [("proxy".to_owned(), "a/b".to_owned())];
    let ctx = V1Context {
        account_id: "123456789012",
        api_id: "restid",
        domain_name: "restid.execute-api.us-east-1.amazonaws.com",
        resource: "/files/{proxy+}",
        stage: "Prod",
        path_parameters: &params,
        binary: false,
    };
    let req = request(
        "GET",
        "/files/a/b",
        "k=1&k=2",
        &[("x-h", "one"), ("x-h", "two")],
        b"",
    );
    let e = v1(&req, &ctx);
    assert_eq!(e["path"], "/files/a/b");
    assert_eq!(e["resource"], "/files/{proxy+}");
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["headers"]["x-h"], "two");
    assert_eq!(e["multiValueHeaders"]["x-h"], json!(["one", "two"]));
    assert_eq!(e["queryStringParameters"], json!({"k": "2"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"k": ["1", "2"]})
    );
    assert_eq!(e["pathParameters"], json!({"proxy": "a/b"}));
    let rc = &e["requestContext"];
    assert_eq!(
        (rc["path"].as_str(), rc["stage"].as_str()),
        (Some("/Prod/files/a/b"), Some("Prod"))
    );
    assert_eq!(rc["resourcePath"], "/files/{proxy+}");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["requestTime"], "04/Mar/2020:19:03:58 +0000");
    assert_eq!(
        (e["body"].clone(), e["isBase64Encoded"].clone()),
        (Value::Null, json!(false))
    );
    // Negative control: no query, no parameters: nulls, as the service sends them.
    let e = v1(
        &request("GET", "/", "", &[], b""),
        &V1Context {
            path_parameters: &[],
            ..ctx
        },
    );
    assert!(e["queryStringParameters"].is_null() && e["pathParameters"].is_null());
}

#[test]
fn a_rest_body_is_base64_only_for_binary_media_types() {
    let types = vec!["image/*".to_owned()];
    assert!(is_binary_media(Some("image/png"), &types));
    assert!(!is_binary_media(Some("application/octet-stream"), &types));
    assert!(is_binary_media(
        Some("application/octet-stream"),
        &["*/*".to_owned()]
    ));
    assert!(!is_binary_media(None, &[]));
}

#[test]
fn stable_ids_are_stable_and_distinct() {
    assert_eq!(stable_id("echo", 32), stable_id("echo", 32));
    assert_eq!(stable_id("echo", 32).len(), 32);
    assert_ne!(stable_id("echo", 32), stable_id("other", 32));
}
