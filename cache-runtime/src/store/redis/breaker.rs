//! The circuit breaker in front of a Redis store: when to stop asking Redis.
//!
//! Closed: every call uses Redis. After `threshold` outages in a row (a
//! timeout, a refused or dropped connection, a failed login), or after one
//! failed connection attempt, the breaker opens: calls skip Redis, with no
//! network wait, for `cooldown`. Then one call probes Redis; its outcome
//! closes the breaker or opens it again. A reply from Redis, even an error
//! reply (`WRONGTYPE`), is not an outage: Redis is there.
//!
//! On a Tokio runtime the probe is not a call: a background prober
//! (`redis.rs`) takes it, so that no caller waits on a Redis that does not
//! answer. Elsewhere (sync functions off any runtime) the first call after
//! the cool-down probes.
//!
//! The closed state costs one atomic load per command, and a second when the
//! command succeeds after failures. Changes of state are logged once each.

use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{self, Instant};
use crate::Error;

pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    /// Outages in a row while closed.
    failures: AtomicU32,
    /// Nanoseconds since `epoch` until which the breaker is open; 0: closed.
    open_until: AtomicU64,
    /// A probe is in flight: other calls keep skipping Redis.
    probing: AtomicBool,
    /// A background prober runs: calls never probe.
    prober: AtomicBool,
    epoch: Instant,
    /// For log lines: the store's redacted URL.
    url: String,
}

/// Leave to use Redis for one command. A probe that is dropped without an
/// outcome (its call was cancelled) counts as an outage, so that the breaker
/// never waits for a probe that will not come back.
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration, url: String) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            prober: AtomicBool::new(false),
            epoch: clock::now(),
            url,
        }
    }

    /// A permit, or `Error::Unavailable` while the breaker is open.
    pub(crate) fn permit(&self) -> Result<Permit<'_>, Error> {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Ok(Permit {
                breaker: self,
                probe: false,
                done: false,
            });
        }
        let cooled_down = self.now() >= until;
        if cooled_down && !self.prober.load(Ordering::Acquire) {
            if let Some(probe) = self.probe() {
                return Ok(probe);
            }
        }
        Err(Error::Unavailable(self.cooldown))
    }

    /// The permit of the one probe, unless another probe is in flight.
    pub(crate) fn probe(&self) -> Option<Permit<'_>> {
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        Some(Permit {
            breaker: self,
            probe: true,
            done: false,
        })
    }

    /// How long until the breaker lets a probe through; `None` while closed.
    pub(crate) fn reopens_in(&self) -> Option<Duration> {
        match self.open_until.load(Ordering::Acquire) {
            0 => None,
            until => Some(Duration::from_nanos(until.saturating_sub(self.now()))),
        }
    }

    pub(crate) fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// Becomes the background prober, unless one runs already. Called
    /// after the breaker opened: the fence pairs with the one in
    /// [`Breaker::prober_done`].
    pub(crate) fn claim_prober(&self) -> bool {
        fence(Ordering::SeqCst);
        self.prober
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The background prober stopped: calls probe again.
    pub(crate) fn release_prober(&self) {
        self.prober.store(false, Ordering::Release);
    }

    /// The background prober found the breaker closed and hands its role
    /// back; whether it must go on instead. A command may open the breaker
    /// again between the prober's look and the hand-back, find the role
    /// taken, and start no prober: so the prober looks once more after
    /// handing back (the two fences make sure that one of them sees the
    /// other), and takes the role again if the breaker is open and nobody
    /// else took it.
    pub(crate) fn prober_done(&self) -> bool {
        self.release_prober();
        fence(Ordering::SeqCst);
        self.open_until.load(Ordering::Acquire) != 0 && self.claim_prober()
    }

    /// Every write here is guarded by a load: on a healthy server this runs
    /// on every command from every thread, and an unconditional store would
    /// make the breaker's cache line bounce between cores on every call.
    fn succeeded(&self, probe: bool) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.open_until.load(Ordering::Acquire) != 0
            && self.open_until.swap(0, Ordering::AcqRel) != 0
        {
            tracing::info!(url = %self.url, "Redis answers again; caching resumed");
        }
        if probe {
            self.probing.store(false, Ordering::Release);
        }
    }

    /// Counts an outage; true when the breaker is (now) open.
    fn failed(&self, error: &Error, opens_at_once: bool, probe: bool) -> bool {
        let failures = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if !(probe || opens_at_once || failures >= self.threshold) {
            return false;
        }
        let until = self.now() + u64::try_from(self.cooldown.as_nanos()).unwrap_or(u64::MAX / 2);
        let was = self.open_until.swap(until, Ordering::AcqRel);
        self.probing.store(false, Ordering::Release);
        if was == 0 {
            tracing::warn!(
                url = %self.url, %error, cooldown = ?self.cooldown,
                "Redis unavailable; calls run without the cache until it answers again"
            );
            crate::notice::REDIS_UNAVAILABLE.unheard(format_args!(
                "Redis at {} is unavailable ({error}); calls run without the cache until it \
                 answers again",
                self.url
            ));
        } else {
            tracing::debug!(url = %self.url, %error, "Redis still unavailable");
        }
        true
    }

    /// Nanoseconds since the epoch, never 0 (0 means closed).
    fn now(&self) -> u64 {
        u64::try_from(
            clock::now()
                .saturating_duration_since(self.epoch)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX / 2)
        .max(1)
    }
}

impl Permit<'_> {
    /// Records how the command went. `connecting`: the command had to open
    /// the connection first, and a failed connection attempt opens the
    /// breaker at once (each attempt can cost the whole connect timeout).
    /// True when this outage left the breaker open.
    pub(crate) fn record<T>(mut self, result: &Result<T, Error>, connecting: bool) -> bool {
        self.done = true;
        match result {
            Err(error) if is_outage(error) => self.breaker.failed(error, connecting, self.probe),
            _ => {
                self.breaker.succeeded(self.probe);
                false
            }
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.done {
            self.breaker
                .failed(&Error::Unavailable(self.breaker.cooldown), true, true);
        }
    }
}

/// Whether an error says Redis cannot be used (rather than that it answered
/// with an error). A server still loading its data (`LOADING`) or a
/// cluster without a primary for the slot (`MASTERDOWN`) answers every
/// command with an error until it is ready: an outage, which the breaker
/// waits out and its probe finds over.
fn is_outage(error: &Error) -> bool {
    use redis::ServerErrorKind::{BusyLoading, MasterDown};
    match error {
        Error::Timeout(_) | Error::Unavailable(_) => true,
        Error::Redis(error) => matches!(
            error.inner().kind(),
            redis::ErrorKind::Io
                | redis::ErrorKind::AuthenticationFailed
                | redis::ErrorKind::ClusterConnectionNotFound
                | redis::ErrorKind::Client
                | redis::ErrorKind::Server(BusyLoading | MasterDown)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::on_mock_clock;

    fn outage() -> Result<(), Error> {
        Err(Error::Timeout(Duration::from_millis(1)))
    }

    fn breaker(threshold: u32, cooldown_ms: u64) -> Breaker {
        Breaker::new(
            threshold,
            Duration::from_millis(cooldown_ms),
            "redis://test".into(),
        )
    }

    #[test]
    fn a_loading_or_masterless_server_is_an_outage_an_error_reply_is_not() {
        let server = |kind, text: &'static str| {
            Error::redis(redis::RedisError::from((
                redis::ErrorKind::Server(kind),
                text,
            )))
        };
        use redis::ServerErrorKind::{BusyLoading, MasterDown, ResponseError};
        assert!(is_outage(&server(BusyLoading, "LOADING")));
        assert!(is_outage(&server(MasterDown, "MASTERDOWN")));
        assert!(!is_outage(&server(ResponseError, "WRONGTYPE")));
    }

    #[test]
    fn opens_after_threshold_outages_in_a_row() {
        let breaker = breaker(3, 60_000);
        for _ in 0..2 {
            breaker.permit().unwrap().record(&outage(), false);
        }
        breaker
            .permit()
            .unwrap()
            .record(&Ok::<(), Error>(()), false);
        for _ in 0..2 {
            breaker.permit().unwrap().record(&outage(), false);
        }
        assert!(breaker.permit().is_ok(), "a success reset the count");
        breaker.permit().unwrap().record(&outage(), false);
        assert!(matches!(breaker.permit(), Err(Error::Unavailable(_))));
    }

    #[test]
    fn a_failed_connection_attempt_opens_at_once() {
        let breaker = breaker(5, 60_000);
        breaker.permit().unwrap().record(&outage(), true);
        assert!(breaker.permit().is_err());
    }

    #[test]
    fn error_replies_are_not_outages() {
        let breaker = breaker(1, 60_000);
        let reply = redis::RedisError::from((redis::ErrorKind::Parse, "WRONGTYPE-like"));
        breaker
            .permit()
            .unwrap()
            .record(&Err::<(), _>(Error::redis(reply)), false);
        assert!(breaker.permit().is_ok());
    }

    #[test]
    fn after_cooldown_one_probe_decides() {
        on_mock_clock(|clock| {
            let breaker = breaker(1, 20);
            breaker.permit().unwrap().record(&outage(), false);
            assert!(breaker.permit().is_err());
            clock.increment(Duration::from_millis(30));

            let probe = breaker.permit().expect("the probe");
            assert!(breaker.permit().is_err(), "one probe at a time");
            probe.record(&Ok::<(), Error>(()), false);
            assert!(breaker.permit().is_ok(), "closed again");
        });
    }

    #[test]
    fn with_a_background_prober_calls_never_probe() {
        on_mock_clock(|clock| {
            let breaker = breaker(1, 20);
            assert!(breaker.claim_prober());
            assert!(!breaker.claim_prober(), "one prober at a time");
            assert!(
                breaker.permit().unwrap().record(&outage(), false),
                "the outage opened it"
            );
            assert!(breaker.reopens_in().is_some());
            clock.increment(Duration::from_millis(30));
            assert_eq!(breaker.reopens_in(), Some(Duration::ZERO));
            assert!(breaker.permit().is_err(), "the prober probes, not a call");

            let probe = breaker.probe().expect("the prober's probe");
            assert!(breaker.probe().is_none(), "one probe at a time");
            assert!(!probe.record(&Ok::<(), Error>(()), false));
            assert_eq!(breaker.reopens_in(), None, "closed by the prober's probe");
            breaker.release_prober();
            assert!(breaker.claim_prober());
        });
    }

    #[test]
    fn a_prober_that_finds_the_breaker_opened_again_as_it_stops_goes_on() {
        let breaker = breaker(1, 20);
        assert!(breaker.claim_prober());
        assert!(!breaker.prober_done(), "closed: the prober stops");
        assert!(breaker.claim_prober(), "and its role is free");

        // A command opens the breaker after the prober's last look.
        assert!(breaker.permit().unwrap().record(&outage(), false));
        assert!(!breaker.claim_prober(), "the command finds the role taken");
        assert!(
            breaker.prober_done(),
            "the prober sees the opening and goes on"
        );
        assert!(!breaker.claim_prober(), "still the prober");
        assert!(breaker.permit().is_err(), "calls do not probe meanwhile");
    }

    #[test]
    fn a_failed_or_dropped_probe_opens_again() {
        on_mock_clock(|clock| {
            let breaker = breaker(1, 20);
            breaker.permit().unwrap().record(&outage(), false);
            clock.increment(Duration::from_millis(30));
            breaker.permit().unwrap().record(&outage(), false);
            assert!(breaker.permit().is_err(), "reopened by the failed probe");

            clock.increment(Duration::from_millis(30));
            drop(breaker.permit().expect("a probe"));
            assert!(breaker.permit().is_err(), "a cancelled probe reopens");
            clock.increment(Duration::from_millis(30));
            assert!(
                breaker.permit().is_ok(),
                "and the next cooldown allows another probe"
            );
        });
    }
}
