//! Warnings that must reach someone: a cache that cannot be built from the
//! environment, or a Redis that stopped answering, makes every call run
//! uncached, which nothing else shows. They go to `tracing`; when no
//! subscriber is set to hear them (the application never set one up), they
//! go to standard error instead, once per process each, so that a wrong
//! password or a URL without a scheme is seen the first time it matters.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// One warning, said at most once per process on standard error.
pub(crate) struct Once(AtomicBool);

impl Once {
    pub(crate) const fn new() -> Self {
        Once(AtomicBool::new(false))
    }

    /// Writes `message` to standard error unless a tracing subscriber is set
    /// (it has the warning) or this one was said already.
    pub(crate) fn unheard(&self, message: fmt::Arguments<'_>) {
        if tracing::dispatcher::has_been_set() || self.0.swap(true, Ordering::Relaxed) {
            return;
        }
        eprintln!(
            "cache-runtime: {message} (set up a `tracing` subscriber to see the cache's logs)"
        );
    }
}

/// The global cache could not be built from the environment.
pub(crate) static GLOBAL_FROM_ENV: Once = Once::new();

/// A Redis store stopped answering (the circuit breaker opened).
pub(crate) static REDIS_UNAVAILABLE: Once = Once::new();
