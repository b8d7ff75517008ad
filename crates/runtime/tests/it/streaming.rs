//! Streamed responses on the wire (§1.6).

use base64::Engine as _;
use bytes::Bytes;
use lambda_grace::{Context, Diagnostic, Response, Runtime};

use crate::support::{Event, FakeApi, Quirks};

async fn stream_run(fail: bool) -> crate::support::Seen {
    let fake = FakeApi::start(vec![Event::new("r1", "{}")], Quirks::default()).await;
    Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_on(fake.drained())
        .run_raw(move |_: Bytes, _ctx: Context| async move {
            let (tx, response) = Response::channel(2);
            tokio::spawn(async move {
                tx.send("hello ").await.unwrap();
                tx.send("world").await.unwrap();
                if fail {
                    tx.fail(Diagnostic::new("Function.StreamBroke", "lost the source"))
                        .await;
                }
            });
            Ok::<_, Diagnostic>(response.with_content_type("text/plain"))
        })
        .await
        .unwrap();
    fake.seen()
        .into_iter()
        .find(|s| s.method == "POST")
        .unwrap()
}

#[tokio::test]
async fn a_stream_is_posted_chunked_and_a_failure_is_sent_as_real_trailers() {
    let post = stream_run(true).await;
    assert_eq!(post.path, "/2018-06-01/runtime/invocation/r1/response");
    assert_eq!(
        post.header("lambda-runtime-function-response-mode"),
        Some("streaming")
    );
    assert_eq!(post.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        post.header("trailer"),
        Some("Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    );
    assert_eq!(post.header("content-type"), Some("text/plain"));
    assert_eq!(
        post.text(),
        "hello world",
        "the error is not written into the body"
    );
    assert_eq!(
        post.trailer("lambda-runtime-function-error-type"),
        Some("Function.StreamBroke")
    );
    let body = base64::engine::general_purpose::STANDARD
        .decode(post.trailer("lambda-runtime-function-error-body").unwrap())
        .unwrap();
    assert_eq!(
        body,
        br#"{"errorType":"Function.StreamBroke","errorMessage":"lost the source"}"#
    );

    // Negative control: a stream that ends cleanly has no trailers.
    let post = stream_run(false).await;
    assert_eq!(post.text(), "hello world");
    assert!(post.trailers.is_empty(), "{:?}", post.trailers);
}
