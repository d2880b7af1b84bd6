//! What each cached function did in this process: hits, misses, runs,
//! writes, errors. Counting costs one relaxed atomic add per event, on the
//! calling thread's stripe (`striped`).
//!
//! ```
//! for stats in cache_runtime::stats() {
//!     println!("{}: {:.0}% hits", stats.function, stats.hit_ratio() * 100.0);
//! }
//! ```

pub(crate) mod latency;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod striped;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::call::site::{registered, Site};
use crate::stats::latency::{Histogram, Latency};
use crate::stats::striped::Striped;

/// What a cached call can do; see [`FunctionStats`] for each. The first five
/// are a call's outcome: every call has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    LocalHit,
    Hit,
    Miss,
    Coalesced,
    Uncached,
    Execution,
    Refresh,
    Stale,
    Store,
    Error,
}

pub(crate) const EVENTS: usize = 10;

impl Event {
    /// Every event, in the order of their counters.
    #[cfg(feature = "metrics")]
    pub(crate) const ALL: [Event; EVENTS] = [
        Event::LocalHit,
        Event::Hit,
        Event::Miss,
        Event::Coalesced,
        Event::Uncached,
        Event::Execution,
        Event::Refresh,
        Event::Stale,
        Event::Store,
        Event::Error,
    ];

    /// The label in spans and metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Event::LocalHit => "local_hit",
            Event::Hit => "hit",
            Event::Miss => "miss",
            Event::Coalesced => "coalesced",
            Event::Uncached => "uncached",
            Event::Execution => "execution",
            Event::Refresh => "refresh",
            Event::Stale => "stale",
            Event::Store => "store",
            Event::Error => "error",
        }
    }

    pub(crate) fn is_outcome(self) -> bool {
        matches!(
            self,
            Event::LocalHit | Event::Hit | Event::Miss | Event::Coalesced | Event::Uncached
        )
    }
}

// `ALL[i]` is the event counted at index `i` (the metrics' handles are
// made in `ALL`'s order and taken by `event as usize`): checked at build.
#[cfg(feature = "metrics")]
const _: () = {
    let mut i = 0;
    while i < EVENTS {
        assert!(Event::ALL[i] as usize == i, "Event::ALL out of order");
        i += 1;
    }
};

/// A site's counters and latency histogram.
pub(crate) struct Counters {
    counts: Striped<[AtomicU64; EVENTS]>,
    latency: Histogram,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            counts: Striped::new(),
            latency: Histogram::new(),
        }
    }

    fn get(&self, event: Event) -> u64 {
        self.counts
            .all()
            .map(|stripe| stripe[event as usize].load(Ordering::Relaxed))
            .sum()
    }
}

impl Site {
    /// Counts `event` (and, with the `metrics` feature, reports it).
    pub(crate) fn count(&'static self, event: Event) {
        self.counters.counts.mine()[event as usize].fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        crate::stats::metrics::report(self, |handles| handles.count(event));
    }

    /// Records one call's time, from the call to its return.
    pub(crate) fn record_latency(&'static self, took: Duration) {
        self.counters.latency.record(took);
        #[cfg(feature = "metrics")]
        crate::stats::metrics::report(self, |handles| handles.record(took.as_secs_f64()));
    }
}

/// A snapshot of one cached function's counters since the process started.
///
/// Every call is exactly one of: a local hit (from the in-process tier), a
/// hit (from the store), a miss, a coalesced call (it waited for a
/// concurrent call of the same key and took its result), or an uncached
/// call (its key could not be made).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionStats {
    /// The function's identity, e.g. `my_app::users::find_user`.
    pub function: String,
    /// Calls answered from the in-process tier, without a round trip.
    pub local_hits: u64,
    /// Calls answered from the store.
    pub hits: u64,
    /// Calls that found no usable value and went on to run the function
    /// (or took the value another process stored meanwhile).
    pub misses: u64,
    /// Calls that shared a concurrent call's lookup or run instead of their own.
    pub coalesced: u64,
    /// Runs of the function's body.
    pub executions: u64,
    /// Early refreshes started by a hit close to expiry (`early_refresh`).
    pub refreshes: u64,
    /// Stale values returned because the function failed (`stale_if_error`).
    pub stale: u64,
    /// Values written to the store.
    pub stores: u64,
    /// Store reads or writes that failed (the call went on without them).
    pub errors: u64,
    /// Calls that ran uncached because an argument could not be serialized.
    pub uncached: u64,
    /// How long calls took, from the call to its return.
    pub latency: Latency,
}

impl FunctionStats {
    /// Calls answered without running the function (local hits, hits,
    /// coalesced) over calls that looked the key up (those and misses);
    /// 0 before the first call.
    pub fn hit_ratio(&self) -> f64 {
        let answered = self.local_hits + self.hits + self.coalesced;
        match answered + self.misses {
            0 => 0.0,
            calls => answered as f64 / calls as f64,
        }
    }
}

impl Site {
    pub(crate) fn stats(&self) -> FunctionStats {
        let c = &self.counters;
        FunctionStats {
            function: self.name().unwrap_or_default().to_owned(),
            local_hits: c.get(Event::LocalHit),
            hits: c.get(Event::Hit),
            misses: c.get(Event::Miss),
            coalesced: c.get(Event::Coalesced),
            executions: c.get(Event::Execution),
            refreshes: c.get(Event::Refresh),
            stale: c.get(Event::Stale),
            stores: c.get(Event::Store),
            errors: c.get(Event::Error),
            uncached: c.get(Event::Uncached),
            latency: c.latency.snapshot(),
        }
    }
}

/// The counters of every cached function called so far in this process,
/// in order of first call.
pub fn stats() -> Vec<FunctionStats> {
    registered().iter().map(|site| site.stats()).collect()
}

/// The counters of the function named `identity` (see
/// [`CachedFunction::stats`](crate::CachedFunction::stats)); zero when it
/// has not been called.
pub(crate) fn stats_of(identity: &str) -> FunctionStats {
    registered()
        .iter()
        .find(|site| site.name() == Some(identity))
        .map_or_else(
            || FunctionStats {
                function: identity.to_owned(),
                ..FunctionStats::default()
            },
            |site| site.stats(),
        )
}
