//! Waiting for a condition in whole-system tests: poll with a deadline and report the last
//! observation when it never held, so a failure says what was seen instead of "timed out".

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// Polls `probe` every `interval` until it returns `Ok(Some(v))`, then returns `v`.
///
/// `Ok(None)` and `Err(_)` both mean "not yet"; the last of them is part of the error
/// when `timeout` passes.
pub async fn until<T, E: Debug, F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "condition not met".to_string(),
            Err(e) => format!("{e:?}"),
        };
        if Instant::now() >= deadline {
            anyhow::bail!("{what}: not reached within {timeout:?}; last: {last}");
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let mut n = 0;
        let v = until(
            "counter",
            Duration::from_secs(2),
            Duration::from_millis(1),
            || {
                n += 1;
                let v = n;
                async move { Ok::<_, String>((v >= 3).then_some(v)) }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn reports_the_last_error() {
        let err = until::<(), _, _, _>(
            "never",
            Duration::from_millis(20),
            Duration::from_millis(5),
            || async { Err::<Option<()>, _>("connection refused") },
        )
        .await
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("never") && msg.contains("connection refused"),
            "{msg}"
        );
    }
}
