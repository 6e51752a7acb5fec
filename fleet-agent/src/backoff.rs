//! Exponential backoff with full jitter, so that a thousand agents cut off together do not
//! come back to the manager in lock step.

use std::time::Duration;

use rand::Rng;

/// Delays for retrying a failing call: the ceiling doubles after each failure up to `max`,
/// and each delay is drawn uniformly between half the ceiling and the ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A backoff starting at `base` and never waiting longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max: max.max(base),
            failures: 0,
        }
    }

    /// The delay before the next attempt; counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let ceiling_ms = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let floor_ms = ceiling_ms / 2;
        Duration::from_millis(rand::thread_rng().gen_range(floor_ms..=ceiling_ms))
    }

    /// The current ceiling: `base * 2^failures`, capped at `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first delay after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let ceiling = b.ceiling();
            let delay = b.next_delay();
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} within {ceiling:?}"
            );
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_agents() {
        let delays: std::collections::BTreeSet<_> = (0..50)
            .map(|_| {
                let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
                b.next_delay();
                b.next_delay()
            })
            .collect();
        assert!(delays.len() > 10, "delays must differ between agents");
    }

    #[test]
    fn survives_many_failures() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(5));
        for _ in 0..1000 {
            assert!(b.next_delay() <= Duration::from_secs(5));
        }
    }
}
