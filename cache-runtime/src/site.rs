//! A cached function's own state in this process: its identity and policy,
//! its measured run time (for early refresh), and its counters. The macro
//! declares one [`Site`] per function as a `static`; it registers itself on
//! first use, so that [`stats()`](crate::stats()) can list every function
//! that was called.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::key::{site_identity, KeyHasher, Md5};
use crate::policy::Policy;
use crate::stats::{Counters, Event};

/// One cached function's state. Built by `#[cache_result]`; not a stable API.
#[doc(hidden)]
pub struct Site {
    pub(crate) policy: Policy,
    identity: OnceLock<Box<str>>,
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
            run_nanos: AtomicU64::new(0),
            counters: Counters::new(),
            key_start: OnceLock::new(),
        }
    }

    /// The function's identity, from the `type_name` of its marker function
    /// (see [`site_identity`]); registers the site on first use.
    pub fn identity(&'static self, marker: &'static str) -> &'static str {
        if let Some(identity) = self.identity.get() {
            return identity;
        }
        let mut registered = false;
        let identity = self.identity.get_or_init(|| {
            registered = true;
            site_identity(marker).into()
        });
        if registered {
            lock_sites().push(self);
        }
        identity
    }

    /// A key hasher that has taken the function's identity and stored type:
    /// the same state as `KeyHasher::new(identity).arg(stored_type)`,
    /// computed on the first call and copied on the others.
    pub fn key_hasher<'a>(&'static self, identity: &'a str, stored_type: &str) -> KeyHasher<'a> {
        KeyHasher::resume(identity, stored_type, &self.key_start)
    }

    /// The identity, once the function has been called.
    pub(crate) fn name(&self) -> Option<&str> {
        self.identity.get().map(|identity| &**identity)
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

/// Every site that has been called, in order of first call.
pub(crate) fn registered() -> Vec<&'static Site> {
    lock_sites().clone()
}

fn lock_sites() -> std::sync::MutexGuard<'static, Vec<&'static Site>> {
    SITES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        let marker = "app::f::{{closure}}::__cache_site";
        assert_eq!(SITE.identity(marker), "app::f");
        assert_eq!(SITE.identity(marker), "app::f");
        let count = registered()
            .iter()
            .filter(|site| std::ptr::eq(**site, &SITE))
            .count();
        assert_eq!(count, 1);
    }
}
