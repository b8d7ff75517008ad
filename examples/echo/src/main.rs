//! `echo`: returns its event unchanged. The leanest function lambda-grace can run, used by the
//! benchmarks; graceful shutdown is on (the internal extension is registered), with no hooks.

use lambda_grace::{Context, Diagnostic, Runtime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_grace::Error> {
    Runtime::from_env()?
        .run(|event: serde_json::Value, _ctx: Context| async move { Ok::<_, Diagnostic>(event) })
        .await?;
    Ok(())
}
