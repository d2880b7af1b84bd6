//! What a cached function asks of the cache beyond its key: how long a value
//! lives, whether concurrent callers share work, and what happens near and
//! after expiry. The macro writes one [`Policy`] per function, as a constant.
//!
//! Time left is read from Redis (`PTTL`, in the same round trip as `GET`),
//! so the value stays plain JSON. With `stale_if_error`, the key is kept
//! that much longer than its logical TTL: a value whose time left is within
//! the stale window has expired, but may still be served if the function
//! fails.

use std::time::Duration;

/// One function's caching policy. Built by `#[cache_result]`; not a stable API.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub(crate) ttl: Duration,
    /// Up to this fraction of `ttl` is taken off each write, at random.
    pub(crate) jitter: f64,
    pub(crate) coalesce: bool,
    pub(crate) lock: bool,
    /// XFetch's beta, when early refresh is on.
    pub(crate) early_refresh: Option<f64>,
    /// The stale window: how long a value is kept past its logical TTL.
    pub(crate) stale_if_error: Duration,
    /// Whether a failure of the function returns a stale value.
    pub(crate) stale_on_error: bool,
    /// A miss with a stale value waits this long for the function, then
    /// returns the stale value while the function finishes in a task.
    pub(crate) soft_timeout: Option<Duration>,
    /// The in-process tier: `None` as the cache says (see
    /// [`LocalTier::every_function`](crate::LocalTier::every_function)).
    pub(crate) local: Option<bool>,
    /// The longest a copy stays in the process, when the function says.
    pub(crate) local_for: Option<Duration>,
    /// The key template, for a function with one: logs and spans show it
    /// in place of the key, whose holes may hold personal data (an e-mail).
    pub(crate) template: Option<&'static str>,
}

impl Policy {
    /// `expire = ttl`, everything else off except in-process coalescing.
    pub const fn new(ttl: Duration) -> Self {
        Policy {
            ttl,
            jitter: 0.0,
            coalesce: true,
            lock: false,
            early_refresh: None,
            stale_if_error: Duration::ZERO,
            stale_on_error: false,
            soft_timeout: None,
            local: None,
            local_for: None,
            template: None,
        }
    }

    /// `key = "..."`: the template, shown for this function's keys.
    pub const fn template(mut self, template: &'static str) -> Self {
        self.template = Some(template);
        self
    }

    /// What logs and spans show for `key`: the key, or its template.
    pub(crate) fn shown<'k>(&self, key: &'k str) -> &'k str {
        self.template.unwrap_or(key)
    }

    /// `jitter = fraction`: each write lives `ttl * (1 - fraction * u)`,
    /// `u` uniform in `[0, 1)`.
    pub const fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// `coalesce = false` turns in-process request coalescing off.
    pub const fn coalesce(mut self, on: bool) -> Self {
        self.coalesce = on;
        self
    }

    /// `lock = true`: one process computes a missing value, the others wait.
    pub const fn lock(mut self, on: bool) -> Self {
        self.lock = on;
        self
    }

    /// `early_refresh = beta`: probabilistic early recomputation (XFetch).
    pub const fn early_refresh(mut self, beta: f64) -> Self {
        self.early_refresh = Some(beta);
        self
    }

    /// `stale_if_error = window`: keep values `window` past expiry, to
    /// return when the function fails.
    pub const fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self.stale_on_error = true;
        self
    }

    /// `stale = window`: keep values `window` past expiry, for
    /// `stale_if_error = true` and `soft_timeout`.
    pub const fn stale(mut self, window: Duration) -> Self {
        self.stale_if_error = window;
        self
    }

    /// `stale_if_error = true`, with the window `stale` gives.
    pub const fn stale_on_error(mut self) -> Self {
        self.stale_on_error = true;
        self
    }

    /// `soft_timeout = wait`: a miss with a stale value at hand waits this
    /// long for the function.
    pub const fn soft_timeout(mut self, wait: Duration) -> Self {
        self.soft_timeout = Some(wait);
        self
    }

    /// `local = true | false`: the in-process tier on or off for this
    /// function, whatever the cache's default.
    pub const fn local(mut self, on: bool) -> Self {
        self.local = Some(on);
        self
    }

    /// `local = <seconds>`: the in-process tier on, each copy kept at most
    /// `most` (and never past the Redis entry's own expiry).
    pub const fn local_for(mut self, most: Duration) -> Self {
        self.local = Some(true);
        self.local_for = Some(most);
        self
    }

    /// Whether a lookup needs the time left (`GET` + `PTTL`) or the value alone.
    pub(crate) fn reads_ttl(&self) -> bool {
        self.early_refresh.is_some() || !self.stale_if_error.is_zero()
    }

    /// The store TTL of one write: the logical TTL, jittered down (never
    /// longer than `expire`), plus the stale window.
    pub(crate) fn write_ttl(&self) -> Duration {
        let logical = self.jittered(fastrand::f64);
        logical
            .max(Duration::from_millis(1))
            .saturating_add(self.stale_if_error)
    }

    /// The logical TTL of a write whose draw is `u` in `[0, 1]`:
    /// `ttl * (1 - jitter * u)`; `u` is drawn only with jitter on.
    fn jittered(&self, u: impl FnOnce() -> f64) -> Duration {
        match self.jitter {
            fraction if fraction > 0.0 => self.ttl.mul_f64(1.0 - fraction * u()),
            _ => self.ttl,
        }
    }

    /// How usable a value is that the store keeps for `left` more.
    pub(crate) fn freshness(&self, left: Option<Duration>) -> Freshness {
        match left {
            None => Freshness::Fresh(None),
            Some(left) if left > self.stale_if_error => {
                Freshness::Fresh(Some(left - self.stale_if_error))
            }
            // `PTTL` says 0 in a key's last millisecond.
            Some(_) if self.stale_if_error.is_zero() => Freshness::Expired,
            Some(_) => Freshness::Stale,
        }
    }

    /// XFetch (Vattani, Chierichetti, Lowenstein, VLDB 2015): recompute when
    /// `run_time * beta * -ln(u) >= left`, `u` uniform in `(0, 1]`. The
    /// chance rises as expiry nears and with the function's run time, so
    /// under load one caller refreshes shortly before expiry.
    ///
    /// Never in the first half of a value's life: at thousands of calls per
    /// run time, or with a run time measured on an overloaded machine,
    /// XFetch alone would refresh a value long before it is old, and run
    /// the function several times per TTL. The time left is all a read
    /// sees, so the line is half the shortest TTL a write may get (jitter
    /// shortens writes): past it, any value has served half its own TTL.
    pub(crate) fn refresh_due(&self, left: Duration, run_time: Option<Duration>) -> bool {
        let (Some(beta), Some(run_time)) = (self.early_refresh, run_time) else {
            return false;
        };
        left <= self.shortest_ttl() / 2 && xfetch(left, run_time, beta, 1.0 - fastrand::f64())
    }

    /// The shortest logical TTL a write may get.
    fn shortest_ttl(&self) -> Duration {
        self.jittered(|| 1.0)
    }
}

pub(crate) fn xfetch(left: Duration, run_time: Duration, beta: f64, uniform: f64) -> bool {
    run_time.as_secs_f64() * beta * -uniform.ln() >= left.as_secs_f64()
}

/// A stored value's state under a policy.
#[derive(Debug, PartialEq)]
pub(crate) enum Freshness {
    /// Usable; with its logical time left when known.
    Fresh(Option<Duration>),
    /// Past its logical TTL, inside the stale window.
    Stale,
    /// Gone for every purpose (a key in its last moment, without a window).
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn jitter_only_shortens_and_stays_within_its_fraction() {
        let policy = Policy::new(MINUTE).jitter(0.2);
        let ttls: Vec<Duration> = (0..1000).map(|_| policy.write_ttl()).collect();
        assert!(ttls
            .iter()
            .all(|ttl| *ttl <= MINUTE && *ttl >= MINUTE.mul_f64(0.8)));
        let distinct: std::collections::BTreeSet<_> = ttls.iter().collect();
        assert!(distinct.len() > 100, "spread, not one value");
        assert_eq!(Policy::new(MINUTE).write_ttl(), MINUTE);
    }

    #[test]
    fn the_stale_window_is_kept_beyond_the_ttl_and_read_back_as_stale() {
        let policy = Policy::new(MINUTE).stale_if_error(Duration::from_secs(30));
        assert_eq!(policy.write_ttl(), Duration::from_secs(90));
        assert_eq!(
            policy.freshness(Some(Duration::from_secs(50))),
            Freshness::Fresh(Some(Duration::from_secs(20)))
        );
        assert_eq!(
            policy.freshness(Some(Duration::from_secs(30))),
            Freshness::Stale
        );
        assert_eq!(policy.freshness(None), Freshness::Fresh(None));
        assert_eq!(
            Policy::new(MINUTE).freshness(Some(Duration::ZERO)),
            Freshness::Expired,
            "no window: a key in its last millisecond is never served as stale"
        );
        assert!(policy.reads_ttl());
        assert!(!Policy::new(MINUTE).reads_ttl());
    }

    #[test]
    fn xfetch_refreshes_more_often_near_expiry_and_for_slow_functions() {
        let run = Duration::from_millis(100);
        // -ln(u) >= left / run: with u = 1/e, -ln(u) = 1.
        let u = (-1.0f64).exp();
        assert!(xfetch(Duration::from_millis(99), run, 1.0, u));
        assert!(!xfetch(Duration::from_millis(101), run, 1.0, u));
        assert!(
            xfetch(Duration::from_millis(199), run, 2.0, u),
            "beta scales"
        );
        assert!(
            !xfetch(Duration::from_secs(10), run, 1.0, 1.0),
            "u = 1 never refreshes"
        );

        let policy = Policy::new(MINUTE).early_refresh(1.0);
        let share = |left: Duration| {
            (0..10_000)
                .filter(|_| policy.refresh_due(left, Some(run)))
                .count()
        };
        let (near, far) = (
            share(Duration::from_millis(50)),
            share(Duration::from_millis(500)),
        );
        assert!(near > 5_000 && far < 100, "near {near}, far {far}");
        assert!(
            !policy.refresh_due(Duration::ZERO, None),
            "no run time measured yet"
        );
    }

    #[test]
    fn a_value_is_never_refreshed_in_the_first_half_of_its_ttl() {
        let slow = Some(Duration::from_secs(600));
        let due = |policy: &Policy, left| (0..1000).any(|_| policy.refresh_due(left, slow));
        let policy = Policy::new(MINUTE).early_refresh(1.0);
        assert!(
            !due(&policy, Duration::from_secs(31)),
            "a run of 600 s, 31 s left"
        );
        assert!(
            due(&policy, Duration::from_secs(30)),
            "at half its life it may be"
        );
        // Writes live 30-60 s: the line is half of the shortest.
        let jittered = Policy::new(MINUTE).jitter(0.5).early_refresh(1.0);
        assert!(!due(&jittered, Duration::from_secs(16)));
        assert!(due(&jittered, Duration::from_secs(15)));
    }
}
