//! A function from an AWS SAM template under the harness: the Python SIGTERM example of
//! `tests/fixtures/sam/python-sigterm.yaml`, with the shutdown-enabler layer (it passes the
//! check) and without it (the negative control: no SIGTERM, the check fails).
//!
//! Needs what `scripts/test.sh` installs and builds: `.deps/venv` (Python with awslambdaric)
//! and the workspace's `shutdown-enabler` binary.

use std::path::PathBuf;

use grace_harness::{Error, Function, Harness, Status};
use serde_json::json;

use crate::util::{python, scratch, workspace, workspace_bin};

/// A layer directory with `extensions/shutdown-enabler`.
fn enabler_layer(tag: &str) -> PathBuf {
    let layer = scratch(&format!("{tag}-layer"));
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::fs::copy(
        workspace_bin("shutdown-enabler"),
        layer.join("extensions/shutdown-enabler"),
    )
    .unwrap();
    layer
}

fn function(name: &str, tag: &str) -> Function {
    let template = workspace().join("tests/fixtures/sam/python-sigterm.yaml");
    Function::template(template, name)
        .parameter("LayerDir", enabler_layer(tag).to_str().unwrap())
        .parameter("OutDir", scratch(&format!("{tag}-out")).to_str().unwrap())
        .python(python())
        // As the CLI's template test: a SIGTERM right after the SIGCONT of a thaw can land on
        // awslambdaric's polling thread; that is the freezer's question, not the template's.
        .freeze(false)
}

#[tokio::test]
async fn a_python_function_with_the_enabler_layer_passes_and_without_it_fails() {
    let h = Harness::start(function("Graceful", "graceful"))
        .await
        .unwrap();
    assert_eq!(h.name(), "Graceful");
    assert_eq!(
        h.config().execution_env.as_deref(),
        Some("AWS_Lambda_python3.12")
    );
    let answer = h.invoke(json!({"from": "harness"})).await.unwrap();
    assert!(answer.is_ok(), "{}", answer.text());
    assert_eq!(answer.json::<serde_json::Value>().unwrap()["ok"], true);
    let report = h.check().await.unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.verdict("sigterm").unwrap().status, Status::Pass);
    h.close().await;

    // Negative control: the same code from the same template, without the layer.
    let h = Harness::start(function("Abrupt", "abrupt")).await.unwrap();
    let report = h.check().await.unwrap();
    assert!(!report.passed(), "{report}");
    assert_eq!(report.verdict("sigterm").unwrap().status, Status::Fail);
    h.close().await;
}

#[tokio::test]
async fn a_name_the_template_does_not_have_is_an_error_that_lists_the_ones_it_has() {
    let err = Harness::start(function("Missing", "missing"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoSuchFunction { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.ends_with("no function `Missing` (there are: Graceful, Abrupt)"),
        "{text}"
    );
}
