//! Compatibility with the official clients, unmodified: AWS's Python runtime client
//! (`awslambdaric`) and Rust runtime (`lambda_runtime` with `graceful-shutdown`) run under
//! `grace serve`, and boto3, the AWS CLI and `grace invoke` call its Invoke API.
//!
//! The Python tools come from `.deps/venv` (scripts/setup-test-deps.sh); the Rust function from
//! `crates/peer-fixtures`.

use std::process::Command;
use std::time::Duration;

use crate::util::{Serve, grace_bin, venv_bin, workspace_bin, workspace_root};

/// `grace serve` running `python -m awslambdaric MODULE.handler` from tests/python.
fn python_function(name: &str, handler: &str, extra: &[&str]) -> Serve {
    let python = venv_bin("python");
    let dir = workspace_root().join("tests/python");
    let mut args = vec![
        "--name",
        name,
        "--dir",
        dir.to_str().unwrap(),
        "--execution-env",
        "AWS_Lambda_python3.12",
        "--handler",
        handler,
    ];
    args.extend_from_slice(extra);
    let tail = [
        "--",
        python.to_str().unwrap(),
        "-m",
        "awslambdaric",
        handler,
    ];
    args.extend_from_slice(&tail);
    Serve::start(&args)
}

#[test]
fn awslambdaric_runs_unmodified_and_answers_curl_style_and_grace_invoke() {
    let s = python_function("py-echo", "echo_app.handler", &[]);
    let a = s.invoke("py-echo", r#"{"from":"python"}"#);
    assert_eq!(a.status, 200, "{}\n{}", a.text(), s.stdout());
    assert_eq!(a.json(), serde_json::json!({"from":"python"}));
    // Warm invokes reuse the environment.
    for i in 0..5 {
        assert_eq!(
            s.invoke("py-echo", &format!("{{\"i\":{i}}}")).json()["i"],
            i
        );
    }
    assert_eq!(s.environments().len(), 1);
    let out = Command::new(grace_bin())
        .args([
            "invoke",
            "py-echo",
            "--payload",
            r#"{"via":"grace invoke"}"#,
            "--endpoint",
            &format!("http://{}", s.addr),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"via": "grace invoke"}"#
    );
}

#[test]
fn awslambdaric_errors_reach_the_caller_as_unhandled_function_errors() {
    let s = python_function("py-error", "error_app.handler", &[]);
    let a = s.invoke("py-error", "{}");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    let body = a.json();
    assert_eq!(body["errorType"], "ValueError");
    assert_eq!(body["errorMessage"], "boom");
    // The environment survives a function error.
    assert_eq!(s.invoke("py-error", "{}").status, 200);
    assert_eq!(s.environments().len(), 1);
}

#[test]
fn lambda_runtime_runs_unmodified_and_its_graceful_shutdown_helper_gets_sigterm() {
    let bin = workspace_bin("lr-echo");
    let s = Serve::start(&["--name", "lr", "--", bin.to_str().unwrap()]);
    let a = s.invoke("lr", r#"{"from":"lambda_runtime"}"#);
    assert_eq!(a.status, 200, "{}", s.stdout());
    assert_eq!(a.json(), serde_json::json!({"from":"lambda_runtime"}));
    assert_eq!(s.spin_down(None), 1);
    assert!(
        s.wait_stdout(
            "[lr-echo] graceful shutdown: cleanup done",
            Duration::from_secs(3)
        ),
        "{}",
        s.stdout()
    );
    let types = s.event_types(None);
    assert!(types.contains(&"sigterm".to_owned()));

    // Negative control: without the helper no extension is registered: SIGKILL, no cleanup.
    let bin = workspace_bin("lr-echo-plain");
    let s = Serve::start(&["--name", "plain", "--", bin.to_str().unwrap()]);
    assert_eq!(
        s.invoke("plain", r#"{"x":1}"#).json(),
        serde_json::json!({"x":1})
    );
    s.spin_down(None);
    let types = s.event_types(None);
    assert!(
        types.contains(&"sigkill".to_owned()) && !types.contains(&"sigterm".to_owned()),
        "{types:?}"
    );
}

/// Runs a boto3 `script` against `s`'s Invoke API for `function`; its JSON output.
fn boto3(script: &str, s: &Serve, function: &str) -> serde_json::Value {
    let out = Command::new(venv_bin("python"))
        .args(["-c", script, &format!("http://{}", s.addr), function])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{function}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const BOTO3_SCRIPT: &str = r#"
import base64, json, sys
import boto3
from botocore.config import Config
endpoint, name = sys.argv[1], sys.argv[2]
client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(retries={"max_attempts": 1}))
out = {}
r = client.invoke(FunctionName=name, Payload=json.dumps({"via": "boto3"}).encode(), LogType="Tail")
out["sync"] = {"status": r["StatusCode"], "payload": json.loads(r["Payload"].read()),
               "version": r.get("ExecutedVersion"), "log": base64.b64decode(r["LogResult"]).decode()}
r = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"async":true}')
out["event"] = {"status": r["StatusCode"]}
r = client.invoke(FunctionName=name, InvocationType="DryRun")
out["dryrun"] = {"status": r["StatusCode"]}
r = client.invoke(FunctionName=name, Payload=b'{"error":"from boto3"}')
out["error"] = {"status": r["StatusCode"], "function_error": r.get("FunctionError"), "payload": json.loads(r["Payload"].read())}
try:
    client.invoke(FunctionName="does-not-exist", Payload=b"{}")
    out["missing"] = "no error"
except client.exceptions.ResourceNotFoundException as e:
    out["missing"] = e.response["Error"]["Code"]
print(json.dumps(out))
"#;

#[test]
fn boto3_invokes_unchanged() {
    let s = Serve::testfn("boto", &[], &[]);
    let r = boto3(BOTO3_SCRIPT, &s, "boto");
    assert_eq!(r["sync"]["status"], 200);
    assert_eq!(r["sync"]["payload"], serde_json::json!({"via":"boto3"}));
    assert_eq!(r["sync"]["version"], "$LATEST");
    assert!(
        r["sync"]["log"]
            .as_str()
            .unwrap()
            .contains("REPORT RequestId"),
        "{r}"
    );
    assert_eq!(r["event"]["status"], 202);
    assert_eq!(r["dryrun"]["status"], 204);
    assert_eq!(r["error"]["function_error"], "Unhandled");
    assert_eq!(r["error"]["payload"]["errorMessage"], "from boto3");
    assert_eq!(r["missing"], "ResourceNotFoundException");
}

#[test]
fn the_aws_cli_invokes_unchanged() {
    let s = Serve::testfn("cli", &[], &[]);
    let (meta, payload) = aws_cli_invoke(&s, "cli");
    assert_eq!(meta["StatusCode"], 200);
    assert_eq!(meta["ExecutedVersion"], "$LATEST");
    assert_eq!(payload, serde_json::json!({"via":"aws cli"}));
}

const BOTO3_ECHO: &str = r#"
import json, sys
import boto3
from botocore.config import Config
endpoint, name = sys.argv[1], sys.argv[2]
client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(retries={"max_attempts": 1}))
r = client.invoke(FunctionName=name, Payload=json.dumps({"via": "boto3"}).encode())
print(json.dumps({"status": r["StatusCode"], "payload": json.loads(r["Payload"].read())}))
"#;

/// `aws lambda invoke` with `{"via":"aws cli"}`: the CLI's JSON answer, and the payload it wrote.
fn aws_cli_invoke(s: &Serve, function: &str) -> (serde_json::Value, serde_json::Value) {
    let dir = crate::util::temp_dir("awscli");
    let outfile = dir.join("out.json");
    let out = Command::new(venv_bin("aws"))
        .args([
            "lambda",
            "invoke",
            "--endpoint-url",
            &format!("http://{}", s.addr),
            "--function-name",
            function,
        ])
        .args([
            "--payload",
            r#"{"via":"aws cli"}"#,
            outfile.to_str().unwrap(),
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = serde_json::from_slice(&out.stdout).unwrap();
    let payload = serde_json::from_slice(&std::fs::read(&outfile).unwrap()).unwrap();
    (meta, payload)
}

#[test]
fn boto3_and_the_aws_cli_call_the_official_runtimes_under_grace() {
    let lr = workspace_bin("lr-echo");
    let rust = Serve::start(&["--name", "lr", "--", lr.to_str().unwrap()]);
    let python = python_function("py", "echo_app.handler", &[]);
    for (s, name) in [(&rust, "lr"), (&python, "py")] {
        let r = boto3(BOTO3_ECHO, s, name);
        assert_eq!(r["status"], 200, "{name}");
        assert_eq!(r["payload"], serde_json::json!({"via":"boto3"}), "{name}");
        assert_eq!(
            aws_cli_invoke(s, name).1,
            serde_json::json!({"via":"aws cli"}),
            "{name}"
        );
    }
}
