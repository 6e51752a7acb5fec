//! How long the agent asks the manager to hold its desired-state long-poll.
//!
//! A long wait is what makes an idle fleet cheap: the manager answers one renewal per
//! agent per wait. But a proxy or load balancer between agent and manager may cut a
//! request that stays silent for less (ingress-nginx's `proxy-read-timeout` and AWS
//! ALB's idle timeout are both 60 s by default). A cut poll costs a failed request and a
//! backoff, and repeated on every renewal it would do so forever. So the wait adapts: two
//! polls in a row cut after the same length of time reveal a limit on the path, and the
//! next polls ask for a little less than that. One cut alone (a manager restarting
//! under a poll, a dropped link) changes nothing. After a run of polls that lasted their
//! whole wait, the wait doubles back towards the configured one, in case the limit was
//! lifted.

use std::time::Duration;

/// Never ask for less: below this a long-poll is plain polling.
const MIN_WAIT: Duration = Duration::from_secs(10);
/// A poll failing sooner than this was refused or broken, not cut for being idle.
const CUT_AFTER: Duration = Duration::from_secs(5);
/// Full-length polls in a row before the wait grows again.
const GROW_AFTER: u32 = 10;

/// The adaptive long-poll wait of one agent.
#[derive(Debug, Clone)]
pub struct PollWait {
    configured: Duration,
    current: Duration,
    /// How long the previous poll lasted if it was cut, to compare with the next cut.
    last_cut: Option<Duration>,
    full_polls: u32,
}

impl PollWait {
    /// Starts at the configured wait.
    pub fn new(configured: Duration) -> PollWait {
        PollWait {
            configured,
            current: configured,
            last_cut: None,
            full_polls: 0,
        }
    }

    /// The wait to ask for in the next poll.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// A poll came back with an answer after `elapsed`.
    pub fn answered(&mut self, elapsed: Duration) {
        self.last_cut = None;
        // The manager shortens a wait by up to a quarter; an answer before that is a
        // change, which says nothing about the path.
        if elapsed < self.current * 7 / 10 {
            return;
        }
        self.full_polls += 1;
        if self.full_polls >= GROW_AFTER && self.current < self.configured {
            self.current = (self.current * 2).min(self.configured);
            self.full_polls = 0;
        }
    }

    /// A poll failed after `elapsed` without an answer (connection closed or reset, a
    /// gateway timeout). Returns whether the wait was shortened.
    pub fn failed(&mut self, elapsed: Duration) -> bool {
        self.full_polls = 0;
        // Failing sooner than CUT_AFTER is a refusal; failing after the whole wait (a
        // stalled link timing out) is not a cut for idleness either.
        if elapsed < CUT_AFTER || elapsed >= self.current {
            self.last_cut = None;
            return false;
        }
        let previous = self.last_cut.replace(elapsed);
        let Some(previous) = previous else {
            return false;
        };
        let (short, long) = (previous.min(elapsed), previous.max(elapsed));
        // "The same length": within a fifth of each other.
        if long.saturating_sub(short) > long / 5 {
            return false;
        }
        let shorter = (short * 3 / 4).max(MIN_WAIT);
        if shorter >= self.current {
            return false;
        }
        self.current = shorter;
        self.last_cut = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_path_that_cuts_idle_requests_shortens_the_wait_below_its_limit() {
        let mut w = PollWait::new(S(300));
        // A proxy cutting at 60 s: the first cut alone changes nothing.
        assert!(!w.failed(S(60)));
        assert_eq!(w.current(), S(300));
        assert!(w.failed(S(61)));
        assert_eq!(w.current(), S(45));
        // From then on polls run their whole (shorter) wait.
        w.answered(S(40));
        assert_eq!(w.current(), S(45));
    }

    #[test]
    fn one_off_failures_leave_the_wait_alone() {
        let mut w = PollWait::new(S(300));
        // A manager restart under a poll, then a refused connection, then a cut at
        // another length: no pattern.
        assert!(!w.failed(S(130)));
        assert!(!w.failed(S(1)));
        assert!(!w.failed(S(200)));
        assert!(!w.failed(S(90)));
        assert_eq!(w.current(), S(300));
        // Two similar cuts separated by an answer are not a pattern either.
        assert!(!w.failed(S(60)));
        w.answered(S(250));
        assert!(!w.failed(S(60)));
        assert_eq!(w.current(), S(300));
        // A stalled link times polls out after their whole wait: not a proxy's limit.
        assert!(!w.failed(S(330)));
        assert!(!w.failed(S(330)));
        assert_eq!(w.current(), S(300));
    }

    #[test]
    fn the_wait_grows_back_after_full_polls_and_never_past_the_configured_one() {
        let mut w = PollWait::new(S(300));
        w.failed(S(60));
        w.failed(S(60));
        assert_eq!(w.current(), S(45));
        // Answers to changes (short polls) do not count as full ones.
        for _ in 0..20 {
            w.answered(S(1));
        }
        assert_eq!(w.current(), S(45));
        for _ in 0..GROW_AFTER {
            w.answered(S(45));
        }
        assert_eq!(w.current(), S(90));
        for _ in 0..GROW_AFTER * 3 {
            let wait = w.current();
            w.answered(wait);
        }
        assert_eq!(w.current(), S(300));
    }

    #[test]
    fn the_wait_never_drops_below_the_minimum() {
        let mut w = PollWait::new(S(300));
        w.failed(S(6));
        assert!(w.failed(S(6)));
        assert_eq!(w.current(), MIN_WAIT);
        w.failed(S(6));
        assert!(!w.failed(S(6)));
        assert_eq!(w.current(), MIN_WAIT);
    }
}
