//! `http-lambda-http`: the same app (`http_axum_app`) on the official `lambda_http` crate, to
//! compare its answers with `http-axum`'s. Same environment (`DATABASE_URL`,
//! `HTTP_AXUM_STREAMING`, `HTTP_AXUM_NO_HOOK`); the pool is closed by
//! `lambda_runtime::spawn_graceful_shutdown_handler`. lambda_http's own switch for the stage
//! is `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true`.

use std::str::FromStr as _;
use std::sync::Arc;

use http_axum_app::{AppState, Pool, router};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let db = match env("DATABASE_URL") {
        Some(url) => {
            let size = env("POSTGRES_POOL_SIZE").map_or(Ok(2), |n| usize::from_str(&n))?;
            Some(Arc::new(
                Pool::open(&url, size).await.map_err(|e| e.to_string())?,
            ))
        }
        None => None,
    };
    if env("HTTP_AXUM_NO_HOOK").is_none() {
        let db = db.clone();
        lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
            let closed = match db {
                Some(pool) => pool.close().await,
                None => 0,
            };
            println!("[http-lambda-http] SIGTERM received → cleanup: {closed} database connections closed");
        })
        .await;
    }
    let app = router(AppState { db });
    if env("HTTP_AXUM_STREAMING").is_some() {
        lambda_http::run_with_streaming_response(app).await
    } else {
        lambda_http::run(app).await
    }
}
