//! `scripts/http-compare.sh`: the http-axum app on lambda-grace-http (`http-axum`) and on the
//! official lambda_http (`http-lambda-http`) answer one table of curl requests behind grace's
//! Function URLs and API routes (and `cargo lambda watch` when .deps has it). The script fails
//! when a cell differs from column `a` without being a documented difference; this test runs it
//! (bounded), checks the agreement of the two crates behind Function URLs itself, pins one
//! documented difference (lambda_http and the stage), and shows that the table's checker
//! fails on a doctored answer (its negative control).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{grace_bin, poll_until, temp_dir, venv_bin, workspace_bin, workspace_root};

/// Runs the script on the workspace's debug binaries, recording into `out`; at most two
/// minutes. Returns its exit success, stdout (the table) and stderr.
fn run_script(out: &Path) -> (bool, String, String) {
    // The binaries the script needs, next to grace (`cargo test --workspace` builds them).
    workspace_bin("http-axum");
    workspace_bin("http-lambda-http");
    let bin_dir = grace_bin().parent().expect("bin dir").to_path_buf();
    let cargo_lambda = workspace_root().join(".deps/peers/cargo-lambda");
    let cargo_lambda: PathBuf = if cargo_lambda.exists() {
        cargo_lambda
    } else {
        PathBuf::from("none")
    };
    let stdout = out.with_extension("stdout");
    let stderr = out.with_extension("stderr");
    let mut child = Command::new(workspace_root().join("scripts/http-compare.sh"))
        .env("HTTP_COMPARE_BIN_DIR", &bin_dir)
        .env("HTTP_COMPARE_OUT", out)
        .env("HTTP_COMPARE_CARGO_LAMBDA", &cargo_lambda)
        .env("PYTHON", venv_bin("python"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("run scripts/http-compare.sh");
    let mut status = None;
    poll_until(Duration::from_secs(120), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let status = status.unwrap_or_else(|| {
        // The script's EXIT trap stops what it started.
        crate::util::signal(child.id(), "TERM");
        let _ = child.wait();
        panic!(
            "scripts/http-compare.sh still running after 120 s:\n{}",
            std::fs::read_to_string(&stderr).unwrap_or_default()
        )
    });
    (
        status.success(),
        std::fs::read_to_string(&stdout).unwrap(),
        std::fs::read_to_string(&stderr).unwrap(),
    )
}

/// `table.py OUT` again (after a doctored answer): exit success and stderr.
fn check_table(out: &Path) -> (bool, String) {
    let o = Command::new(venv_bin("python"))
        .arg(workspace_root().join("tests/http-compare/table.py"))
        .arg(out)
        .output()
        .expect("run table.py");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn cell<'a>(results: &'a Value, setup: &str, row: &str) -> &'a str {
    results[setup][row]["cell"]
        .as_str()
        .unwrap_or_else(|| panic!("no cell {setup}/{row} in {results:#}"))
}

const ROWS: [&str; 12] = [
    "root",
    "hello",
    "query",
    "multi",
    "cookie",
    "setcookie",
    "post",
    "binary",
    "stream",
    "error",
    "stage",
    "missing",
];

#[test]
fn the_comparison_table_agrees_where_the_services_agree_and_its_checker_catches_a_difference() {
    let out = temp_dir("http-compare").join("out");
    let (ok, table, stderr) = run_script(&out);
    assert!(ok, "the script found disagreements:\n{stderr}\n{table}");
    assert!(
        table.starts_with("| request | a: lambda-grace-http, Function URL |"),
        "{table}"
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();

    // Function URLs: lambda-grace-http and lambda_http answer every request alike.
    for row in ROWS {
        assert_eq!(cell(&results, "a", row), cell(&results, "c", row), "{row}");
    }
    // … and the answers are the app's, not two identical failures.
    assert_eq!(cell(&results, "a", "hello"), r#"200 text "Hello, ann!""#);
    assert_eq!(
        cell(&results, "a", "query"),
        "200 json a=[1][2] b=[x]",
        "every value of a repeated query key"
    );
    assert_eq!(
        cell(&results, "a", "cookie"),
        "200 json cookies a=1 b=2, cookie hdr×1"
    );
    assert_eq!(
        cell(&results, "a", "setcookie").split(' ').nth(2),
        Some("set-cookie×2")
    );
    assert_eq!(cell(&results, "a", "post"), "200 json body =sent");
    assert_eq!(cell(&results, "a", "binary"), "200 png =checker.png");
    assert_eq!(cell(&results, "a", "stream"), "200 text 5 chunks, streamed");
    assert!(cell(&results, "a", "error").starts_with("500 json"));
    assert_eq!(cell(&results, "a", "missing"), "404 - empty");
    // An HTTP API on stage `dev`: lambda-grace-http routes `/hello/ann`; lambda_http keeps the
    // stage API Gateway puts in rawPath and answers 404 (the documented difference, so that a
    // change on either side shows); REST with lambda_http's own switch routes it.
    assert_eq!(
        cell(&results, "b-http", "hello"),
        r#"200 text "Hello, ann!""#
    );
    assert_eq!(cell(&results, "d-http", "hello"), "404 - empty");
    assert_eq!(cell(&results, "d-rest", "hello"), "404 - empty");
    assert_eq!(
        cell(&results, "d-rest-ignore", "hello"),
        r#"200 text "Hello, ann!""#
    );
    // API routes answer buffered.
    assert_eq!(
        cell(&results, "b-http", "stream"),
        "200 text 5 chunks, buffered"
    );

    // Negative controls of the checker: a doctored lambda_http answer fails the table…
    std::fs::write(out.join("c/hello.body"), "Hello, bob!").unwrap();
    let (ok, stderr) = check_table(&out);
    assert!(!ok, "a changed answer passed");
    assert!(
        stderr.contains("hello: c `200 text \"Hello, bob!\"` differs"),
        "{stderr}"
    );
    // … and so does a documented difference that is gone (lambda_http routing /hello/ann on
    // the HTTP API stage), since docs/http.md would then be stale.
    std::fs::write(out.join("c/hello.body"), "Hello, ann!").unwrap();
    assert!(check_table(&out).0, "restored");
    for ext in ["meta", "head", "body"] {
        std::fs::copy(
            out.join(format!("a/hello.{ext}")),
            out.join(format!("d-http/hello.{ext}")),
        )
        .unwrap();
    }
    let (ok, stderr) = check_table(&out);
    assert!(!ok, "a vanished difference passed");
    assert!(
        stderr.contains("hello: d-http now agrees with a"),
        "{stderr}"
    );
}
