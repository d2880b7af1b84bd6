//! What each cached function did in this process: hits, misses, runs,
//! writes, errors. Counting costs one relaxed atomic add per event, on the
//! calling thread's stripe (`striped`).
//!
//! ```
//! for stats in cache_runtime::stats() {
//!     println!("{}: {:.0}% hits", stats.function, stats.hit_ratio() * 100.0);
//! }
//! ```

pub(crate) mod event;
pub(crate) mod latency;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod striped;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) use self::event::{Event, EVENTS};
use self::latency::{Histogram, Latency};
use self::striped::Striped;

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

    /// Counts `event` of the function `function` (and, with the `metrics`
    /// feature, reports it).
    ///
    /// The name is asked for only when the metrics report it: a hit counts
    /// twice, and a name is an atomic load each time.
    pub(crate) fn count(
        &'static self,
        event: Event,
        function: impl FnOnce() -> Option<&'static str>,
    ) {
        self.counts.mine()[event as usize].fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::report(self.id(), function(), |handles| handles.count(event));
        #[cfg(not(feature = "metrics"))]
        let _ = function;
    }

    /// Records one call's time, from the call to its return.
    pub(crate) fn record_latency(
        &'static self,
        took: Duration,
        function: impl FnOnce() -> Option<&'static str>,
    ) {
        self.latency.record(took);
        #[cfg(feature = "metrics")]
        metrics::report(self.id(), function(), |handles| {
            handles.record(took.as_secs_f64())
        });
        #[cfg(not(feature = "metrics"))]
        let _ = function;
    }

    /// Which function's counters these are, for the metrics' handles.
    #[cfg(feature = "metrics")]
    fn id(&'static self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// A snapshot of the counters, as the function `function`'s.
    pub(crate) fn snapshot(&self, function: &str) -> FunctionStats {
        FunctionStats {
            function: function.to_owned(),
            local_hits: self.get(Event::LocalHit),
            hits: self.get(Event::Hit),
            misses: self.get(Event::Miss),
            coalesced: self.get(Event::Coalesced),
            executions: self.get(Event::Execution),
            refreshes: self.get(Event::Refresh),
            stale: self.get(Event::Stale),
            stores: self.get(Event::Store),
            errors: self.get(Event::Error),
            uncached: self.get(Event::Uncached),
            latency: self.latency.snapshot(),
        }
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
    /// Stale values returned because the function failed (`stale_if_error`)
    /// or was slower than its `soft_timeout`.
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
