//! `grace shutdown`: spin idle environments down now, with the real shutdown sequence.

use std::process::ExitCode;

use bytes::Bytes;

use crate::client;

/// Spin idle environments down now, gracefully (SIGTERM → SHUTDOWN → SIGKILL, with budgets).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  grace shutdown            # every function's idle environments
  grace shutdown echo       # only echo's")]
pub(crate) struct Args {
    /// Only this function's environments.
    pub(crate) name: Option<String>,
    /// The Invoke API (default: $GRACE_ENDPOINT or http://127.0.0.1:9001).
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let endpoint = client::endpoint(args.endpoint);
    let path = match &args.name {
        Some(name) => format!("/grace/v1/shutdown?function={name}"),
        None => "/grace/v1/shutdown".to_owned(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = rt.block_on(client::send(&endpoint, "POST", &path, &[], Bytes::new()))?;
    if answer.status != 200 {
        anyhow::bail!(
            "{} ({})",
            String::from_utf8_lossy(&answer.body),
            answer.status
        );
    }
    let n = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["environments"].as_u64())
        .unwrap_or(0);
    println!(
        "spun down {n} idle environment{}",
        if n == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
