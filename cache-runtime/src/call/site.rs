//! A cached function's own state in this process: its identity and policy,
//! its measured run time (for early refresh), and its counters. The macro
//! declares one [`Site`] per function as a `static`; it registers itself on
//! first use, so that [`stats()`](crate::stats()) can list every function
//! that was called.
//!
//! A `static` inside a generic function (or a method of a generic `impl`)
//! is one for every instantiation, but `Table<A>::name` and
//! `Table<B>::name` are two functions to the cache: two identities, two
//! sets of keys, two in-process tiers' worth of copies, two run times. So
//! the `static` serves the first instantiation called, and each other one
//! gets a site of its own, made on its first call and kept for the
//! process's life (there are as many as the program has instantiations).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::call::policy::Policy;
use crate::key::{site_identity, KeyHasher, Md5};
use crate::stats::{Counters, Event, FunctionStats};
use crate::sync::lock;

/// One cached function's state. Built by `#[cache_result]`; not a stable API.
#[doc(hidden)]
pub struct Site {
    pub(crate) policy: Policy,
    identity: OnceLock<Named>,
    /// The sites of the function's other generic instantiations.
    instances: Mutex<Vec<&'static Site>>,
    /// Moving average of the function's run time, in nanoseconds; 0 until
    /// it has run once in this process.
    run_nanos: AtomicU64,
    pub(crate) counters: Counters,
    /// MD5 of `["<identity>","<stored type>"`, the start of every key.
    key_start: OnceLock<Md5>,
}

static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());

impl Site {
    pub const fn new(policy: Policy) -> Self {
        Site {
            policy,
            identity: OnceLock::new(),
            instances: Mutex::new(Vec::new()),
            run_nanos: AtomicU64::new(0),
            counters: Counters::new(),
            key_start: OnceLock::new(),
        }
    }

    /// The site of the instantiation whose marker is `marker` (the
    /// `type_name` of a closure in the function's body, which names the
    /// instantiation: `app::Table<app::A>::name::{{closure}}`), and its
    /// identity (see [`site_identity`]). Registers the site on first use.
    pub fn instance(&'static self, marker: &'static str) -> (&'static Site, &'static str) {
        let named = match self.identity.get() {
            Some(named) => named,
            None => {
                let mut registered = false;
                let named = self.identity.get_or_init(|| {
                    registered = true;
                    Named::new(marker)
                });
                if registered {
                    lock(&SITES).push(self);
                }
                named
            }
        };
        if named.is(marker) {
            return (self, &named.identity);
        }
        self.other_instance(marker)
    }

    /// The site of an instantiation other than the first one called.
    #[cold]
    fn other_instance(&'static self, marker: &'static str) -> (&'static Site, &'static str) {
        let mut instances = lock(&self.instances);
        let found = instances
            .iter()
            .find(|site| site.identity.get().is_some_and(|named| named.is(marker)));
        let site = match found {
            Some(site) => *site,
            None => {
                let site: &'static Site = Box::leak(Box::new(Site::new(self.policy)));
                site.identity
                    .set(Named::new(marker))
                    .unwrap_or_else(|_| unreachable!("a new site has no identity"));
                instances.push(site);
                lock(&SITES).push(site);
                site
            }
        };
        let identity = site.name().unwrap_or_else(|| unreachable!("named above"));
        (site, identity)
    }

    /// A key hasher that has taken the function's identity and stored type:
    /// the same state as `KeyHasher::new(identity).arg(stored_type)`,
    /// computed on the first call and copied on the others.
    pub fn key_hasher<'a>(&'static self, identity: &'a str, stored_type: &str) -> KeyHasher<'a> {
        KeyHasher::resume(identity, stored_type, &self.key_start)
    }

    /// The identity, once the function has been called.
    pub(crate) fn name(&self) -> Option<&str> {
        self.identity.get().map(|named| &*named.identity)
    }

    /// Folds one run of the function into the moving average (weight 1/4
    /// for the newest run: quick to follow a change, steady under noise).
    pub(crate) fn record_run(&'static self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let old = self.run_nanos.load(Ordering::Relaxed);
        let new = match old {
            0 => took,
            old => old - old / 4 + took / 4,
        };
        self.run_nanos.store(new, Ordering::Relaxed);
        self.count(Event::Execution);
    }

    /// The function's typical run time here, once it has run.
    pub(crate) fn run_time(&self) -> Option<Duration> {
        match self.run_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }
}

impl Site {
    /// Counts `event` (and, with the `metrics` feature, reports it).
    pub(crate) fn count(&'static self, event: Event) {
        self.counters.count(event, || self.name());
    }

    /// Records one call's time, from the call to its return.
    pub(crate) fn record_latency(&'static self, took: Duration) {
        self.counters.record_latency(took, || self.name());
    }

    pub(crate) fn stats(&self) -> FunctionStats {
        self.counters.snapshot(self.name().unwrap_or_default())
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

/// An instantiation's marker and the identity taken from it.
struct Named {
    marker: &'static str,
    identity: Box<str>,
}

impl Named {
    fn new(marker: &'static str) -> Self {
        Named {
            marker,
            identity: site_identity(marker).into(),
        }
    }

    /// Whether `marker` names this instantiation: the same string, most
    /// often at the same address.
    fn is(&self, marker: &str) -> bool {
        std::ptr::eq(self.marker, marker) || self.marker == marker
    }
}

/// Every site that has been called, in order of first call.
pub(crate) fn registered() -> Vec<&'static Site> {
    lock(&SITES).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_time_is_a_moving_average() {
        static SITE: Site = Site::new(Policy::new(Duration::from_secs(1)));
        assert_eq!(SITE.run_time(), None);
        SITE.record_run(Duration::from_millis(100));
        assert_eq!(SITE.run_time(), Some(Duration::from_millis(100)));
        SITE.record_run(Duration::from_millis(500));
        assert_eq!(SITE.run_time(), Some(Duration::from_millis(200)));
    }

    #[test]
    fn the_cached_key_start_gives_the_same_keys() {
        static SITE: Site = Site::new(Policy::new(Duration::from_secs(1)));
        for id in [1u64, 2, 1] {
            let resumed = SITE.key_hasher("app::f", "app::User").arg(&id).finish();
            let fresh = KeyHasher::new("app::f").arg("app::User").arg(&id).finish();
            assert_eq!(resumed.unwrap(), fresh.unwrap());
        }
    }

    #[test]
    fn a_site_registers_once_under_its_identity() {
        static SITE: Site = Site::new(Policy::new(Duration::from_secs(1)));
        let marker = "app::f::{{closure}}::{{closure}}";
        let (site, identity) = SITE.instance(marker);
        assert!(std::ptr::eq(site, &SITE));
        assert_eq!(identity, "app::f");
        assert_eq!(SITE.instance(marker).1, "app::f");
        let count = registered()
            .iter()
            .filter(|site| std::ptr::eq(**site, &SITE))
            .count();
        assert_eq!(count, 1);
    }

    #[test]
    fn each_generic_instantiation_has_a_site_of_its_own() {
        static SITE: Site = Site::new(Policy::new(Duration::from_secs(1)));
        let (a, a_identity) = SITE.instance("app::Table<app::A>::name::{{closure}}");
        let (b, b_identity) = SITE.instance("app::Table<app::B>::name::{{closure}}");
        assert_eq!(
            (a_identity, b_identity),
            ("app::Table<app::A>::name", "app::Table<app::B>::name")
        );
        assert!(std::ptr::eq(a, &SITE));
        assert!(!std::ptr::eq(a, b));
        // The same instantiation again (its marker maybe at another address).
        let marker = String::from("app::Table<app::B>::name::{{closure}}");
        let again = SITE.instance(Box::leak(marker.into_boxed_str())).0;
        assert!(std::ptr::eq(again, b));
        assert_eq!(b.policy.ttl, SITE.policy.ttl);
    }
}
