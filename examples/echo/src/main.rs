//! `echo`: returns its event unchanged. The leanest function lambda-grace can run, used by the
//! benchmarks; graceful shutdown is on (the internal extension is registered), with no hooks.
//!
//! The `local` flavor, not `current_thread`: the same single-threaded scheduler, built without
//! referring to the multi-threaded one, which (with `libm`) would otherwise be linked in whenever
//! the build enables tokio's `rt-multi-thread`, as a workspace-wide build does.

use lambda_grace::{Context, Diagnostic, Runtime};

#[tokio::main(flavor = "local")]
async fn main() -> Result<(), lambda_grace::Error> {
    Runtime::from_env()?
        .run(|event: serde_json::Value, _ctx: Context| async move { Ok::<_, Diagnostic>(event) })
        .await?;
    Ok(())
}
