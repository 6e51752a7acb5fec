//! Retrying Kubernetes API calls that failed for a passing reason (throttling, a restarting
//! API server, a dropped connection), so one flaky request does not fail a whole revision.

use std::future::Future;
use std::time::Duration;

use crate::backoff::Backoff;

/// Attempts per call, the first included.
const ATTEMPTS: u32 = 5;

/// Whether `error` may go away on its own.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 408 | 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or has failed transiently
/// [`ATTEMPTS`] times, waiting with jittered backoff in between.
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        match call().await {
            Err(e) if is_transient(&e) && backoff.failures() + 1 < ATTEMPTS => {
                let delay = backoff.next_delay();
                tracing::debug!(%what, error = %e, retry_in = ?delay, "transient API error; retrying");
                tokio::time::sleep(delay).await;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("boom", "InternalError")
                .with_code(code)
                .boxed(),
        )
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let outcome = retry("get", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(api_error(503))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(outcome.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let outcome: Result<(), _> = retry("get", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(api_error(422))
        })
        .await;
        assert!(outcome.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let calls = AtomicU32::new(0);
        let outcome: Result<(), _> = retry("get", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(api_error(429))
        })
        .await;
        assert!(outcome.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }
}
