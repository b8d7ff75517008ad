//! `http-axum`: the example app (`http_axum_app`) on lambda-grace-http. A PostgreSQL pool is
//! opened at init when `DATABASE_URL` is set, and a shutdown hook closes it at SIGTERM.
//!
//! Environment:
//! - `DATABASE_URL`: the database for `GET /db` (without it, `/db` answers 503);
//!   `POSTGRES_POOL_SIZE=N` connections (default 2);
//! - `HTTP_AXUM_STREAMING=1`: stream every answer (Function URL in `RESPONSE_STREAM` mode);
//! - `HTTP_AXUM_NO_HOOK=1`: do not register the shutdown hook (negative control: nothing is
//!   closed, and the `cleanup` line is not printed);
//! - `LAMBDA_GRACE_NO_EXTENSION=1`: no internal extension, hence no SIGTERM;
//! - `LAMBDA_GRACE_HTTP_STAGE_PATH=strip|keep`: see lambda-grace-http.

use std::sync::Arc;

use http_axum_app::{AppState, Pool, router};
use lambda_grace::{Diagnostic, Runtime};
use lambda_grace_http::RuntimeExt as _;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn open_pool() -> Result<Option<Arc<Pool>>, Diagnostic> {
    let Some(url) = env("DATABASE_URL") else {
        return Ok(None);
    };
    let size = match env("POSTGRES_POOL_SIZE") {
        Some(n) => n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            Diagnostic::new(
                "Postgres.ConfigInvalid",
                format!("POSTGRES_POOL_SIZE={n:?} is not a positive number"),
            )
        })?,
        None => 2,
    };
    let pool = Pool::open(&url, size)
        .await
        .map_err(|e| Diagnostic::new("Postgres.ConnectFailed", e.to_string()))?;
    Ok(Some(Arc::new(pool)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_grace::Error> {
    lambda_grace::logging::init();
    let mut runtime =
        Runtime::from_env()?.register_extension(env("LAMBDA_GRACE_NO_EXTENSION").is_none());
    let db = runtime.init(open_pool()).await?;
    tracing::info!(
        connections = db.as_ref().map_or(0, |p| p.len()),
        "app ready"
    );

    if env("HTTP_AXUM_NO_HOOK").is_none() {
        let db = db.clone();
        runtime = runtime.on_shutdown("close-pool", move || async move {
            let closed = match db {
                Some(pool) => pool.close().await,
                None => 0,
            };
            println!(
                "[http-axum] SIGTERM received → cleanup: {closed} database connections closed"
            );
            Ok(())
        });
    }

    let app = router(AppState { db: db.clone() });
    let report = if env("HTTP_AXUM_STREAMING").is_some() {
        runtime.run_http_streaming(app).await?
    } else {
        runtime.run_http(app).await?
    };
    let open = db.as_ref().map_or(0, |p| p.len());
    println!(
        "[http-axum] done: cleanup {}, {open} database connections still open",
        if report.is_clean() {
            "complete"
        } else {
            "incomplete"
        }
    );
    Ok(())
}
