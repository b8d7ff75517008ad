//! Running an invoke once the Invoke API has checked it: a synchronous one on a leased
//! environment, an asynchronous one queued and retried (as Lambda's Event invokes are).

use super::*;

pub(super) fn decode_client_context(b64: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "Client context must be a valid Base64-encoded JSON object.".to_owned())?;
    String::from_utf8(bytes)
        .map_err(|_| "Client context must be a valid Base64-encoded JSON object.".to_owned())
}

pub(super) async fn invoke_sync(pool: &Pool, mut request: InvokeRequest) -> InvokeOutput {
    let request_id = request.request_id.to_string();
    let env = match pool.acquire(&request_id, false).await {
        Ok(lease) => {
            if lease.deadline.is_some() {
                request.deadline = lease.deadline;
            }
            lease.take()
        }
        Err(AcquireError::Throttled) => {
            return InvokeOutput::service_error(
                request_id,
                service_error::TOO_MANY_REQUESTS,
                "Rate Exceeded.",
            );
        }
        Err(AcquireError::Closed) => {
            return InvokeOutput::service_error(
                request_id,
                service_error::SERVICE,
                "The emulator is shutting down",
            );
        }
        Err(AcquireError::InitFailed(failure)) => {
            return InvokeOutput {
                status: 200,
                request_id,
                function_error: Some("Unhandled"),
                error_code: None,
                content_type: "application/json".to_owned(),
                body: failure.body,
                stream: None,
                log_result: None,
            };
        }
    };
    let invoked = env.invoke(request).await;
    let mut stream = None;
    let (body, content_type, function_error) = match invoked.outcome {
        Outcome::Response { body, content_type } => (
            body,
            content_type.unwrap_or_else(|| "application/json".to_owned()),
            None,
        ),
        Outcome::Streamed { body, content_type } => {
            stream = Some(body);
            let content_type =
                content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
            (Bytes::new(), content_type, None)
        }
        Outcome::FunctionError { body } | Outcome::PlatformError { body } => {
            (body, "application/json".to_owned(), Some("Unhandled"))
        }
    };
    // A streamed answer goes out as it arrives; its log is complete only after it ends, so a
    // stream carries no log tail.
    let log_result = match invoked.tail.filter(|_| stream.is_none()) {
        Some(rx) => {
            let tail = rx.await.unwrap_or_default();
            Some(base64::engine::general_purpose::STANDARD.encode(tail))
        }
        None => None,
    };
    InvokeOutput {
        status: 200,
        request_id,
        function_error,
        error_code: None,
        content_type,
        body,
        stream,
        log_result,
    }
}

/// An `Event` invoke: queued, run when an environment is free, retried twice on a function
/// error (Lambda waits a minute, then two).
pub(super) async fn invoke_async(
    pool: Arc<Pool>,
    mut request: InvokeRequest,
    root: CancellationToken,
) {
    let delay = pool.cfg().async_retry_delay;
    let dropped = |request: &InvokeRequest| {
        tracing::warn!(request_id = %request.request_id, "asynchronous invoke dropped: the emulator is shutting down");
    };
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::select! {
                () = tokio::time::sleep(delay * attempt) => {}
                () = root.cancelled() => return dropped(&request),
            }
        }
        let acquired = tokio::select! {
            acquired = pool.acquire(&request.request_id, true) => acquired,
            () = root.cancelled() => return dropped(&request),
        };
        let lease = match acquired {
            Ok(lease) => lease,
            Err(AcquireError::Closed) => return dropped(&request),
            Err(_) => continue,
        };
        request.deadline = lease.deadline;
        let env = lease.take();
        match env.invoke(request.clone()).await.outcome {
            Outcome::Response { .. } | Outcome::Streamed { .. } => return,
            _ => {
                tracing::warn!(request_id = %request.request_id, attempt = attempt + 1, "asynchronous invoke failed")
            }
        }
    }
    tracing::warn!(request_id = %request.request_id, "asynchronous invoke failed after 2 retries; discarded");
}
