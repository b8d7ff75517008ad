//! How the Invoke API resolves function names and qualifiers, case by case, against what Lambda
//! answers: every spelling of function `f` at `$LATEST` is invoked; a qualifier that names no
//! version or alias, in the path (`f:prod`, an ARN ending `:prod`) or in `?Qualifier=`, is
//! `404 ResourceNotFoundException`; a function of another account or region is not `f`. Every
//! answer, refusals included, carries a request id.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Harness, Reply, request};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

fn invoke(h: &Harness, target: &str) -> Reply {
    h.invoke_api(&request("POST", target, &[], b"{}"))
        .unwrap_or_else(|f| panic!("{target}: {f:?}"))
}

fn path(name: &str) -> String {
    format!("/2015-03-31/functions/{name}/invocations")
}

/// The spellings that work today, and the refusals that do: the negative control of the
/// ignored test below.
#[test]
fn spellings_of_f_at_latest_are_invoked_and_bad_query_qualifiers_refused() {
    let h = Harness::start(|_| {});
    for name in [
        "f",
        "f:$LATEST",
        "f:%24LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
        "123456789012:function:f",
        "%66",
    ] {
        let reply = invoke(&h, &path(name));
        assert_eq!(reply.status, 200, "{name}: {}", reply.text());
        assert_eq!(reply.body, b"{}");
    }
    for q in ["prod", "1"] {
        let reply = invoke(&h, &format!("{}?Qualifier={q}", path("f")));
        assert_eq!(reply.status, 404, "?Qualifier={q}: {}", reply.text());
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ResourceNotFoundException")
        );
    }
    let reply = invoke(&h, &path("g"));
    assert_eq!(reply.status, 404);
    assert!(
        reply
            .header("x-amzn-requestid")
            .is_some_and(|v| !v.is_empty())
    );
}

#[test]
fn a_qualifier_in_the_path_is_checked_like_the_query() {
    let h = Harness::start(|_| {});
    for name in [
        "f:prod",
        "f:1",
        "arn:aws:lambda:us-east-1:123456789012:function:f:prod",
        "arn:aws:lambda:eu-west-1:999999999999:function:f",
    ] {
        let reply = invoke(&h, &path(name));
        assert_eq!(reply.status, 404, "{name}: {}", reply.text());
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ResourceNotFoundException"),
            "{name}"
        );
    }
}

#[test]
fn every_refusal_carries_a_request_id() {
    let h = Harness::start(|_| {});
    let bad_type = request(
        "POST",
        &path("f"),
        &[("X-Amz-Invocation-Type".to_owned(), "Nope".to_owned())],
        b"{}",
    );
    let bad_qualifier = request("POST", &format!("{}?Qualifier=prod", path("f")), &[], b"{}");
    let unknown_operation = request("POST", "/nope", &[], b"{}");
    for raw in [bad_type, bad_qualifier, unknown_operation] {
        let reply = h.invoke_api(&raw).unwrap();
        assert!(reply.status >= 400);
        let id = reply.header("x-amzn-requestid").unwrap_or_default();
        assert!(
            !id.is_empty(),
            "{} {}: no request id",
            reply.status,
            reply.text()
        );
    }
}
