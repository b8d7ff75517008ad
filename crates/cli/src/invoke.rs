//! `grace invoke`: invoke a function through the Invoke API, like `aws lambda invoke`.

use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use bytes::Bytes;

use crate::client;

/// Invoke a function served by `grace serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  grace invoke echo --payload '{\"hello\":\"world\"}'
  grace invoke echo --payload @event.json --tail
  grace invoke echo --event                 # asynchronous: 202, queued")]
pub(crate) struct Args {
    /// The function's name.
    pub(crate) name: String,
    /// The event: JSON text, or @FILE.
    #[arg(long, default_value = "{}")]
    pub(crate) payload: String,
    /// Invoke asynchronously (InvocationType Event).
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) event: bool,
    /// Only validate (InvocationType DryRun).
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print the last 4 KB of the invocation's log (X-Amz-Log-Result) to stderr.
    #[arg(long)]
    pub(crate) tail: bool,
    /// The Invoke API (default: $GRACE_ENDPOINT or http://127.0.0.1:9001).
    #[arg(long)]
    pub(crate) endpoint: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let payload = match args.payload.strip_prefix('@') {
        Some(file) => std::fs::read(file).with_context(|| format!("cannot read {file}"))?,
        None => args.payload.clone().into_bytes(),
    };
    let mut headers = Vec::new();
    let kind = if args.event {
        "Event"
    } else if args.dry_run {
        "DryRun"
    } else {
        "RequestResponse"
    };
    headers.push(("x-amz-invocation-type", kind.to_owned()));
    if args.tail {
        headers.push(("x-amz-log-type", "Tail".to_owned()));
    }
    let endpoint = client::endpoint(args.endpoint);
    let path = format!("/2015-03-31/functions/{}/invocations", args.name);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answer = rt.block_on(client::send(
        &endpoint,
        "POST",
        &path,
        &headers,
        Bytes::from(payload),
    ))?;
    if let Some(log) = answer.headers.get("x-amz-log-result") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(log.as_bytes())
            .unwrap_or_default();
        eprint!("{}", String::from_utf8_lossy(&decoded));
    }
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if answer.status >= 300 {
        let code = header("x-amzn-errortype").unwrap_or_else(|| "Error".to_owned());
        anyhow::bail!(
            "{code} ({}): {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    if !answer.body.is_empty() {
        println!("{}", String::from_utf8_lossy(&answer.body));
    }
    if answer.status == 202 {
        eprintln!(
            "grace invoke: accepted (202), request id {}",
            header("x-amzn-requestid").unwrap_or_default()
        );
    }
    if let Some(error) = header("x-amz-function-error") {
        eprintln!("grace invoke: function error ({error})");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
