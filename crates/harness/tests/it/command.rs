//! A function given as a command line (`Function::command`): the Python SIGTERM example under
//! the official runtime interface client, with `.dir`, `.execution_env` and `.layer`.

use grace_harness::{Function, Harness, Status};
use serde_json::json;

use crate::util::{python, scratch, workspace, workspace_bin};

fn python_function(tag: &str) -> Function {
    let python = python();
    let python = python.to_str().unwrap();
    Function::command("py", [python, "-m", "awslambdaric", "sigterm_app.handler"])
        .dir(workspace().join("tests/python"))
        .execution_env("AWS_Lambda_python3.12")
        .env(
            "SIGTERM_APP_FILE",
            scratch(tag).join("out").to_str().unwrap(),
        )
        // See template.rs: SIGTERM right after a thaw is the freezer's question.
        .freeze(false)
}

#[tokio::test]
async fn a_command_line_function_gets_sigterm_with_the_layer_and_not_without() {
    let layer = scratch("command-layer");
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::fs::copy(
        workspace_bin("shutdown-enabler"),
        layer.join("extensions/shutdown-enabler"),
    )
    .unwrap();
    let h = Harness::start(python_function("command-graceful").layer(&layer))
        .await
        .unwrap();
    assert_eq!(h.name(), "py");
    let answer = h.invoke(json!({})).await.unwrap();
    assert!(answer.is_ok(), "{}", answer.text());
    h.spin_down().await.unwrap();
    let out = h.output();
    assert!(
        out.iter().any(|l| l.contains("[python] cleanup done")),
        "{out:#?}"
    );
    h.close().await;

    // Negative control: without the layer no extension registers, and there is no SIGTERM.
    let h = Harness::start(python_function("command-abrupt"))
        .await
        .unwrap();
    assert!(h.invoke(json!({})).await.unwrap().is_ok());
    h.spin_down().await.unwrap();
    assert!(
        !h.output().iter().any(|l| l.contains("SIGTERM received")),
        "{:#?}",
        h.output()
    );
    let report = h.check().await.unwrap();
    assert_eq!(report.verdict("sigterm").unwrap().status, Status::Fail);
    h.close().await;
}
