//! A streamed response through the harness: read to its end, with the error its trailers carry
//! (the workspace's `stream` example).

use grace_harness::{Function, Harness};
use serde_json::json;

use crate::util::workspace_bin;

#[tokio::test]
async fn a_streamed_response_is_read_to_its_end_with_its_trailer_error() {
    let h = Harness::start(Function::binary(workspace_bin("stream")))
        .await
        .unwrap();
    let ok = h.invoke(json!({"chunks": 3, "pause_ms": 5})).await.unwrap();
    assert!(ok.streamed && ok.is_ok(), "{ok:?}");
    assert_eq!(ok.text(), "chunk-1\nchunk-2\nchunk-3\n");
    assert_eq!(ok.stream_error, None);
    // Negative control: an error after the chunks arrives in the trailers.
    let failed = h
        .invoke(json!({"chunks": 2, "fail": "midway"}))
        .await
        .unwrap();
    assert!(failed.streamed, "{failed:?}");
    assert_eq!(failed.text(), "chunk-1\nchunk-2\n");
    assert!(failed.stream_error.is_some(), "{failed:?}");
    h.close().await;
}
