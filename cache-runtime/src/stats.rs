//! What each cached function did in this process: hits, misses, runs,
//! writes, errors. Counting costs one relaxed atomic add per event.
//!
//! ```
//! for stats in cache_runtime::stats() {
//!     println!("{}: {:.0}% hits", stats.function, stats.hit_ratio() * 100.0);
//! }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use crate::site::{registered, Site};

/// A counter of events.
pub(crate) struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A site's counters; see [`FunctionStats`] for what each counts.
pub(crate) struct Counters {
    pub(crate) local_hits: Counter,
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) coalesced: Counter,
    pub(crate) executions: Counter,
    pub(crate) refreshes: Counter,
    pub(crate) stale: Counter,
    pub(crate) stores: Counter,
    pub(crate) errors: Counter,
    pub(crate) uncached: Counter,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            local_hits: Counter::new(),
            hits: Counter::new(),
            misses: Counter::new(),
            coalesced: Counter::new(),
            executions: Counter::new(),
            refreshes: Counter::new(),
            stale: Counter::new(),
            stores: Counter::new(),
            errors: Counter::new(),
            uncached: Counter::new(),
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
    /// Stale values returned because the function failed (`stale_if_error`).
    pub stale: u64,
    /// Values written to the store.
    pub stores: u64,
    /// Store reads or writes that failed (the call went on without them).
    pub errors: u64,
    /// Calls that ran uncached because an argument could not be serialized.
    pub uncached: u64,
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
            local_hits: c.local_hits.get(),
            hits: c.hits.get(),
            misses: c.misses.get(),
            coalesced: c.coalesced.get(),
            executions: c.executions.get(),
            refreshes: c.refreshes.get(),
            stale: c.stale.get(),
            stores: c.stores.get(),
            errors: c.errors.get(),
            uncached: c.uncached.get(),
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
